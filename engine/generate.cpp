// Streaming generation. See generate.h.
#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace folio {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool Cancelled(const GenerateParams& p) {
  return p.cancel && p.cancel->load(std::memory_order_relaxed);
}

// Prefills in the session's chunk size so that a cancel lands between chunks.
Status Prefill(Session& s, std::span<const int64_t> ids, const GenerateParams& p, bool* cancelled) {
  if (s.position() + static_cast<int64_t>(ids.size()) > s.max_context()) {
    return ResourceExhausted(
        "context exceeded (" + std::to_string(s.position() + static_cast<int64_t>(ids.size())) +
        " / " + std::to_string(s.max_context()) + " tokens): shorten the prompt or the documents");
  }
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(1, s.prefill_chunk()));
  for (size_t at = 0; at < ids.size(); at += chunk) {
    if (Cancelled(p)) {
      *cancelled = true;
      return Status::Ok();
    }
    FOLIO_RETURN_IF_ERROR(s.Append(ids.subspan(at, std::min(chunk, ids.size() - at))));
  }
  return Status::Ok();
}

}  // namespace

const char* StopReasonName(StopReason r) {
  switch (r) {
    case StopReason::kStopToken:
      return "end of turn";
    case StopReason::kMaxTokens:
      return "token limit";
    case StopReason::kCallback:
      return "stopped by the reader";
    case StopReason::kCancelled:
      return "cancelled";
    case StopReason::kContextFull:
      return "context full";
  }
  return "?";
}

Result<GenerateStats> Generate(Session& session, const Tokenizer& tok,
                               std::span<const int64_t> prompt_ids, const GenerateParams& params,
                               const OnPiece& on_piece) {
  FOLIO_RETURN_IF_ERROR(ValidateSamplingParams(params.sampling));
  if (params.max_new_tokens < 0) return InvalidArgument("max_new_tokens must be >= 0");
  if (prompt_ids.empty() && session.position() == 0)
    return InvalidArgument("nothing to continue: the prompt is empty");
  const auto t_call = Clock::now();
  GenerateStats st;
  bool cancelled = false;
  FOLIO_RETURN_IF_ERROR(Prefill(session, prompt_ids, params, &cancelled));
  st.prompt_tokens = static_cast<int64_t>(prompt_ids.size());
  st.prefill_ms = MsSince(t_call);
  if (cancelled) {
    st.reason = StopReason::kCancelled;
    return st;
  }

  Sampler sampler(params.sampling);
  IncrementalDetokenizer detok(tok);
  const auto t_decode = Clock::now();
  auto emit = [&](const std::string& piece) {
    if (piece.empty()) return true;
    if (st.first_piece_ms == 0) st.first_piece_ms = MsSince(t_call);
    return !on_piece || on_piece(piece);
  };
  st.reason = StopReason::kMaxTokens;
  for (int64_t i = 0; i < params.max_new_tokens; ++i) {
    if (Cancelled(params)) {
      st.reason = StopReason::kCancelled;
      break;
    }
    if (session.last_logits().empty()) return Internal("the session has no logits to sample from");
    const int64_t id = sampler.Sample(session.last_logits(), session.tokens());
    if (std::find(params.stop_ids.begin(), params.stop_ids.end(), id) != params.stop_ids.end()) {
      st.reason = StopReason::kStopToken;
      break;
    }
    FOLIO_ASSIGN_OR_RETURN(std::string piece, detok.Push(id));
    st.ids.push_back(id);
    ++st.new_tokens;
    st.pending_id = id;
    if (!emit(piece)) {
      st.reason = StopReason::kCallback;
      break;
    }
    if (i + 1 == params.max_new_tokens) break;  // no need to run the model for the last id
    if (session.position() >= session.max_context()) {
      st.reason = StopReason::kContextFull;
      break;
    }
    FOLIO_RETURN_IF_ERROR(session.Step(id));
    st.pending_id = -1;
  }
  emit(detok.Finish());  // bytes of a character cut off by the stop, as U+FFFD
  st.decode_ms = MsSince(t_decode);
  if (st.decode_ms > 0)
    st.decode_tokens_per_s = 1000.0 * static_cast<double>(st.new_tokens) / st.decode_ms;
  return st;
}

}  // namespace folio
