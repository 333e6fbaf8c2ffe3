// What an importer produces and the store keeps: a document's pages and chunks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace folio::docstore {

enum class DocumentKind { kPdf, kText, kMarkdown };
const char* DocumentKindName(DocumentKind k);  // "pdf", "text", "markdown"

// One page of extracted text. Text documents are one "page" per ~3,000 characters split
// at paragraph boundaries, so citations still point somewhere sensible.
struct Page {
  int number = 1;        // 1-based
  std::string text;      // UTF-8, reading order
};

// A passage of about 1,000-1,500 characters, with ~15% overlap with its neighbour.
// Offsets are byte offsets into the document's full text, i.e. the concatenation of
// all page texts joined by "\n\f\n" (kPageSeparator); so a chunk can be mapped back to
// the page(s) and the exact passage.
struct Chunk {
  int ordinal = 0;          // 0-based position in the document
  int first_page = 1;
  int last_page = 1;
  int64_t char_begin = 0;   // byte offset in the joined full text
  int64_t char_end = 0;     // exclusive
  std::string text;
  int token_count = -1;     // -1 when no tokenizer has counted it yet
};

inline constexpr const char* kPageSeparator = "\n\f\n";

// Everything the importer extracted from one file, ready to be stored in one transaction.
struct ImportedDocument {
  std::string path;          // absolute path of the source file
  std::string title;         // PDF Title, first Markdown heading, or the file name
  std::string author;
  std::string content_hash;  // hex SHA-256 of the file's bytes
  DocumentKind kind = DocumentKind::kText;
  int64_t bytes = 0;         // file size
  int64_t mtime = 0;         // file modification time, seconds since epoch
  std::vector<Page> pages;
  std::vector<Chunk> chunks;
  std::vector<std::string> warnings;  // e.g. "decoded as Latin-1"
};

}  // namespace folio::docstore
