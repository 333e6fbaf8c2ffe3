// StoreWorker: the UI's reader of the library, on its own thread with its own connection.
// Lists documents, searches, loads a document for the reader, removes documents and
// reads conversations; every answer comes back as a queued signal, so the UI thread never
// waits on SQLite (an import holding the write lock only ever delays this thread).
#pragma once

#include <QList>
#include <QObject>
#include <QString>
#include <memory>

#include "ui/ui_types.h"

namespace folio::docstore {
class Library;
}

namespace folio::ui {

class StoreWorker : public QObject {
  Q_OBJECT
 public:
  explicit StoreWorker(QString libraryPath);
  ~StoreWorker() override;

 public slots:
  void listDocuments();
  // `generation` identifies the request: the panel drops answers to older ones.
  void search(const QString& text, const QList<qint64>& docIds, int generation);
  void loadForReader(qint64 docId, int page, const QStringList& highlights);
  void removeDocument(qint64 docId);
  void listConversations();
  void loadConversation(qint64 conversationId);

 signals:
  void documentsListed(const QList<folio::ui::DocRow>& rows);
  void searchFinished(int generation, const QList<folio::ui::SearchResult>& results,
                      const QString& error);
  void readerDocumentLoaded(const folio::ui::ReaderDocument& doc, int page,
                            const QStringList& highlights);
  void documentRemoved(qint64 docId, const QString& error);
  void conversationsListed(const QList<folio::ui::ConversationRow>& rows);
  void conversationLoaded(qint64 conversationId, const QList<qint64>& docIds,
                          const QList<folio::ui::ChatTurn>& turns);
  void failed(const QString& message);  // the library could not be opened or read

 private:
  docstore::Library* library();  // opened on first use, on this thread

  QString path_;
  std::unique_ptr<docstore::Library> library_;
  QString openError_;
};

}  // namespace folio::ui
