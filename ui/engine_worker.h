// EngineWorker: loads the model and writes answers on its own thread (the "engine"
// thread), with its own Library connection, where the assistant keeps the conversations. Answers
// stream out as pieceReceived signals; stopAnswer()/shutdown() are thread-safe flags the
// running answer polls between tokens. Between answers it embeds the library's passages
// with the loaded model (embedChunks); questions come first: the UI calls
// interruptEmbedding() before queueing one, the job stops at its next chunk, and resumes
// (it is resumable) once no question is waiting.
#pragma once

#include <QList>
#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "ui/app_settings.h"
#include "ui/ui_types.h"

Q_DECLARE_METATYPE(folio::ui::AppSettings)

namespace folio::docstore {
class Library;
}

namespace folio::ui {

class Answerer;

class EngineWorker : public QObject {
  Q_OBJECT
 public:
  explicit EngineWorker(QString libraryPath);
  ~EngineWorker() override;

  // Thread-safe. stopAnswer ends the answer being written (what was written is kept);
  // shutdown also abandons a model load.
  void stopAnswer() { stopAnswer_.store(true); }
  void shutdown() {
    stopAnswer_.store(true);
    stopLoad_.store(true);
    stopping_.store(true);
    stopEmbed_.store(true);
  }
  // Thread-safe: call before queueing ask() or loadModel(); that call ends the interruption.
  void interruptEmbedding() {
    waiting_.fetch_add(1);  // before the flag: see embedChunks
    stopEmbed_.store(true);
  }

 public slots:
  // Loads settings.modelDir (an empty folder = no model: extractive answers).
  void loadModel(const folio::ui::AppSettings& settings);
  // Answers `question` about `docIds` (empty = all). conversationId 0 starts a new one.
  void ask(const QString& question, const QList<qint64>& docIds, qint64 conversationId);
  // Embeds the chunks that lack a vector for the loaded model (nothing without a model).
  void embedChunks();

 signals:
  void modelLoadProgress(double fraction, const QString& stage);
  void modelLoaded(const folio::ui::ModelStatus& status);
  void answerStarted(qint64 conversationId);
  void contextUsed(qint64 used, qint64 max, const QString& mode);
  void pieceReceived(const QString& piece);
  void answerFinished(qint64 conversationId, const folio::ui::AnswerInfo& info);
  // done == total (or an error) when the job ends; it may start again later.
  void embeddingProgress(qint64 done, qint64 total);
  void embeddingFinished(const QString& error);

 private:
  docstore::Library* library(QString* error);
  void interruptionDone();  // after a queued ask/load: resumes an interrupted job

  QString path_;
  std::unique_ptr<docstore::Library> library_;
  std::unique_ptr<Answerer> answerer_;
  std::atomic<bool> stopAnswer_{false};
  std::atomic<bool> stopLoad_{false};
  std::atomic<bool> stopEmbed_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> waiting_{0};  // questions/loads queued behind interruptEmbedding()
  bool embedPending_ = false;    // engine thread only: a job was asked for and not finished
};

}  // namespace folio::ui
