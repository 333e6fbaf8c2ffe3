// folio-cli ingest FILE|DIR... [--password PW] [--library PATH]: imports PDFs, .txt and .md
// into the library, one line per file as it finishes and a summary at the end. Exit status
// 1 when any file failed (the others are kept), 2 for bad usage.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/library_cli.h"
#include "docstore/importer.h"
#include "docstore/store.h"

namespace folio::cli {
namespace {

using docstore::FileOutcome;
using docstore::FileResult;

constexpr const char* kUsage =
    "usage: folio-cli ingest FILE|DIR... [--password PW] [--library PATH]";

// The error, with a hint where the command line can fix it.
std::string ErrorText(const FileResult& r, bool have_password) {
  if (r.error == "needs a password" && !have_password)
    return r.error + " (give it with --password)";
  return r.error;
}

void PrintFileLine(size_t index, size_t count, const FileResult& r, bool have_password) {
  std::printf("[%zu/%zu] %s: ", index + 1, count, r.path.c_str());
  if (r.outcome == FileOutcome::kFailed) {
    std::printf("failed: %s\n", ErrorText(r, have_password).c_str());
  } else if (r.outcome == FileOutcome::kDuplicate) {
    std::printf("%d pages, already in the library (doc %lld)\n", r.pages,
                static_cast<long long>(r.doc_id));
  } else {
    std::printf("%d pages, %.0f pages/s, %s (doc %lld)\n", r.pages,
                r.seconds > 0 ? r.pages / r.seconds : 0.0, docstore::FileOutcomeName(r.outcome),
                static_cast<long long>(r.doc_id));
  }
  for (const auto& w : r.warnings) std::printf("    warning: %s\n", w.c_str());
  std::fflush(stdout);
}

// On a terminal, a long file shows its pages as they come (on stderr, overwritten in place,
// at most five times a second); the permanent line per file is printed when it is done.
class LiveProgress {
 public:
  LiveProgress() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  void Update(const docstore::BatchProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (!enabled_ || now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    std::fprintf(stderr, "\r[%zu/%zu] %d/%d pages, %.0f pages/s\x1b[K", p.file_index + 1,
                 p.file_count, p.pages_done, p.pages_total, p.pages_per_second);
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::fprintf(stderr, "\r\x1b[K");
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

void PrintSummary(const std::vector<FileResult>& results, double seconds, bool have_password) {
  int counts[4] = {0, 0, 0, 0};
  long long pages = 0;
  for (const auto& r : results) {
    ++counts[static_cast<int>(r.outcome)];
    if (r.outcome != FileOutcome::kFailed && r.outcome != FileOutcome::kDuplicate) pages += r.pages;
  }
  std::printf(
      "ingested %zu files: %d added, %d replaced, %d already there, %d failed; %lld pages in "
      "%.1f s (%.0f pages/s)\n",
      results.size(), counts[static_cast<int>(FileOutcome::kAdded)],
      counts[static_cast<int>(FileOutcome::kReplaced)],
      counts[static_cast<int>(FileOutcome::kDuplicate)],
      counts[static_cast<int>(FileOutcome::kFailed)], pages, seconds,
      seconds > 0 ? static_cast<double>(pages) / seconds : 0.0);
  for (const auto& r : results) {
    if (r.outcome == FileOutcome::kFailed) {
      std::fprintf(stderr, "folio-cli: failed: %s: %s\n", r.path.c_str(),
                   ErrorText(r, have_password).c_str());
    }
  }
}

}  // namespace

int RunIngest(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  const std::optional<std::string> password = args.Get("password");
  (void)args.Get("library");  // read by OpenLibraryOrReport below; marked as known here
  if (!args.error().empty() || !args.UnusedOptions().empty() || args.positionals().empty()) {
    const std::string why = !args.error().empty() ? args.error() : args.UnusedOptions();
    std::fprintf(stderr, "folio-cli: %s\n", why.empty() ? kUsage : (why + "\n" + kUsage).c_str());
    return kExitBadInput;
  }
  const std::vector<std::string> paths = docstore::CollectImportPaths(args.positionals());
  if (paths.empty()) {
    std::fprintf(stderr, "folio-cli: no .pdf, .txt or .md files found in the folders given\n");
    return kExitBadInput;
  }
  int exit_code = kExitOk;
  std::unique_ptr<docstore::Library> library = OpenLibraryOrReport(args, &exit_code);
  if (!library) return exit_code;

  docstore::ImportOptions options;
  // --password answers the first prompt; a wrong one is not asked again.
  options.password = [&](const std::string&, bool retry) -> std::optional<std::string> {
    if (retry || !password) return std::nullopt;
    return password;
  };
  LiveProgress live;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<FileResult> results =
      docstore::ImportBatch(*library, paths, options, [&](const docstore::BatchProgress& p) {
        if (p.finished) {
          live.Clear();
          PrintFileLine(p.file_index, p.file_count, *p.finished, password.has_value());
        } else {
          live.Update(p);
        }
      });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PrintSummary(results, seconds, password.has_value());
  for (const auto& r : results) {
    if (r.outcome == FileOutcome::kFailed) return kExitPartial;
  }
  return kExitOk;
}

}  // namespace folio::cli
