// DocumentImporter: a file on disk -> an ImportedDocument (pages, chunks, hash), and a batch
// import into the library that goes on past bad files and reports each one at the end.
//
//   DocumentImporter importer(options);
//   auto doc = importer.Import("/papers/mamba.pdf");           // extraction only
//   auto results = ImportBatch(library, paths, options, progress);  // extract + store
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "docstore/chunker.h"
#include "docstore/document.h"
#include "docstore/pdf_import.h"
#include "docstore/text_import.h"
#include "engine/status.h"

namespace folio::docstore {

class Library;

struct ImportOptions {
  TextImportOptions text;
  PdfLimits pdf;
  ChunkerOptions chunker;
  PasswordCallback password;    // asked for encrypted PDFs; empty -> "needs a password"
  std::string pdf_helper;       // "" -> FindPdfHelper()
  bool record_failures = true;  // batch: keep a "failed" row (with the reason) per bad file
};

// What kind of file this is, by magic bytes first ("%PDF-" in the first KB), then by
// extension (.pdf, .txt, .md, .markdown). A .pdf without the magic is "damaged or not a
// PDF"; any other file is kUnsupported.
Result<DocumentKind> DetectKind(const std::string& path);

class DocumentImporter {
 public:
  explicit DocumentImporter(ImportOptions options = {});

  // Extracts, hashes and chunks one file. The file is re-hashed after extraction: if it
  // was changed or deleted meanwhile, the result is an error, never a mixed document.
  // `known_hash`: the file's hash if the caller has just computed it (saves a read).
  Result<ImportedDocument> Import(const std::string& path,
                                  const PageProgressCallback& progress = {},
                                  const std::optional<std::string>& known_hash = {}) const;

  const ImportOptions& options() const { return options_; }

 private:
  Result<ImportedDocument> Extract(const std::string& path, DocumentKind kind,
                                   const PageProgressCallback& progress) const;
  ImportOptions options_;
};

enum class FileOutcome { kAdded, kDuplicate, kReplaced, kFailed };
const char* FileOutcomeName(FileOutcome o);  // "added", "duplicate", "replaced", "failed"

struct FileResult {
  std::string path;
  FileOutcome outcome = FileOutcome::kFailed;
  int64_t doc_id = 0;  // 0 when failed
  int pages = 0;
  int chunks = 0;
  double seconds = 0;  // extraction + storing
  std::string error;   // why it failed; "" otherwise
  std::vector<std::string> warnings;
};

struct BatchProgress {
  size_t file_index = 0;  // 0-based
  size_t file_count = 0;
  std::string path;
  int pages_done = 0;
  int pages_total = -1;  // -1 while unknown
  double pages_per_second = 0;
  const FileResult* finished = nullptr;  // set once, when this file is done
};
using BatchProgressCallback = std::function<void(const BatchProgress&)>;

// Imports and stores each file in turn, one transaction per document. A file that fails is
// reported (and, with record_failures, recorded as "failed" unless the user cancelled) and
// the batch goes on.
std::vector<FileResult> ImportBatch(Library& library, const std::vector<std::string>& paths,
                                    const ImportOptions& options,
                                    const BatchProgressCallback& progress = {});

// Expands the command line's files and folders: a folder contributes its .pdf, .txt, .md
// and .markdown files (recursively, sorted); a file is taken as given. Absolute paths.
std::vector<std::string> CollectImportPaths(const std::vector<std::string>& args);

}  // namespace folio::docstore
