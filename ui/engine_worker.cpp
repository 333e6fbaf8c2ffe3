#include "ui/engine_worker.h"

#include <QElapsedTimer>

#include "docstore/store.h"
#include "ui/answerer.h"
#include "ui/text_util.h"

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

void EngineWorker::ask(const QString& question, const QList<qint64>& docIds, qint64 conversationId,
                       const QList<ChatTurn>& history) {
  stopAnswer_.store(false);
  emit answerStarted(conversationId);
  QString error;
  auto* lib = library(&error);
  AnswerInfo info;
  QString answer;
  if (!lib) {
    info.error = error;
  } else {
    auto piece = [&](const QString& p) {
      answer += p;
      emit pieceReceived(p);
    };
    auto context = [&](qint64 used, qint64 max, const QString& mode) {
      emit contextUsed(used, max, mode);
    };
    info = answerer_->Answer(*lib, AnswerRequest{question, docIds, history}, piece, context,
                             stopAnswer_);
    conversationId = StoreTurn(conversationId, question, docIds, answer, info);
  }
  emit answerFinished(conversationId, info);
}

// Keeps the turn in the library; a conversation is created on its first question.
qint64 EngineWorker::StoreTurn(qint64 conversationId, const QString& question,
                               const QList<qint64>& docIds, const QString& answer,
                               const AnswerInfo& info) {
  if (!library_) return conversationId;
  if (conversationId == 0) {
    std::vector<int64_t> ids(docIds.begin(), docIds.end());
    auto created = library_->CreateConversation(question.left(80).toStdString(), ids);
    if (!created.ok()) return 0;
    conversationId = *created;
  }
  (void)library_->AppendMessage(conversationId, "user", question.toStdString());
  (void)library_->AppendMessage(conversationId, "assistant", answer.toStdString(),
                                AnswerInfoToJson(info).toStdString());
  return conversationId;
}

}  // namespace folio::ui
