// ImportWorker: imports files into the library on its own thread and connection, one
// document per transaction, reporting progress as queued signals. cancel() (any thread)
// stops the batch once the file being extracted returns, and that file is not stored: a
// document is stored whole or not at all.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>
#include <atomic>
#include <memory>

namespace folio::docstore {
class Library;
}

namespace folio::ui {

class ImportWorker : public QObject {
  Q_OBJECT
 public:
  explicit ImportWorker(QString libraryPath);
  ~ImportWorker() override;

  // Thread-safe: the running import stops after the current extraction.
  void cancel() { cancel_.store(true); }
  bool cancelled() const { return cancel_.load(); }

 public slots:
  // Files and folders (folders are searched for .pdf, .txt, .md).
  void importPaths(const QStringList& paths);

 signals:
  // The files the batch will import, in order (folders expanded).
  void queued(const QStringList& files);
  // A file started: index of count. pagesTotal is -1 while unknown.
  void fileStarted(const QString& path, int index, int count);
  void pageProgress(const QString& path, int pagesDone, int pagesTotal);
  // One file finished: outcome "added", "duplicate", "replaced", "failed", "cancelled".
  void fileFinished(const QString& path, const QString& outcome, qint64 docId,
                    const QString& error);
  void batchFinished(int added, int failed, bool cancelled);

 private:
  docstore::Library* library(QString* error);
  QString importOne(const QString& path, qint64* docId, QString* error);

  QString path_;
  std::unique_ptr<docstore::Library> library_;
  std::atomic<bool> cancel_{false};
};

}  // namespace folio::ui
