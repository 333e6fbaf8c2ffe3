// Plain text and Markdown import: bytes -> UTF-8 -> pseudo-pages. Memory stays bounded: the
// file size is checked against a cap before anything is read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "docstore/document.h"
#include "engine/status.h"

namespace folio::docstore {

struct TextImportOptions {
  int64_t max_file_bytes = int64_t{64} << 20;  // larger files are refused ("too large") unread
  size_t page_bytes = 3000;                    // target size of a pseudo-page
};

struct DecodedText {
  std::string utf8;      // valid UTF-8, line ends normalised to "\n"
  std::string encoding;  // "UTF-8", "UTF-8 with BOM", "UTF-16LE", "UTF-16BE", "Latin-1"
  std::vector<std::string> warnings;  // e.g. "not valid UTF-8; decoded as Latin-1"
};

// Detects the encoding (BOM, then UTF-8 validity, else Latin-1) and decodes to UTF-8.
// NUL bytes outside UTF-16 (or a U+0000 inside it) mean binary: an kUnsupported error.
Result<DecodedText> DecodeText(std::string_view bytes);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Splits text into pages of about `target_bytes`, preferring paragraph breaks, then line
// breaks, then spaces; never inside a UTF-8 character. Whitespace-only input gives no pages.
std::vector<Page> SplitIntoPages(std::string_view text, size_t target_bytes);

// The first Markdown heading ("# Title" or a "Title\n===" underline), "" when none.
std::string MarkdownTitle(std::string_view text);

// Reads and decodes a .txt/.md file. Fills title, kind, pages, warnings, bytes and
// content_hash (of the bytes read); the caller fills path, mtime and chunks.
Result<ImportedDocument> ImportTextFile(const std::string& path, DocumentKind kind,
                                        const TextImportOptions& options);

}  // namespace folio::docstore
