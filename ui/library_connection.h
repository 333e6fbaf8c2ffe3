// Each worker thread keeps its own library connection, opened on first use on that thread.
#pragma once

#include <QString>
#include <memory>

#include "docstore/store.h"

namespace folio::ui {

// Opens the library at `path` into `slot` unless it is already open there; nullptr with
// `*error` set when it cannot be opened (a later call tries again).
inline docstore::Library* OpenLibraryOnce(const QString& path,
                                          std::unique_ptr<docstore::Library>& slot,
                                          QString* error) {
  if (slot) return slot.get();
  auto lib = docstore::Library::Open(path.toStdString());
  if (!lib.ok()) {
    *error = QString::fromStdString(lib.status().message());
    return nullptr;
  }
  slot = std::move(*lib);
  return slot.get();
}

}  // namespace folio::ui
