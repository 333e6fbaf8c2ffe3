#include "app/cli/library_cli.h"

#include <cstdio>

namespace folio::cli {

void ReportError(const Status& status) {
  std::fprintf(stderr, "folio-cli: %s\n", status.message().c_str());
}

std::unique_ptr<docstore::Library> OpenLibraryOrReport(Args& args, int* exit_code) {
  *exit_code = kExitBadInput;
  auto path = docstore::ResolveLibraryPath(args.Get("library"));
  if (!path.ok()) {
    ReportError(path.status());
    return nullptr;
  }
  auto lib = docstore::Library::Open(*path);
  if (!lib.ok()) {
    ReportError(lib.status());
    if (lib.status().code() == ErrorCode::kCorrupt) {
      std::fprintf(stderr,
                   "folio-cli: the file was left as it is; to keep it aside and start a new "
                   "library: folio-cli library-reset --library %s\n",
                   path->c_str());
    }
    return nullptr;
  }
  *exit_code = kExitOk;
  return std::move(lib).value();
}

}  // namespace folio::cli
