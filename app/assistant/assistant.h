// The assistant: questions about a person's documents, answered only from them, with page
// citations, a "not in the documents" verdict, a document-state cache and chat. No Qt; the
// UI and folio-cli share it. One Assistant per thread (it owns a library connection's use
// and one engine session).
//
//   auto model = LoadedModel::Open("/models/jamba-mini").value();      // or no model
//   auto a = Assistant::Create(library, model.get(), {}).value();
//   auto answer = a->Ask("What changed in 2023?", {doc_id}, [](std::string_view piece) {
//     std::fputs(std::string(piece).c_str(), stdout); });
//   // answer->in_context, answer->citations[i].{doc_id, page, quote},
//   // answer->stats.prefix_tokens_reused / prefix_tokens_computed
//   int64_t conv = a->StartConversation({doc_id}, "Report").value();
//   a->Chat(conv, "And in 2024?", on_piece);   // continues from the previous turn's state
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app/assistant/citations.h"
#include "app/assistant/embeddings.h"
#include "app/assistant/hybrid_search.h"
#include "app/assistant/prompt.h"
#include "app/assistant/state_cache.h"
#include "docstore/store.h"
#include "engine/backend.h"
#include "engine/chat_template.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "engine/tokenizer.h"

namespace folio::assistant {

// A checkpoint ready to answer: backend, tokenizer, chat template and its cache identity.
struct LoadedModel {
  std::string dir;
  std::string model_key;  // ModelIdentity(): the state cache's model part
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ChatTemplate> chat;

  // CPU backend over DIR (config.json, *.safetensors, tokenizer.model).
  static Result<std::unique_ptr<LoadedModel>> Open(const std::string& dir, int threads = 0);
};

struct AssistantOptions {
  int64_t context_tokens = 0;    // the context budget; 0 = the model's maximum
  int64_t max_new_tokens = 256;  // answer length limit (also the room kept for it)
  SamplingParams sampling = [] {
    SamplingParams p;
    p.greedy = true;  // answers from documents: no invention by sampling
    return p;
  }();
  StateCacheOptions cache;
  int extractive_quotes = 3;      // passages quoted without a model
  int retrieval_candidates = 64;  // passages considered in retrieval mode
  int64_t prefill_chunk = 512;
};

struct AnswerStats {
  int64_t prefix_tokens = 0;           // system + documents (+ earlier chat turns)
  int64_t prefix_tokens_reused = 0;    // restored from the state cache
  int64_t prefix_tokens_computed = 0;  // run through the model for this answer
  int64_t question_tokens = 0;
  int64_t answer_tokens = 0;
  double prefill_ms = 0;  // prefix + question, after any cache restore
  double restore_ms = 0;
  double decode_ms = 0;
  double decode_tokens_per_s = 0;
  std::string cache = "none";  // "none", "memory", "disk", "chat"
};

struct Answer {
  std::string text;              // what the model wrote (or the quotes), sentinel removed
  bool in_context = false;       // found in the documents (answerInContext)
  bool said_not_found = false;   // the model answered the sentinel
  double grounding_overlap = 0;  // share of the answer's words found in its context
  AnswerMode mode = AnswerMode::kExtractive;
  std::vector<Citation> citations;
  AnswerStats stats;
  bool stopped = false;  // a stop request ended it; `text` is what was written
  int64_t conversation_id = 0;
};

// The one-line JSON of folio-cli ask --json (also what the UI can log).
std::string AnswerJson(const Answer& a);

// Receives answer text as it is written: always complete UTF-8; never the sentinel.
using OnPiece = std::function<void(std::string_view piece)>;

class Assistant {
 public:
  // `model` may be null: every answer is then extractive. Both must outlive the assistant.
  static Result<std::unique_ptr<Assistant>> Create(docstore::Library& library, LoadedModel* model,
                                                   AssistantOptions options = {});
  ~Assistant();

  // Answers from `doc_ids` (empty = every ready document). `stop`, when set to true from
  // any thread, ends the answer within one decode step, keeping what was written.
  Result<Answer> Ask(const std::string& question, const std::vector<int64_t>& doc_ids,
                     const OnPiece& on_piece = {}, const std::atomic<bool>* stop = nullptr);

  // A stored conversation over `doc_ids`; Chat() turns continue from the previous turn's
  // state (kept in memory; rebuilt from the stored messages after a restart).
  Result<int64_t> StartConversation(const std::vector<int64_t>& doc_ids, const std::string& title);
  Result<Answer> Chat(int64_t conversation_id, const std::string& question,
                      const OnPiece& on_piece = {}, const std::atomic<bool>* stop = nullptr);

  // The documents' text as the prompt sees it (ordered by id, numbered doc 1..n).
  Result<std::vector<SourceDocument>> LoadDocuments(const std::vector<int64_t>& doc_ids);
  // The prompt Ask would use (for tests and the UI's "what the model sees").
  Result<BuiltPrompt> PlanPrompt(const std::vector<SourceDocument>& docs,
                                 const std::string& question);

  StateCache& cache() { return *cache_; }
  bool has_model() const { return model_ != nullptr; }
  const AssistantOptions& options() const { return options_; }

 private:
  // A conversation's documents prefix and its model state after the last turn.
  struct ChatState {
    std::vector<SourceDocument> docs;
    BuiltPrompt prompt;
    SessionSnapshot snapshot;  // after the last turn's end-of-turn ids
    size_t messages = 0;       // stored messages the snapshot covers
  };
  Assistant(docstore::Library& library, LoadedModel* model, AssistantOptions options);
  Result<Answer> Extractive(const std::string& question, const std::vector<int64_t>& doc_ids);
  Result<std::vector<CandidatePassage>> Candidates(const std::string& question,
                                                   const std::vector<int64_t>& doc_ids);
  // Restores or computes the prefix state; fills the prefix stats.
  Status PrepareSession(const BuiltPrompt& prompt, AnswerStats* stats);
  // Samples up to max_new ids, streaming text; leaves the end-of-turn in the session.
  Status Generate(const OnPiece& on_piece, const std::atomic<bool>* stop, Answer* answer);
  void Judge(const std::vector<SourceDocument>& docs, const BuiltPrompt& prompt, Answer* answer);
  Result<std::vector<ChunkOnPage>> ChunksOf(const std::vector<SourceDocument>& docs);

  docstore::Library& library_;
  LoadedModel* model_;
  AssistantOptions options_;
  std::unique_ptr<StateCache> cache_;
  std::unique_ptr<Session> session_;
  std::vector<int64_t> turn_end_ids_;  // what closes an assistant turn (<|eom|>)
  std::map<int64_t, std::unique_ptr<ChatState>> chats_;
  // Passage retrieval (extractive quotes, retrieval-mode candidates): BM25 fused with the
  // model's chunk embeddings once `folio-cli embed` (or the UI's job) has stored them; BM25
  // alone without a model or before any chunk is embedded.
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<HybridSearch> search_;
};

}  // namespace folio::assistant
