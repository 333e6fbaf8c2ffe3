#include "ui/engine_worker.h"

#include <QElapsedTimer>

#include "docstore/store.h"
#include "ui/answerer.h"
#include "ui/library_connection.h"

namespace folio::ui {

EngineWorker::EngineWorker(QString libraryPath)
    : path_(std::move(libraryPath)), answerer_(MakeExtractiveAnswerer()) {}
EngineWorker::~EngineWorker() = default;

docstore::Library* EngineWorker::library(QString* error) {
  return OpenLibraryOnce(path_, library_, error);
}

void EngineWorker::loadModel(const AppSettings& settings) {
  stopLoad_.store(false);
  ModelStatus status;
  if (settings.modelDir.isEmpty()) {
    answerer_ = MakeExtractiveAnswerer();
    emit modelLoaded(status);
    return interruptionDone();
  }
  answerer_ = MakeExtractiveAnswerer();  // the old model's memory goes before the new loads
  QElapsedTimer since_signal;
  since_signal.start();
  auto progress = [&](const LoadProgress& p) {
    if (p.fraction >= 1.0 || since_signal.elapsed() >= 50) {
      emit modelLoadProgress(p.fraction, p.stage);
      since_signal.restart();
    }
  };
  auto loaded = LoadModelAnswerer(settings, progress, stopLoad_, &status);
  if (!loaded.ok()) {
    status = ModelStatus{};
    status.error = QString::fromStdString(loaded.status().message());
  } else {
    answerer_ = std::move(*loaded);
  }
  emit modelLoaded(status);
  interruptionDone();
}

void EngineWorker::ask(const QString& question, const QList<qint64>& docIds,
                       qint64 conversationId) {
  stopAnswer_.store(false);
  emit answerStarted(conversationId);
  QString error;
  auto* lib = library(&error);
  AnswerInfo info;
  if (!lib) {
    info.error = error;
  } else {
    auto piece = [&](const QString& p) { emit pieceReceived(p); };
    auto context = [&](qint64 used, qint64 max, const QString& mode) {
      emit contextUsed(used, max, mode);
    };
    info = answerer_->Answer(*lib, AnswerRequest{question, docIds, conversationId}, piece, context,
                             stopAnswer_);
  }
  emit answerFinished(info.conversationId ? info.conversationId : conversationId, info);
  interruptionDone();
}

void EngineWorker::interruptionDone() {
  if (waiting_.load() > 0) waiting_.fetch_sub(1);
  if (embedPending_ && waiting_.load() == 0 && !stopping_.load()) {
    QMetaObject::invokeMethod(this, &EngineWorker::embedChunks, Qt::QueuedConnection);
  }
}

void EngineWorker::embedChunks() {
  embedPending_ = true;
  // Clear the flag, then look for waiting work: an interruptEmbedding() that this check
  // misses raises the flag after the clear, so the job below still sees it.
  stopEmbed_.store(false);
  if (waiting_.load() > 0 || stopping_.load()) return;  // resumed by interruptionDone()
  QElapsedTimer since_signal;
  since_signal.start();
  auto progress = [&](qint64 done, qint64 total) {
    if (done == total || since_signal.elapsed() >= 100) {
      emit embeddingProgress(done, total);
      since_signal.restart();
    }
  };
  bool cancelled = false;
  Status st = answerer_->EmbedChunks(path_, stopEmbed_, progress, &cancelled);
  if (cancelled) return;  // kept pending: resumed after the question or load
  embedPending_ = false;
  emit embeddingFinished(st.ok() ? QString() : QString::fromStdString(st.message()));
}

}  // namespace folio::ui
