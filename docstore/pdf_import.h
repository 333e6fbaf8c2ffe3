// PDF import through Poppler, out of process: a crash, hang or memory bomb in the parser
// kills only the helper (folio-pdf-extract), never the process that asked.
//
// The parent posix_spawn()s the helper with the file path in argv and the password (if
// any) on stdin, never in argv. The helper caps its own address space and CPU time with
// setrlimit, extracts each page's text in reading order and streams frames back on stdout:
//
//   frame = tag (1 byte) + payload length (uint32 little-endian) + payload
//   'I' info:  uint32 page count, uint32 title length, title, uint32 author length, author
//   'P' page:  the page's text, UTF-8 (pages come in order, 1..count)
//   'E' error: one code byte (see PdfErrorTag) + a message
//   'Z' end:   empty; extraction finished
//
// The parent enforces a wall-clock timeout (whole document and per page) by killing the
// helper, caps pages and text bytes, and maps every outcome to a plain error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "docstore/document.h"
#include "engine/status.h"

namespace folio::docstore {

// Asked for a PDF's password: `retry` is true after a wrong one. nullopt means cancel.
using PasswordCallback =
    std::function<std::optional<std::string>(const std::string& path, bool retry)>;
// Called after each page arrives: (pages done, pages in the document).
using PageProgressCallback = std::function<void(int pages_done, int pages_total)>;

struct PdfLimits {
  int max_pages = 20000;                           // more -> "too large"
  int64_t max_text_bytes = int64_t{256} << 20;     // extracted text, all pages
  int64_t helper_memory_bytes = int64_t{2} << 30;  // RLIMIT_AS of the helper
  double timeout_seconds = 600;                    // whole document, wall clock
  double page_timeout_seconds = 60;                // no page arrived for this long
};

struct PdfImportOptions {
  PdfLimits limits;
  PasswordCallback password;  // empty: an encrypted PDF fails with "needs a password"
  PageProgressCallback progress;
  std::string helper_path;  // empty: FindPdfHelper()
};

struct PdfContent {
  std::string title;  // from the document info; may be empty
  std::string author;
  std::vector<Page> pages;
};

// Errors: kCorrupt "damaged or not a PDF", kResourceExhausted "too large ...",
// kTimeout "timed out ...", kCancelled "needs a password" (none given or cancelled),
// kInvalidArgument "wrong password", kNotFound when the helper is missing.
Result<PdfContent> ExtractPdf(const std::string& path, const PdfImportOptions& options);

// The helper executable: $FOLIO_PDF_EXTRACT, else next to this executable, else in
// ../lib/folio/, ../libexec/folio/ or ../bin/ relative to it. "" when none is found.
std::string FindPdfHelper();

// Codes of an 'E' frame.
enum class PdfErrorTag : char {
  kDamaged = 'D',
  kNeedsPassword = 'N',
  kWrongPassword = 'W',
  kTooLarge = 'L',
  kOutOfMemory = 'M',
};

}  // namespace folio::docstore
