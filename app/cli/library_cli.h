// Opening the library for a folio-cli command: --library PATH (anywhere on the line), else
// $FOLIO_LIBRARY, else the XDG default. Shared by every command that touches the store.
#pragma once

#include <memory>

#include "app/cli/args.h"
#include "docstore/store.h"

namespace folio::cli {

// Opens the library named by `args` (reads --library). On failure prints one line to
// stderr that says what to do (a damaged store: `folio-cli library-reset`; a newer schema:
// update Folio), sets *exit_code to kExitBadInput and returns nullptr.
std::unique_ptr<docstore::Library> OpenLibraryOrReport(Args& args, int* exit_code);

// Prints "folio-cli: <message>" on stderr for a failed store operation.
void ReportError(const Status& status);

}  // namespace folio::cli
