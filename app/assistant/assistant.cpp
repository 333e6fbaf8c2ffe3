#include "app/assistant/assistant.h"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "docstore/search.h"
#include "engine/cpu_backend.h"
#include "engine/generate.h"

namespace folio::assistant {
namespace {

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\n\r");
  return std::string(s.substr(b, e - b + 1));
}

// True while `text` (trimmed) could still become the sentinel: hold it back.
bool MayBeSentinel(const std::string& text) {
  const std::string t = Trim(text);
  const std::string s = kNotFoundSentinel;
  return t.size() <= s.size() && s.compare(0, t.size(), t) == 0;
}

}  // namespace

// ---- model ----

Result<std::unique_ptr<LoadedModel>> LoadedModel::Open(const std::string& dir, int threads) {
  auto m = std::make_unique<LoadedModel>();
  m->dir = dir;
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CpuBackend> cpu,
                         CpuBackend::Open(dir, CpuBackendOptions{threads, false}));
  m->backend = std::move(cpu);
  FOLIO_ASSIGN_OR_RETURN(m->tokenizer, Tokenizer::Load(dir));
  FOLIO_ASSIGN_OR_RETURN(ChatTemplate chat, ChatTemplate::ForTokenizer(*m->tokenizer, "jamba"));
  m->chat = std::make_unique<ChatTemplate>(std::move(chat));
  FOLIO_ASSIGN_OR_RETURN(m->model_key, ModelIdentity(dir, m->backend->name()));
  return m;
}

// ---- assistant ----

Assistant::Assistant(docstore::Library& library, LoadedModel* model, AssistantOptions options)
    : library_(library), model_(model), options_(std::move(options)) {}

Assistant::~Assistant() = default;

Result<std::unique_ptr<Assistant>> Assistant::Create(docstore::Library& library, LoadedModel* model,
                                                     AssistantOptions options) {
  if (options.max_new_tokens < 1) return InvalidArgument("max_new_tokens must be at least 1");
  FOLIO_RETURN_IF_ERROR(ValidateSamplingParams(options.sampling));
  std::unique_ptr<Assistant> a(new Assistant(library, model, std::move(options)));
  a->cache_ = std::make_unique<StateCache>(&library, a->options_.cache);
  if (model) {
    FOLIO_ASSIGN_OR_RETURN(a->embedder_,
                           Embedder::Create(*model->backend, *model->tokenizer, model->model_key));
  }
  a->search_ = std::make_unique<HybridSearch>(library, a->embedder_.get());
  if (model) {
    const int64_t model_max = model->backend->config().max_position_embeddings;
    if (a->options_.context_tokens <= 0 || a->options_.context_tokens > model_max) {
      a->options_.context_tokens = model_max;
    }
    SessionOptions so;
    so.max_context = a->options_.context_tokens;
    so.prefill_chunk = a->options_.prefill_chunk;
    FOLIO_ASSIGN_OR_RETURN(a->session_, Session::Create(*model->backend, so));
    // What the template writes after an assistant message: the end-of-turn ids.
    FOLIO_ASSIGN_OR_RETURN(
        std::string closed,
        model->chat->Render({{"user", "q"}, {"assistant", "\x01"}}, ChatRenderOptions{false, ""}));
    const size_t at = closed.rfind('\x01');
    FOLIO_ASSIGN_OR_RETURN(a->turn_end_ids_,
                           model->tokenizer->Encode(closed.substr(at + 1), false));
  }
  return a;
}

Result<std::vector<SourceDocument>> Assistant::LoadDocuments(const std::vector<int64_t>& doc_ids) {
  std::vector<int64_t> ids = doc_ids;
  if (ids.empty()) {
    FOLIO_ASSIGN_OR_RETURN(auto all, library_.ListDocuments());
    for (const auto& d : all)
      if (d.status == "ready") ids.push_back(d.id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty())
    return NotFound("the library has no documents to answer from; import some first");
  std::vector<SourceDocument> docs;
  for (int64_t id : ids) {
    FOLIO_ASSIGN_OR_RETURN(docstore::DocumentInfo info, library_.GetDocument(id));
    if (info.status != "ready") {
      return InvalidArgument("document " + std::to_string(id) + " failed to import: " + info.error);
    }
    SourceDocument d;
    d.doc_id = id;
    d.index = static_cast<int>(docs.size()) + 1;
    d.title = info.title;
    d.content_hash = info.content_hash;
    for (int p = 1; p <= info.pages; ++p) {
      FOLIO_ASSIGN_OR_RETURN(docstore::Page page, library_.GetPage(id, p));
      d.pages.push_back(std::move(page));
    }
    docs.push_back(std::move(d));
  }
  return docs;
}

Result<std::vector<CandidatePassage>> Assistant::Candidates(const std::string& question,
                                                            const std::vector<int64_t>& doc_ids) {
  HybridOptions so;
  so.limit = options_.retrieval_candidates;
  so.doc_ids = doc_ids;
  FOLIO_ASSIGN_OR_RETURN(auto hits, search_->Search(question, so));
  std::map<int64_t, std::vector<docstore::StoredChunk>> chunks;
  std::vector<CandidatePassage> out;
  for (const auto& h : hits) {
    if (!chunks.count(h.doc_id)) {
      FOLIO_ASSIGN_OR_RETURN(chunks[h.doc_id], library_.GetChunks(h.doc_id));
    }
    for (const auto& c : chunks[h.doc_id]) {
      if (c.id != h.chunk_id) continue;
      out.push_back(
          {h.doc_id, c.id, c.chunk.ordinal, c.chunk.first_page, c.chunk.last_page, c.chunk.text});
    }
  }
  return out;
}

Result<BuiltPrompt> Assistant::PlanPrompt(const std::vector<SourceDocument>& docs,
                                          const std::string& question) {
  if (!model_) return Unsupported("no model is loaded");
  std::vector<int64_t> ids;
  for (const auto& d : docs) ids.push_back(d.doc_id);
  FOLIO_ASSIGN_OR_RETURN(auto candidates, Candidates(question, ids));
  PromptBuilder builder(*model_->tokenizer, *model_->chat);
  return builder.Build(docs, candidates, question,
                       PromptBudget{options_.context_tokens, options_.max_new_tokens});
}

Status Assistant::PrepareSession(const BuiltPrompt& prompt, AnswerStats* stats) {
  const auto t0 = Clock::now();
  const int64_t n = static_cast<int64_t>(prompt.prefix_ids.size());
  stats->prefix_tokens = n;
  FOLIO_ASSIGN_OR_RETURN(CacheHit hit,
                         cache_->Restore(prompt.cache_key, model_->model_key, *session_));
  if (hit != CacheHit::kNone && session_->position() == n) {
    stats->prefix_tokens_reused = n;
    stats->cache = CacheHitName(hit);
    stats->restore_ms = MsSince(t0);
    return Status::Ok();
  }
  FOLIO_RETURN_IF_ERROR(session_->Reset());
  FOLIO_RETURN_IF_ERROR(session_->Append(prompt.prefix_ids));
  stats->prefix_tokens_computed = n;
  stats->prefill_ms += MsSince(t0);
  return cache_->Put(prompt.cache_key, model_->model_key, *session_);
}

Status Assistant::Generate(const OnPiece& on_piece, const std::atomic<bool>* stop, Answer* answer) {
  const Tokenizer& tok = *model_->tokenizer;
  std::string text;
  size_t emitted = 0;
  auto emit = [&](bool final) {
    if (!final && MayBeSentinel(text)) return;
    if (final && Trim(text) == kNotFoundSentinel) return;
    if (on_piece && emitted < text.size()) on_piece(std::string_view(text).substr(emitted));
    emitted = text.size();
  };
  GenerateParams p;
  p.sampling = options_.sampling;
  p.stop_ids = model_->chat->StopIds(tok);
  p.cancel = stop;
  // Keep room for the end-of-turn ids, so a chat can always go on.
  const int64_t room = session_->max_context() - session_->position() -
                       static_cast<int64_t>(turn_end_ids_.size()) - 1;
  p.max_new_tokens = std::max<int64_t>(0, std::min(options_.max_new_tokens, room));
  FOLIO_ASSIGN_OR_RETURN(GenerateStats gs,
                         folio::Generate(*session_, tok, {}, p, [&](std::string_view piece) {
                           text += piece;
                           emit(false);
                           return true;
                         }));
  emit(true);
  answer->stopped = gs.reason == StopReason::kCancelled;
  answer->stats.decode_ms = gs.decode_ms;
  answer->stats.answer_tokens = gs.new_tokens;
  answer->stats.decode_tokens_per_s = gs.decode_tokens_per_s;
  if (gs.pending_id >= 0) FOLIO_RETURN_IF_ERROR(session_->Step(gs.pending_id));
  // Close the turn so a chat can go on from here (the stop id itself was not stepped).
  if (session_->position() + static_cast<int64_t>(turn_end_ids_.size()) <=
      session_->max_context()) {
    FOLIO_RETURN_IF_ERROR(session_->Append(turn_end_ids_));
  }
  answer->said_not_found = text.find(kNotFoundSentinel) != std::string::npos;
  if (answer->said_not_found) {
    const size_t at = text.find(kNotFoundSentinel);
    text.erase(at, std::string(kNotFoundSentinel).size());
  }
  answer->text = Trim(text);
  return Status::Ok();
}

Result<std::vector<ChunkOnPage>> Assistant::ChunksOf(const std::vector<SourceDocument>& docs) {
  std::vector<ChunkOnPage> out;
  for (const auto& d : docs) {
    FOLIO_ASSIGN_OR_RETURN(auto chunks, library_.GetChunks(d.doc_id));
    for (const auto& c : chunks) {
      out.push_back({d.doc_id, c.id, c.chunk.first_page, c.chunk.last_page, c.chunk.text});
    }
  }
  return out;
}

void Assistant::Judge(const std::vector<SourceDocument>& docs, const BuiltPrompt& prompt,
                      Answer* answer) {
  auto chunks = ChunksOf(docs);
  answer->citations = ResolveCitations(answer->text, docs, prompt.blocks,
                                       chunks.ok() ? *chunks : std::vector<ChunkOnPage>{});
  std::string context;
  for (const auto& b : prompt.blocks) context += b.text + "\n";
  answer->grounding_overlap = WordOverlap(answer->text, context);
  // Found in context: not the sentinel, something written, and grounded: a page the model
  // saw is cited, or most of its words come from the context.
  answer->in_context = !answer->said_not_found && !answer->text.empty() &&
                       (!answer->citations.empty() || answer->grounding_overlap >= 0.5);
}

Result<Answer> Assistant::Extractive(const std::string& question,
                                     const std::vector<int64_t>& doc_ids) {
  Answer a;
  a.mode = AnswerMode::kExtractive;
  HybridOptions so;
  so.limit = options_.extractive_quotes;
  so.doc_ids = doc_ids;
  FOLIO_ASSIGN_OR_RETURN(auto hits, search_->Search(question, so));
  if (hits.empty()) {
    a.text =
        "No passage in the documents matches these words (no model is loaded, so this "
        "is a word search, not an answer).";
    return a;
  }
  a.in_context = true;
  a.text =
      "Quotes from the documents (no model is loaded: these are the passages that best "
      "match, not a generated answer):\n";
  for (size_t i = 0; i < hits.size(); ++i) {
    const auto& h = hits[i];
    // The passage's sentence that shares most words with the question reads as an answer;
    // the search snippet is a fixed window that can miss it. The snippet stays when no
    // sentence shares a word (a dense-only hit).
    std::string quote = h.snippet;
    if (!h.passage.empty()) {
      // PDF text breaks lines mid-sentence: join whitespace runs so that sentences end
      // only at . ! ?
      std::string flat;
      for (char ch : h.passage) {
        const bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\f';
        if (!space)
          flat += ch;
        else if (!flat.empty() && flat.back() != ' ')
          flat += ' ';
      }
      std::string best = BestSentence(flat, question, 400);
      if (WordOverlap(best, question) > 0) quote = std::move(best);
    }
    a.text += "\n" + std::to_string(i + 1) + ". \"" + quote + "\"\n   — " + h.title + ", page " +
              std::to_string(h.page) + "\n";
    Citation c;
    c.doc_id = h.doc_id;
    c.title = h.title;
    c.page = h.page;
    c.chunk_id = h.chunk_id;
    c.quote = quote;
    a.citations.push_back(std::move(c));
  }
  return a;
}

Result<Answer> Assistant::Ask(const std::string& question, const std::vector<int64_t>& doc_ids,
                              const OnPiece& on_piece, const std::atomic<bool>* stop) {
  if (Trim(question).empty()) return InvalidArgument("the question is empty");
  FOLIO_ASSIGN_OR_RETURN(std::vector<SourceDocument> docs, LoadDocuments(doc_ids));
  if (!model_) {
    std::vector<int64_t> ids;
    for (const auto& d : docs) ids.push_back(d.doc_id);
    FOLIO_ASSIGN_OR_RETURN(Answer a, Extractive(question, ids));
    if (on_piece) on_piece(a.text);
    return a;
  }
  FOLIO_ASSIGN_OR_RETURN(BuiltPrompt prompt, PlanPrompt(docs, question));
  Answer a;
  a.mode = prompt.mode;
  FOLIO_RETURN_IF_ERROR(PrepareSession(prompt, &a.stats));
  const auto t0 = Clock::now();
  FOLIO_RETURN_IF_ERROR(session_->Append(prompt.suffix_ids));
  a.stats.prefill_ms += MsSince(t0);
  a.stats.question_tokens = static_cast<int64_t>(prompt.suffix_ids.size());
  FOLIO_RETURN_IF_ERROR(Generate(on_piece, stop, &a));
  Judge(docs, prompt, &a);
  return a;
}

std::string AnswerJson(const Answer& a) {
  nlohmann::ordered_json j;
  j["answer"] = a.text;
  j["in_context"] = a.in_context;
  j["mode"] = AnswerModeName(a.mode);
  j["citations"] = nlohmann::json::array();
  for (const auto& c : a.citations) {
    j["citations"].push_back(
        {{"doc_id", c.doc_id}, {"title", c.title}, {"page", c.page}, {"quote", c.quote}});
  }
  j["stopped"] = a.stopped;
  if (a.conversation_id) j["conversation_id"] = a.conversation_id;
  const AnswerStats& s = a.stats;
  j["stats"] = {{"prefix_tokens", s.prefix_tokens},
                {"prefix_tokens_reused", s.prefix_tokens_reused},
                {"prefix_tokens_computed", s.prefix_tokens_computed},
                {"question_tokens", s.question_tokens},
                {"answer_tokens", s.answer_tokens},
                {"cache", s.cache},
                {"restore_ms", s.restore_ms},
                {"prefill_ms", s.prefill_ms},
                {"decode_ms", s.decode_ms},
                {"decode_tokens_per_s", s.decode_tokens_per_s},
                {"grounding_overlap", a.grounding_overlap}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace folio::assistant
