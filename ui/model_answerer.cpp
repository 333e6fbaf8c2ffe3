// ModelAnswerer: answers with the engine over the selected documents. The documents go in
// whole when they fit the context budget (whole-document mode), else the passages that
// best match the question, in document order, until the budget is full (retrieval mode).
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <algorithm>
#include <map>

#include "docstore/search.h"
#include "docstore/store.h"
#include "engine/chat_template.h"
#include "engine/checkpoint.h"
#include "engine/cpu_backend.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "engine/tokenizer.h"
#include "ui/answerer.h"
#include "ui/text_util.h"
#if defined(FOLIO_HAVE_CUDA)
#include "engine/cuda_backend.h"
#endif

namespace folio::ui {
namespace {

constexpr const char kNotInDocuments[] = "NOT IN THE DOCUMENTS";
constexpr int64_t kPromptOverhead = 192;  // tokens of instructions and turn markers

std::string SystemInstruction(bool retrieval) {
  return std::string(
             "You answer questions using only the documents below. After every fact, cite its "
             "page as [p. N], or [Title, p. N] when there are several documents. If the "
             "documents do not contain the answer, reply exactly: ") +
         kNotInDocuments + "." +
         (retrieval ? " You see excerpts of the documents, not their whole text." : "") + "\n\n";
}

struct DocText {
  DocRef ref;
  std::vector<std::string> pages;
  int64_t tokens = 0;
};

class ModelAnswerer : public Answerer {
 public:
  ModelAnswerer(std::shared_ptr<const Checkpoint> checkpoint, std::unique_ptr<Backend> backend,
                std::unique_ptr<Tokenizer> tokenizer, ChatTemplate chat, AppSettings settings,
                int64_t context_max)
      : checkpoint_(std::move(checkpoint)),
        backend_(std::move(backend)),
        tok_(std::move(tokenizer)),
        chat_(std::move(chat)),
        settings_(std::move(settings)),
        context_max_(context_max) {}

  bool generative() const override { return true; }

  AnswerInfo Answer(docstore::Library& library, const AnswerRequest& request,
                    const PieceSink& piece, const ContextSink& context,
                    const std::atomic<bool>& cancel) override {
    AnswerInfo info;
    info.contextMax = context_max_;
    auto docs = ReadDocuments(library, request.docIds);
    if (!docs.ok()) return Failed(info, docs.status());
    const int64_t question_tokens = Count(request.question.toStdString());
    const int64_t budget =
        context_max_ - question_tokens - settings_.maxNewTokens - kPromptOverhead;
    int64_t total = 0;
    for (const auto& d : *docs) total += d.tokens;
    const bool whole = total <= budget;
    info.mode = whole ? "whole" : "retrieval";
    const std::string material =
        whole ? WholeText(*docs) : Excerpts(library, request, *docs, std::max<int64_t>(budget, 0));

    std::vector<ChatMessage> messages{{"system", SystemInstruction(!whole) + material}};
    for (const auto& t : request.history) {
      messages.push_back({"user", t.question.toStdString()});
      messages.push_back({"assistant", t.answer.toStdString()});
    }
    messages.push_back({"user", request.question.toStdString()});
    auto ids = chat_.RenderIds(*tok_, messages);
    while (ids.ok() && static_cast<int64_t>(ids->size()) + settings_.maxNewTokens > context_max_ &&
           messages.size() > 2) {
      messages.erase(messages.begin() + 1, messages.begin() + 3);  // drop the oldest turn
      ids = chat_.RenderIds(*tok_, messages);
    }
    if (!ids.ok()) return Failed(info, ids.status());
    info.contextTokens = static_cast<int64_t>(ids->size());
    context(info.contextTokens, context_max_, info.mode);

    QList<DocRef> refs;
    for (const auto& d : *docs) refs.push_back(d.ref);
    QString answer;
    const Status st = Generate(*ids, cancel, &info, [&](const std::string& text) {
      answer += QString::fromStdString(text);
      piece(QString::fromStdString(text));
    });
    if (!st.ok()) info.error = QString::fromStdString(st.message());
    info.inContext = !answer.contains(kNotInDocuments, Qt::CaseInsensitive);
    info.citations = info.inContext ? ResolveCitations(answer, refs) : QList<Citation>{};
    return info;
  }

 private:
  static AnswerInfo Failed(AnswerInfo info, const Status& st) {
    info.error = QString::fromStdString(st.message());
    return info;
  }

  int64_t Count(const std::string& text) const {
    auto ids = tok_->Encode(text, false, Tokenizer::SpecialText::kPlain);
    return ids.ok() ? static_cast<int64_t>(ids->size()) : static_cast<int64_t>(text.size() / 3);
  }

  Result<std::vector<DocText>> ReadDocuments(docstore::Library& lib, const QList<qint64>& ids) {
    std::vector<int64_t> wanted(ids.begin(), ids.end());
    if (wanted.empty()) {
      FOLIO_ASSIGN_OR_RETURN(auto all, lib.ListDocuments());
      for (const auto& d : all) {
        if (d.status == "ready") wanted.push_back(d.id);
      }
    }
    std::vector<DocText> out;
    for (int64_t id : wanted) {
      FOLIO_ASSIGN_OR_RETURN(auto info, lib.GetDocument(id));
      DocText d;
      d.ref = DocRef{id, QString::fromStdString(info.title), info.pages};
      for (int p = 1; p <= info.pages; ++p) {
        FOLIO_ASSIGN_OR_RETURN(auto page, lib.GetPage(id, p));
        d.tokens += Count(page.text) + 6;
        d.pages.push_back(std::move(page.text));
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  static std::string WholeText(const std::vector<DocText>& docs) {
    std::string s;
    for (const auto& d : docs) {
      s += "<document title=\"" + d.ref.title.toStdString() + "\">\n";
      for (size_t p = 0; p < d.pages.size(); ++p) {
        s += "[page " + std::to_string(p + 1) + "]\n" + d.pages[p] + "\n";
      }
      s += "</document>\n";
    }
    return s;
  }

  // The best-matching passages that fit `budget` tokens, in document and page order.
  std::string Excerpts(docstore::Library& lib, const AnswerRequest& request,
                       const std::vector<DocText>& docs, int64_t budget) {
    docstore::SearchOptions opt;
    opt.limit = 64;
    for (const auto& d : docs) opt.doc_ids.push_back(d.ref.id);
    auto hits = docstore::Search(lib, request.question.toStdString(), opt);
    std::map<std::pair<int64_t, int>, std::string> chosen;  // (doc, page) -> text
    int64_t used = 0;
    for (const auto& h : hits.ok() ? *hits : std::vector<docstore::SearchHit>{}) {
      const auto d = std::find_if(docs.begin(), docs.end(),
                                  [&](const DocText& x) { return x.ref.id == h.doc_id; });
      if (d == docs.end() || h.page < 1 || h.page > static_cast<int>(d->pages.size())) continue;
      const std::string& text = d->pages[static_cast<size_t>(h.page - 1)];
      const int64_t cost = Count(text) + 12;
      if (chosen.count({h.doc_id, h.page}) || used + cost > budget) continue;
      chosen[{h.doc_id, h.page}] = text;
      used += cost;
    }
    std::string s;
    for (const auto& [key, text] : chosen) {
      const auto d = std::find_if(docs.begin(), docs.end(),
                                  [&](const DocText& x) { return x.ref.id == key.first; });
      s += "<excerpt title=\"" + d->ref.title.toStdString() + "\" page=\"" +
           std::to_string(key.second) + "\">\n" + text + "\n</excerpt>\n";
    }
    return s;
  }

  SamplingParams Sampling() const {
    SamplingParams p;
    p.greedy = settings_.greedy || settings_.temperature <= 0;
    p.temperature = static_cast<float>(std::max(settings_.temperature, 1e-3));
    p.top_p = static_cast<float>(std::clamp(settings_.topP, 1e-3, 1.0));
    p.top_k = settings_.topK;
    p.repetition_penalty = static_cast<float>(std::max(settings_.repetitionPenalty, 1e-3));
    p.seed = static_cast<uint64_t>(settings_.seed);
    return p;
  }

  // Prefill in chunks and decode, checking `cancel` between chunks and tokens.
  Status Generate(const std::vector<int64_t>& ids, const std::atomic<bool>& cancel,
                  AnswerInfo* info, const std::function<void(const std::string&)>& out) {
    FOLIO_ASSIGN_OR_RETURN(auto session,
                           Session::Create(*backend_, SessionOptions{context_max_, 256}));
    const std::span<const int64_t> all(ids);
    for (size_t at = 0; at < all.size(); at += 256) {
      if (cancel.load()) return (info->stopped = true, Status::Ok());
      FOLIO_RETURN_IF_ERROR(
          session->Append(all.subspan(at, std::min<size_t>(256, all.size() - at))));
    }
    Sampler sampler(Sampling());
    FOLIO_RETURN_IF_ERROR(ValidateSamplingParams(sampler.params()));
    const std::vector<int64_t> stops = chat_.StopIds(*tok_);
    IncrementalDetokenizer detok(*tok_);
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < settings_.maxNewTokens; ++i) {
      if (cancel.load()) {
        info->stopped = true;
        break;
      }
      const int64_t id = sampler.Sample(session->last_logits(), session->tokens());
      if (std::find(stops.begin(), stops.end(), id) != stops.end()) break;
      FOLIO_ASSIGN_OR_RETURN(std::string text, detok.Push(id));
      if (!text.empty()) out(text);
      ++info->generatedTokens;
      if (session->position() >= session->max_context()) break;
      FOLIO_RETURN_IF_ERROR(session->Step(id));
    }
    if (std::string rest = detok.Finish(); !rest.empty()) out(rest);
    const double s = static_cast<double>(timer.nsecsElapsed()) / 1e9;
    info->tokensPerSecond = s > 0 ? info->generatedTokens / s : 0;
    return Status::Ok();
  }

  std::shared_ptr<const Checkpoint> checkpoint_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Tokenizer> tok_;
  ChatTemplate chat_;
  AppSettings settings_;
  int64_t context_max_;
};

// Reads every weight once (a byte per 4 KiB page), so the first answer does not stall on
// page faults, and so loading can show real progress.
Status TouchWeights(const Checkpoint& ck, const LoadProgressSink& progress,
                    const std::atomic<bool>& cancel) {
  const double total = static_cast<double>(std::max<uint64_t>(ck.TotalBytes(), 1));
  double done = 0;
  volatile uint8_t sink = 0;
  for (const auto& name : ck.Names()) {
    if (cancel.load()) return Cancelled("loading cancelled");
    auto view = ck.Get(name);
    if (!view.ok()) return view.status();
    for (size_t i = 0; i < view->nbytes; i += 4096)
      sink = static_cast<uint8_t>(sink ^ view->data[i]);
    done += static_cast<double>(view->nbytes);
    progress({0.2 + 0.7 * done / total, QStringLiteral("reading weights")});
  }
  (void)sink;
  return Status::Ok();
}

Result<std::unique_ptr<Backend>> MakeBackend(const AppSettings& s,
                                             std::shared_ptr<const Checkpoint> ck,
                                             const LoadProgressSink& progress,
                                             const std::atomic<bool>& cancel, int64_t context) {
#if defined(FOLIO_HAVE_CUDA)
  const bool gpu = s.device == "cuda" || (s.device == "auto" && CudaUnavailableReason().empty());
  if (gpu) {
    CudaBackendOptions o;
    o.planned_context = context;
    o.progress = [&](uint64_t done, uint64_t total) {
      progress({0.2 + 0.75 * static_cast<double>(done) /
                          static_cast<double>(std::max<uint64_t>(total, 1)),
                QStringLiteral("uploading weights to the GPU")});
    };
    FOLIO_ASSIGN_OR_RETURN(auto cuda, CudaBackend::Create(ck, o));
    return std::unique_ptr<Backend>(std::move(cuda));
  }
#else
  (void)context;
  if (s.device == "cuda") {
    return Unsupported("this build of Folio has no CUDA backend; choose CPU or Auto in Settings");
  }
#endif
  FOLIO_RETURN_IF_ERROR(TouchWeights(*ck, progress, cancel));
  FOLIO_ASSIGN_OR_RETURN(auto cpu, CpuBackend::Create(ck, CpuBackendOptions{s.threads, false}));
  return std::unique_ptr<Backend>(std::move(cpu));
}

}  // namespace

Result<std::unique_ptr<Answerer>> LoadModelAnswerer(const AppSettings& settings,
                                                    const LoadProgressSink& progress,
                                                    const std::atomic<bool>& cancel,
                                                    ModelStatus* status) {
  const std::string dir = settings.modelDir.toStdString();
  progress({0.02, QStringLiteral("checking the checkpoint")});
  FOLIO_ASSIGN_OR_RETURN(std::shared_ptr<const Checkpoint> ck, Checkpoint::Open(dir));
  progress({0.1, QStringLiteral("loading the tokenizer")});
  FOLIO_ASSIGN_OR_RETURN(auto tok, Tokenizer::Load(dir));
  FOLIO_ASSIGN_OR_RETURN(auto chat, ChatTemplate::ForTokenizer(*tok, ck->config().model_type));
  const int64_t model_max = ck->config().max_position_embeddings;
  const int64_t context =
      settings.contextLength > 0 ? std::min<int64_t>(settings.contextLength, model_max) : model_max;
  FOLIO_ASSIGN_OR_RETURN(auto backend, MakeBackend(settings, ck, progress, cancel, context));
  if (cancel.load()) return Cancelled("loading cancelled");
  status->loaded = true;
  status->name = QFileInfo(settings.modelDir).fileName();
  status->device = QString::fromStdString(backend->name());
  status->detail = QStringLiteral("%1, %2 parameters, %3")
                       .arg(QString::fromStdString(ck->config().architecture),
                            CompactCount(ck->config().ParameterCount()),
                            HumanBytes(static_cast<double>(ck->TotalBytes())));
  status->contextMax = context;
  progress({1.0, QStringLiteral("ready")});
  return std::unique_ptr<Answerer>(std::make_unique<ModelAnswerer>(
      std::move(ck), std::move(backend), std::move(tok), std::move(chat), settings, context));
}

}  // namespace folio::ui
