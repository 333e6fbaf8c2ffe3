// Streaming generation on a Session: prefill the prompt, then sample, detokenize and
// hand each complete text piece to a callback as soon as it exists.
//
//   GenerateParams p;
//   p.stop_ids = chat.StopIds(tok);              // eos and the template's end of turn
//   p.cancel = &stop_flag;                       // may be set from any thread
//   auto stats = Generate(session, tok, prompt_ids, p, [&](std::string_view piece) {
//     std::fwrite(piece.data(), 1, piece.size(), stdout);
//     return true;                               // false stops after this piece
//   });
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "engine/session.h"
#include "engine/status.h"
#include "engine/tokenizer.h"

namespace folio {

struct GenerateParams {
  SamplingParams sampling;                    // greedy, temperature, top-k/p, penalty, seed
  int64_t max_new_tokens = 256;               // most ids to sample (>= 0)
  std::vector<int64_t> stop_ids;              // sampling one of these ends the answer; not shown
  const std::atomic<bool>* cancel = nullptr;  // checked before every prefill chunk and step
};

enum class StopReason : uint8_t {
  kStopToken,    // sampled one of stop_ids
  kMaxTokens,    // max_new_tokens reached
  kCallback,     // on_piece returned false
  kCancelled,    // *cancel was set
  kContextFull,  // the session has no room for another token
};
const char* StopReasonName(StopReason r);

struct GenerateStats {
  int64_t prompt_tokens = 0;  // ids prefilled by this call
  double prefill_ms = 0;
  int64_t new_tokens = 0;          // ids sampled and shown (stop ids not counted)
  double decode_ms = 0;            // from the first sample to the end
  double decode_tokens_per_s = 0;  // new_tokens / decode time
  double first_piece_ms = 0;       // from the call to the first non-empty piece (0: none)
  StopReason reason = StopReason::kMaxTokens;
  std::vector<int64_t> ids;  // the new ids, in order
  // The last id of `ids` when the session has not consumed it (generation stopped right
  // after sampling it); -1 when the session holds every id. A chat that goes on Steps it.
  int64_t pending_id = -1;
};

// Called with each piece of text, always complete UTF-8; return false to stop.
using OnPiece = std::function<bool(std::string_view piece)>;

// Prefills `prompt_ids` (may be empty when the session already holds a prompt), then
// decodes. Errors: ids out of range (InvalidArgument), a prompt that does not fit the
// context (ResourceExhausted "context exceeded (n / max)"), backend failures. Stopping
// for any StopReason is not an error.
Result<GenerateStats> Generate(Session& session, const Tokenizer& tok,
                               std::span<const int64_t> prompt_ids, const GenerateParams& params,
                               const OnPiece& on_piece);

}  // namespace folio
