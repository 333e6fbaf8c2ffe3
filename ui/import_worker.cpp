#include "ui/import_worker.h"

#include <QElapsedTimer>
#include <QFileInfo>

#include "docstore/importer.h"
#include "docstore/store.h"
#include "ui/library_connection.h"

namespace folio::ui {

ImportWorker::ImportWorker(QString libraryPath) : path_(std::move(libraryPath)) {}
ImportWorker::~ImportWorker() = default;

docstore::Library* ImportWorker::library(QString* error) {
  return OpenLibraryOnce(path_, library_, error);
}

void ImportWorker::importPaths(const QStringList& paths) {
  cancel_.store(false);
  std::vector<std::string> args;
  for (const auto& p : paths) args.push_back(QFileInfo(p).absoluteFilePath().toStdString());
  const std::vector<std::string> files = docstore::CollectImportPaths(args);
  QStringList queued_files;
  for (const auto& f : files) queued_files.push_back(QString::fromStdString(f));
  emit queued(queued_files);
  int added = 0, failed = 0;
  for (size_t i = 0; i < files.size() && !cancelled(); ++i) {
    const QString file = QString::fromStdString(files[i]);
    emit fileStarted(file, static_cast<int>(i), static_cast<int>(files.size()));
    qint64 docId = 0;
    QString error;
    const QString outcome = importOne(file, &docId, &error);
    if (outcome == "added" || outcome == "replaced") ++added;
    if (outcome == "failed") ++failed;
    emit fileFinished(file, outcome, docId, error);
  }
  emit batchFinished(added, failed, cancelled());
}

// Extracts one file, then stores it in one transaction unless cancelled meanwhile.
QString ImportWorker::importOne(const QString& path, qint64* docId, QString* error) {
  auto* lib = library(error);
  if (!lib) return "failed";
  docstore::ImportOptions options;
  docstore::DocumentImporter importer(options);
  QElapsedTimer since_signal;
  since_signal.start();
  // Page progress at most every 50 ms: the UI repaints a bar, not one event per page.
  auto progress = [&](int done, int total) {
    if (done == total || since_signal.elapsed() >= 50) {
      emit pageProgress(path, done, total);
      since_signal.restart();
    }
  };
  auto doc = importer.Import(path.toStdString(), progress);
  if (cancelled()) return "cancelled";
  if (!doc.ok()) {
    *error = QString::fromStdString(doc.status().message());
    if (doc.status().code() != ErrorCode::kCancelled) {
      auto kind = docstore::DetectKind(path.toStdString());
      (void)lib->RecordFailedImport(path.toStdString(),
                                    kind.ok() ? *kind : docstore::DocumentKind::kText,
                                    error->toStdString());
    }
    return "failed";
  }
  auto stored = lib->StoreDocument(*doc);
  if (!stored.ok()) {
    *error = QString::fromStdString(stored.status().message());
    return "failed";
  }
  *docId = stored->doc_id;
  switch (stored->action) {
    case docstore::StoreAction::kAdded:
      return "added";
    case docstore::StoreAction::kReplaced:
      return "replaced";
    case docstore::StoreAction::kUnchanged:
      return "duplicate";
  }
  return "added";
}

}  // namespace folio::ui
