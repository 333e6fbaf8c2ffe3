#include "docstore/importer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "docstore/sha256.h"
#include "docstore/store.h"

namespace folio::docstore {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string LowerExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string FileName(const std::string& path) {
  return fs::path(path).filename().string();
}

bool IsBlank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

// Size and modification time, to notice a file replaced under us.
struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

Result<FileStamp> StampOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound("not found");
    return IoError(std::string("cannot read: ") + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return InvalidArgument("is a folder, not a file");
  if (!S_ISREG(st.st_mode)) return InvalidArgument("not a regular file");
  return FileStamp{st.st_size, int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                   static_cast<int64_t>(st.st_ino)};
}

// After extraction: the file must still be there with the same bytes.
Status CheckUnchanged(const std::string& path, const FileStamp& before,
                      const std::string& hash_before) {
  Result<FileStamp> after = StampOf(path);
  if (!after.ok()) {
    if (after.status().code() == ErrorCode::kNotFound) {
      return NotFound("the file was deleted while it was being imported");
    }
    return after.status();
  }
  Result<std::string> hash_after = Sha256FileHex(path);
  if (!hash_after.ok()) return NotFound("the file was deleted while it was being imported");
  if (!(*after == before) || *hash_after != hash_before) {
    return IoError("the file changed while it was being imported; import it again");
  }
  return Status::Ok();
}

}  // namespace

const char* FileOutcomeName(FileOutcome o) {
  switch (o) {
    case FileOutcome::kAdded:
      return "added";
    case FileOutcome::kDuplicate:
      return "duplicate";
    case FileOutcome::kReplaced:
      return "replaced";
    case FileOutcome::kFailed:
      return "failed";
  }
  return "failed";
}

Result<DocumentKind> DetectKind(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return IoError(std::string("cannot open: ") + std::strerror(errno));
  char head[1024];
  ssize_t n = ::read(fd, head, sizeof head);
  ::close(fd);
  if (n < 0) n = 0;
  const std::string_view h(head, static_cast<size_t>(n));
  const std::string ext = LowerExtension(path);
  const bool text_ext = ext == ".txt" || ext == ".text" || ext == ".md" || ext == ".markdown";
  // Readers accept the header anywhere in the first KB; but a note that merely mentions
  // "%PDF-1.4" stays a note, so text files must start with it to count as a PDF.
  const size_t magic = h.find("%PDF-");
  if (magic == 0 || (magic != std::string_view::npos && !text_ext)) return DocumentKind::kPdf;
  if (ext == ".pdf") {
    return Corrupt(n == 0 ? "damaged or not a PDF (the file is empty)"
                          : "damaged or not a PDF (no %PDF- header)");
  }
  if (ext == ".txt" || ext == ".text") return DocumentKind::kText;
  if (ext == ".md" || ext == ".markdown") return DocumentKind::kMarkdown;
  return Unsupported("not a file Folio can import (PDF, .txt or .md)");
}

DocumentImporter::DocumentImporter(ImportOptions options) : options_(std::move(options)) {}

Result<ImportedDocument> DocumentImporter::Extract(const std::string& path, DocumentKind kind,
                                                   const PageProgressCallback& progress) const {
  if (kind != DocumentKind::kPdf) {
    FOLIO_ASSIGN_OR_RETURN(ImportedDocument doc, ImportTextFile(path, kind, options_.text));
    if (progress) progress(static_cast<int>(doc.pages.size()), static_cast<int>(doc.pages.size()));
    return doc;
  }
  PdfImportOptions pdf;
  pdf.limits = options_.pdf;
  pdf.password = options_.password;
  pdf.progress = progress;
  pdf.helper_path = options_.pdf_helper;
  FOLIO_ASSIGN_OR_RETURN(PdfContent content, ExtractPdf(path, pdf));
  ImportedDocument doc;
  doc.kind = DocumentKind::kPdf;
  doc.title = IsBlank(content.title) ? FileName(path) : content.title;
  doc.author = content.author;
  doc.pages = std::move(content.pages);
  const bool no_text = std::all_of(doc.pages.begin(), doc.pages.end(),
                                   [](const Page& p) { return IsBlank(p.text); });
  if (doc.pages.empty()) return Corrupt("damaged or not a PDF (it has no pages)");
  if (no_text)
    doc.warnings.push_back("no text found (a scanned PDF needs OCR, which Folio does not do)");
  return doc;
}

Result<ImportedDocument> DocumentImporter::Import(
    const std::string& path, const PageProgressCallback& progress,
    const std::optional<std::string>& known_hash) const {
  const std::string abs = fs::absolute(fs::path(path)).lexically_normal().string();
  FOLIO_ASSIGN_OR_RETURN(const FileStamp before, StampOf(abs));
  FOLIO_ASSIGN_OR_RETURN(const DocumentKind kind, DetectKind(abs));
  std::string hash_before;
  if (known_hash) {
    hash_before = *known_hash;
  } else {
    FOLIO_ASSIGN_OR_RETURN(hash_before, Sha256FileHex(abs));
  }
  FOLIO_ASSIGN_OR_RETURN(ImportedDocument doc, Extract(abs, kind, progress));
  if (!doc.content_hash.empty() && doc.content_hash != hash_before) {
    return IoError("the file changed while it was being imported; import it again");
  }
  FOLIO_RETURN_IF_ERROR(CheckUnchanged(abs, before, hash_before));
  doc.path = abs;
  doc.content_hash = hash_before;
  doc.bytes = before.size;
  doc.mtime = before.mtime_ns / 1000000000;
  doc.chunks = ChunkPages(doc.pages, options_.chunker);
  return doc;
}

std::vector<FileResult> ImportBatch(Library& library, const std::vector<std::string>& paths,
                                    const ImportOptions& options,
                                    const BatchProgressCallback& progress) {
  const DocumentImporter importer(options);
  std::vector<FileResult> results;
  for (size_t i = 0; i < paths.size(); ++i) {
    FileResult r;
    r.path = fs::absolute(fs::path(paths[i])).lexically_normal().string();
    const auto start = Clock::now();
    BatchProgress p{i, paths.size(), r.path, 0, -1, 0, nullptr};
    const auto on_page = [&](int done, int total) {
      p.pages_done = done;
      p.pages_total = total;
      const double s = std::chrono::duration<double>(Clock::now() - start).count();
      p.pages_per_second = s > 0 ? done / s : 0;
      if (progress) progress(p);
    };
    // Known content is recognised by its hash before any extraction.
    Result<std::string> hash = Sha256FileHex(r.path);
    std::optional<int64_t> known;
    if (hash.ok()) {
      Result<std::optional<int64_t>> found = library.FindByHash(*hash);
      if (found.ok()) known = *found;
    }
    if (known) {
      r.outcome = FileOutcome::kDuplicate;
      r.doc_id = *known;
      if (auto info = library.GetDocument(*known); info.ok()) r.pages = info->pages;
    } else {
      Result<ImportedDocument> doc = importer.Import(
          r.path, on_page, hash.ok() ? std::optional<std::string>(*hash) : std::nullopt);
      Result<StoreResult> stored =
          doc.ok() ? library.StoreDocument(*doc) : Result<StoreResult>(doc.status());
      if (stored.ok()) {
        r.doc_id = stored->doc_id;
        r.outcome = stored->action == StoreAction::kAdded      ? FileOutcome::kAdded
                    : stored->action == StoreAction::kReplaced ? FileOutcome::kReplaced
                                                               : FileOutcome::kDuplicate;
        r.pages = static_cast<int>(doc->pages.size());
        r.chunks = static_cast<int>(doc->chunks.size());
        r.warnings = doc->warnings;
      } else {
        r.outcome = FileOutcome::kFailed;
        r.error = stored.status().message();
        // A cancelled password prompt stores nothing, not even a failure row.
        if (options.record_failures && stored.status().code() != ErrorCode::kCancelled) {
          const DocumentKind kind =
              DetectKind(r.path).ok() ? *DetectKind(r.path) : DocumentKind::kText;
          (void)library.RecordFailedImport(r.path, kind, r.error);
        }
      }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    p.pages_done = r.pages;
    p.pages_per_second = r.seconds > 0 ? r.pages / r.seconds : 0;
    p.finished = &r;
    if (progress) progress(p);
    results.push_back(std::move(r));
  }
  return results;
}

std::vector<std::string> CollectImportPaths(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    const fs::path root = fs::absolute(fs::path(a)).lexically_normal();
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      out.push_back(root.string());
      continue;
    }
    std::vector<std::string> found;
    const auto opts = fs::directory_options::skip_permission_denied;
    for (auto it = fs::recursive_directory_iterator(root, opts, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string ext = LowerExtension(it->path().string());
      if (it->is_regular_file(ec) &&
          (ext == ".pdf" || ext == ".txt" || ext == ".md" || ext == ".markdown")) {
        found.push_back(it->path().string());
      }
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace folio::docstore
