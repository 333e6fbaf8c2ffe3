// Assistant::StartConversation / Chat: turns over documents that continue from the state of
// the previous turn. Each stored user message carries the context it was asked over
// ({"doc_ids", "mode", "chunk_ids"}), so a reopened conversation rebuilds the same prefix.
#include <chrono>

#include <nlohmann/json.hpp>

#include "app/assistant/assistant.h"

namespace folio::assistant {
namespace {

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

constexpr const char* kConversationDocs = "SELECT doc_ids FROM conversations WHERE id = ?1";
constexpr size_t kChatStatesKept = 4;  // conversations whose last state stays in memory

Result<std::vector<int64_t>> ConversationDocs(docstore::Library& lib, int64_t id) {
  FOLIO_ASSIGN_OR_RETURN(docstore::sql::Statement st, lib.database().Prepare(kConversationDocs));
  st.Bind(1, id);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("conversation " + std::to_string(id) + " does not exist");
  auto j = nlohmann::json::parse(st.ColumnText(0), nullptr, false);
  std::vector<int64_t> ids;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_number_integer()) ids.push_back(v.get<int64_t>());
  return ids;
}

std::string CitationsJson(const Answer& a) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& c : a.citations) {
    arr.push_back({{"doc_id", c.doc_id}, {"page", c.page}, {"chunk_id", c.chunk_id}});
  }
  return arr.dump();
}

}  // namespace

Result<int64_t> Assistant::StartConversation(const std::vector<int64_t>& doc_ids,
                                             const std::string& title) {
  FOLIO_ASSIGN_OR_RETURN(std::vector<SourceDocument> docs, LoadDocuments(doc_ids));
  std::vector<int64_t> ids;
  for (const auto& d : docs) ids.push_back(d.doc_id);
  return library_.CreateConversation(title, ids);
}

Result<Answer> Assistant::Chat(int64_t conversation_id, const std::string& question,
                               const OnPiece& on_piece, const std::atomic<bool>* stop) {
  FOLIO_ASSIGN_OR_RETURN(std::vector<int64_t> doc_ids, ConversationDocs(library_, conversation_id));
  FOLIO_ASSIGN_OR_RETURN(auto history, library_.ListMessages(conversation_id));
  const nlohmann::json user_meta_in =
      history.empty() ? nlohmann::json()
                      : nlohmann::json::parse(history[0].meta_json, nullptr, false);
  Answer a;
  a.conversation_id = conversation_id;
  if (!model_) {
    FOLIO_ASSIGN_OR_RETURN(a, Ask(question, doc_ids, on_piece, stop));
    a.conversation_id = conversation_id;
  } else {
    // The conversation's documents prefix: planned on its first question, kept after.
    std::unique_ptr<ChatState>& state = chats_[conversation_id];
    if (!state) {
      state = std::make_unique<ChatState>();
      FOLIO_ASSIGN_OR_RETURN(state->docs, LoadDocuments(doc_ids));
      if (history.empty() || !user_meta_in.is_object() || !user_meta_in.contains("mode")) {
        FOLIO_ASSIGN_OR_RETURN(state->prompt, PlanPrompt(state->docs, question));
      } else {  // reopened: the same blocks as when it started
        PromptBuilder builder(*model_->tokenizer, *model_->chat);
        std::vector<ContextBlock> blocks;
        AnswerMode mode = AnswerMode::kWhole;
        if (user_meta_in.value("mode", "") == "retrieval") {
          mode = AnswerMode::kRetrieval;
          FOLIO_ASSIGN_OR_RETURN(auto chunks, ChunksOf(state->docs));
          for (const auto& id : user_meta_in.value("chunk_ids", nlohmann::json::array())) {
            for (const auto& c : chunks) {
              if (!id.is_number_integer() || c.chunk_id != id.get<int64_t>()) continue;
              int index = 0;
              for (const auto& d : state->docs)
                if (d.doc_id == c.doc_id) index = d.index;
              blocks.push_back({index, c.doc_id, c.first_page, c.last_page, c.chunk_id, 0, c.text});
            }
          }
        } else {
          blocks = PromptBuilder::WholeBlocks(state->docs);
        }
        FOLIO_ASSIGN_OR_RETURN(state->prompt,
                               builder.BuildFor(state->docs, blocks, mode, question));
      }
    }
    a.mode = state->prompt.mode;
    const Tokenizer& tok = *model_->tokenizer;
    std::vector<ChatMessage> msgs = {{"system", state->prompt.system_text}};
    for (const auto& m : history) {
      if (m.role == "user" || m.role == "assistant")
        msgs.push_back({m.role, NeutralizeSpecialTokens(tok, m.text)});
    }
    FOLIO_ASSIGN_OR_RETURN(std::string base, model_->chat->Render(msgs, {false, ""}));
    msgs.push_back({"user", NeutralizeSpecialTokens(tok, question)});
    FOLIO_ASSIGN_OR_RETURN(std::string full, model_->chat->Render(msgs, {true, ""}));
    if (full.compare(0, base.size(), base) != 0 ||
        full.compare(0, state->prompt.prefix_text.size(), state->prompt.prefix_text) != 0) {
      return Unsupported(
          "this chat template does not extend one turn to the next; ask "
          "questions one at a time instead");
    }
    const auto t0 = Clock::now();
    if (state->snapshot.position() > 0 && state->messages == history.size()) {
      // Continue from the previous turn: only the new question runs.
      FOLIO_RETURN_IF_ERROR(session_->Restore(state->snapshot));
      a.stats.prefix_tokens = a.stats.prefix_tokens_reused = session_->position();
      a.stats.cache = "chat";
      a.stats.restore_ms = MsSince(t0);
    } else {
      // First turn, or reopened: documents prefix from the state cache, then the turns
      // so far (computed), then the question.
      FOLIO_RETURN_IF_ERROR(PrepareSession(state->prompt, &a.stats));
      if (history.empty()) base = state->prompt.prefix_text;
      const auto t1 = Clock::now();
      if (base.size() > state->prompt.prefix_text.size()) {
        FOLIO_ASSIGN_OR_RETURN(auto turns,
                               tok.Encode(base.substr(state->prompt.prefix_text.size()), false));
        FOLIO_RETURN_IF_ERROR(session_->Append(turns));
        a.stats.prefix_tokens += static_cast<int64_t>(turns.size());
        a.stats.prefix_tokens_computed += static_cast<int64_t>(turns.size());
        a.stats.prefill_ms += MsSince(t1);
      }
    }
    FOLIO_ASSIGN_OR_RETURN(auto q_ids, tok.Encode(full.substr(base.size()), false));
    const auto t2 = Clock::now();
    FOLIO_RETURN_IF_ERROR(session_->Append(q_ids));
    a.stats.prefill_ms += MsSince(t2);
    a.stats.question_tokens = static_cast<int64_t>(q_ids.size());
    FOLIO_RETURN_IF_ERROR(Generate(on_piece, stop, &a));
    Judge(state->docs, state->prompt, &a);
    FOLIO_ASSIGN_OR_RETURN(state->snapshot, session_->Snapshot());
    state->messages = history.size() + 2;
  }

  // Store the turn. The first user message records the context for a later reopen.
  nlohmann::json user_meta = {{"doc_ids", doc_ids}, {"mode", AnswerModeName(a.mode)}};
  if (model_ && chats_.count(conversation_id)) {
    std::vector<int64_t> chunk_ids;
    for (const auto& b : chats_[conversation_id]->prompt.blocks)
      if (b.chunk_id) chunk_ids.push_back(b.chunk_id);
    user_meta["chunk_ids"] = chunk_ids;
  }
  FOLIO_RETURN_IF_ERROR(
      library_.AppendMessage(conversation_id, "user", question, user_meta.dump()).status());
  nlohmann::json answer_meta = {{"in_context", a.in_context},
                                {"mode", AnswerModeName(a.mode)},
                                {"stopped", a.stopped},
                                {"citations", nlohmann::json::parse(CitationsJson(a))}};
  FOLIO_RETURN_IF_ERROR(
      library_
          .AppendMessage(conversation_id, "assistant", a.text,
                         answer_meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
          .status());
  // Bound the memory of chat states: keep the most recent few conversations.
  while (chats_.size() > kChatStatesKept) {
    auto victim = chats_.begin();
    if (victim->first == conversation_id) ++victim;
    chats_.erase(victim);
  }
  return a;
}

}  // namespace folio::assistant
