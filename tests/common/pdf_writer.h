// Hand-written PDFs for tests: known text on known pages, plus the broken and hostile
// shapes the importer must survive (bad xref, page-tree loops, deep nesting, bombs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace folio::testing {

struct PdfSpec {
  std::vector<std::string> pages;  // each page's text (ASCII); wrapped at ~80 columns
  std::string title;               // /Info /Title when non-empty
  std::string author;              // /Info /Author when non-empty
};

// A valid PDF 1.4 file: Helvetica text, one content stream per page.
std::string MakePdf(const PdfSpec& spec);

// Like MakePdf, but every xref offset is wrong (a reader must rebuild the table).
std::string MakePdfWithBrokenXref(const PdfSpec& spec);
// The page tree's /Kids includes the tree node itself.
std::string MakePdfWithCircularPageTree();
// A page dictionary holding `depth` nested arrays: [[[[...]]]].
std::string MakePdfWithDeepNesting(int depth);
// One page whose content stream inflates (FlateDecode) to `decoded_bytes`: a single text
// string of that many 'A's.
std::string MakePdfFlateBomb(int64_t decoded_bytes);
// One page whose content stream inflates to `repeats` tiny text-showing operations at the
// same spot: slow to extract (a page that "never finishes").
std::string MakePdfSlowPage(int64_t repeats);
// A page tree whose /Count claims `claimed` pages (it has one).
std::string MakePdfClaimingPages(int64_t claimed);

// Writes bytes to a file; false on failure.
bool WriteBytes(const std::string& path, const std::string& bytes);

// Encrypts with `qpdf --encrypt` (AES-256); false when qpdf is not installed or fails.
bool EncryptWithQpdf(const std::string& in, const std::string& out, const std::string& user_pw,
                     const std::string& owner_pw);

}  // namespace folio::testing
