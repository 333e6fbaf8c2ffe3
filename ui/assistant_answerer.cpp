// The chat's answers through the assistant (app/assistant): whole-document or retrieval
// prompts, citations, the "not in the documents" verdict, the document-state cache and
// stored conversations; extractive quotes when no model is loaded. This file only adapts
// it to the UI (loading with progress on the chosen device, AnswerInfo, streaming).
#include <QFileInfo>

#include "app/assistant/assistant.h"
#include "app/assistant/embeddings.h"
#include "app/assistant/state_cache.h"
#include "docstore/store.h"
#include "engine/chat_template.h"
#include "engine/checkpoint.h"
#include "engine/cpu_backend.h"
#include "engine/cuda_loader.h"
#include "engine/tokenizer.h"
#include "ui/answerer.h"
#include "ui/text_util.h"

namespace folio::ui {
namespace {

SamplingParams Sampling(const AppSettings& s) {
  SamplingParams p;
  p.greedy = s.greedy || s.temperature <= 0;
  p.temperature = static_cast<float>(std::max(s.temperature, 1e-3));
  p.top_p = static_cast<float>(std::clamp(s.topP, 1e-3, 1.0));
  p.top_k = s.topK;
  p.repetition_penalty = static_cast<float>(std::max(s.repetitionPenalty, 1e-3));
  p.seed = static_cast<uint64_t>(s.seed);
  return p;
}

AnswerInfo ToAnswerInfo(const assistant::Answer& a, int64_t context_max) {
  AnswerInfo info;
  info.mode = assistant::AnswerModeName(a.mode);
  info.inContext = a.in_context;
  for (const auto& c : a.citations) {
    info.citations.push_back(Citation{c.doc_id, QString::fromStdString(c.title), c.page,
                                      QString::fromStdString(c.quote)});
  }
  info.contextTokens = a.stats.prefix_tokens + a.stats.question_tokens;
  info.contextMax = a.mode == assistant::AnswerMode::kExtractive ? 0 : context_max;
  info.generatedTokens = static_cast<int>(a.stats.answer_tokens);
  info.tokensPerSecond = a.stats.decode_tokens_per_s;
  info.stopped = a.stopped;
  info.conversationId = a.conversation_id;
  return info;
}

class AssistantAnswerer : public Answerer {
 public:
  AssistantAnswerer(std::unique_ptr<assistant::LoadedModel> model, AppSettings settings)
      : model_(std::move(model)), settings_(std::move(settings)) {}

  bool generative() const override { return model_ != nullptr; }

  Status EmbedChunks(const QString& libraryPath, const std::atomic<bool>& cancel,
                     const EmbedProgressSink& progress, bool* cancelled) override {
    *cancelled = false;
    if (!model_) return Status::Ok();
    // Created with the assistant's defaults, so the vectors land under the model_key its
    // hybrid search reads.
    if (!embedder_) {
      FOLIO_ASSIGN_OR_RETURN(
          embedder_,
          assistant::Embedder::Create(*model_->backend, *model_->tokenizer, model_->model_key));
    }
    auto on_progress = [&](int64_t done, int64_t total) { progress(done, total); };
    FOLIO_ASSIGN_OR_RETURN(
        auto result,
        assistant::RunEmbeddingJob(libraryPath.toStdString(), *embedder_, &cancel, on_progress));
    *cancelled = result.cancelled;
    return Status::Ok();
  }

  AnswerInfo Answer(docstore::Library& library, const AnswerRequest& request,
                    const PieceSink& piece, const ContextSink& context,
                    const std::atomic<bool>& cancel) override {
    AnswerInfo failed;
    if (Status st = EnsureAssistant(library); !st.ok()) return Fail(failed, st);
    qint64 conversation = request.conversationId;
    if (conversation == 0) {
      std::vector<int64_t> ids(request.docIds.begin(), request.docIds.end());
      auto started = assistant_->StartConversation(ids, request.question.left(80).toStdString());
      if (!started.ok()) return Fail(failed, started.status());
      conversation = *started;
    }
    auto on_piece = [&](std::string_view p) {
      piece(QString::fromUtf8(p.data(), static_cast<qsizetype>(p.size())));
    };
    auto answer = assistant_->Chat(conversation, request.question.toStdString(), on_piece, &cancel);
    if (!answer.ok()) {
      failed.conversationId = conversation;
      return Fail(failed, answer.status());
    }
    AnswerInfo info = ToAnswerInfo(*answer, assistant_->options().context_tokens);
    context(info.contextTokens, info.contextMax, info.mode);
    return info;
  }

 private:
  static AnswerInfo Fail(AnswerInfo info, const Status& st) {
    info.error = QString::fromStdString(st.message());
    return info;
  }

  // One assistant per library connection (the engine worker has one).
  Status EnsureAssistant(docstore::Library& library) {
    if (assistant_ && library_ == &library) return Status::Ok();
    assistant::AssistantOptions o;
    o.context_tokens = settings_.contextLength;
    o.max_new_tokens = settings_.maxNewTokens;
    o.sampling = Sampling(settings_);
    FOLIO_ASSIGN_OR_RETURN(assistant_, assistant::Assistant::Create(library, model_.get(), o));
    library_ = &library;
    return Status::Ok();
  }

  std::unique_ptr<assistant::LoadedModel> model_;
  AppSettings settings_;
  docstore::Library* library_ = nullptr;
  std::unique_ptr<assistant::Assistant> assistant_;
  std::unique_ptr<assistant::Embedder> embedder_;  // for EmbedChunks; same backend and thread
};

// Reads every weight once (a byte per 4 KiB page), so the first answer does not stall on
// page faults, and so loading on the CPU shows real progress.
Status TouchWeights(const Checkpoint& ck, const LoadProgressSink& progress,
                    const std::atomic<bool>& cancel) {
  const double total = static_cast<double>(std::max<uint64_t>(ck.TotalBytes(), 1));
  double done = 0;
  uint8_t sink = 0;
  for (const auto& name : ck.Names()) {
    if (cancel.load()) return Cancelled("loading cancelled");
    auto view = ck.Get(name);
    if (!view.ok()) return view.status();
    const volatile uint8_t* bytes = view->data;
    for (size_t i = 0; i < view->nbytes; i += 4096) sink = static_cast<uint8_t>(sink ^ bytes[i]);
    done += static_cast<double>(view->nbytes);
    progress({0.2 + 0.75 * done / total, QStringLiteral("reading weights")});
  }
  if (sink == 0x5a) progress({0.95, QStringLiteral("reading weights")});  // keeps the reads
  return Status::Ok();
}

// The backend on the chosen device: CUDA for "cuda" (an error naming why not when it
// cannot) and for "auto" when a GPU is usable; the CPU otherwise.
Result<std::unique_ptr<Backend>> MakeBackend(const AppSettings& s,
                                             std::shared_ptr<const Checkpoint> ck,
                                             const LoadProgressSink& progress,
                                             const std::atomic<bool>& cancel, int64_t context) {
  const std::string dir = s.modelDir.toStdString();
  if (s.device == "cuda" || (s.device == "auto" && CudaUnavailable().empty())) {
    CudaBackendOptions o;
    o.planned_context = context;
    o.progress = [&](uint64_t done, uint64_t total) {
      progress({0.2 + 0.75 * static_cast<double>(done) /
                          static_cast<double>(std::max<uint64_t>(total, 1)),
                QStringLiteral("uploading weights to the GPU")});
    };
    return OpenCudaBackend(dir, o);
  }
  FOLIO_RETURN_IF_ERROR(TouchWeights(*ck, progress, cancel));
  FOLIO_ASSIGN_OR_RETURN(auto cpu, CpuBackend::Create(ck, CpuBackendOptions{s.threads, false}));
  return std::unique_ptr<Backend>(std::move(cpu));
}

}  // namespace

std::unique_ptr<Answerer> MakeExtractiveAnswerer() {
  return std::make_unique<AssistantAnswerer>(nullptr, AppSettings{});
}

Result<std::unique_ptr<Answerer>> LoadModelAnswerer(const AppSettings& settings,
                                                    const LoadProgressSink& progress,
                                                    const std::atomic<bool>& cancel,
                                                    ModelStatus* status) {
  const std::string dir = settings.modelDir.toStdString();
  progress({0.02, QStringLiteral("checking the checkpoint")});
  FOLIO_ASSIGN_OR_RETURN(std::shared_ptr<const Checkpoint> ck, Checkpoint::Open(dir));
  progress({0.1, QStringLiteral("loading the tokenizer")});
  auto model = std::make_unique<assistant::LoadedModel>();
  model->dir = dir;
  FOLIO_ASSIGN_OR_RETURN(model->tokenizer, Tokenizer::Load(dir));
  FOLIO_ASSIGN_OR_RETURN(ChatTemplate chat,
                         ChatTemplate::ForTokenizer(*model->tokenizer, ck->config().model_type));
  model->chat = std::make_unique<ChatTemplate>(std::move(chat));
  const int64_t model_max = ck->config().max_position_embeddings;
  const int64_t context =
      settings.contextLength > 0 ? std::min<int64_t>(settings.contextLength, model_max) : model_max;
  FOLIO_ASSIGN_OR_RETURN(model->backend, MakeBackend(settings, ck, progress, cancel, context));
  FOLIO_ASSIGN_OR_RETURN(model->model_key, assistant::ModelIdentity(dir, model->backend->name()));
  if (cancel.load()) return Cancelled("loading cancelled");
  status->loaded = true;
  status->name = QFileInfo(settings.modelDir).fileName();
  status->device = QString::fromStdString(model->backend->name());
  status->detail = QStringLiteral("%1, %2 parameters, %3")
                       .arg(QString::fromStdString(ck->config().architecture),
                            CompactCount(ck->config().ParameterCount()),
                            HumanBytes(static_cast<double>(ck->TotalBytes())));
  status->contextMax = context;
  progress({1.0, QStringLiteral("ready")});
  return std::unique_ptr<Answerer>(std::make_unique<AssistantAnswerer>(std::move(model), settings));
}

}  // namespace folio::ui
