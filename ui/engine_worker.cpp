#include "ui/engine_worker.h"

#include <QElapsedTimer>

#include "docstore/store.h"
#include "ui/answerer.h"

namespace folio::ui {

EngineWorker::EngineWorker(QString libraryPath)
    : path_(std::move(libraryPath)), answerer_(MakeExtractiveAnswerer()) {}
EngineWorker::~EngineWorker() = default;

docstore::Library* EngineWorker::library(QString* error) {
  if (!library_) {
    auto lib = docstore::Library::Open(path_.toStdString());
    if (!lib.ok()) {
      *error = QString::fromStdString(lib.status().message());
      return nullptr;
    }
    library_ = std::move(*lib);
  }
  return library_.get();
}

void EngineWorker::loadModel(const AppSettings& settings) {
  stopLoad_.store(false);
  ModelStatus status;
  if (settings.modelDir.isEmpty()) {
    answerer_ = MakeExtractiveAnswerer();
    return emit modelLoaded(status);
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
}

}  // namespace folio::ui
