// Picks the next token id from a row of logits: greedy, temperature, top-k, top-p and a
// repetition penalty, with a seeded generator so a run can be repeated exactly.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "engine/status.h"

namespace folio {

struct SamplingParams {
  bool greedy = false;              // argmax (after the repetition penalty); ignores the rest
  float temperature = 1.0f;         // > 0; 0 also means greedy
  int64_t top_k = 0;                // keep the k most likely; 0 = off
  float top_p = 1.0f;               // keep the smallest set with mass >= p; 1 = off; (0, 1]
  float repetition_penalty = 1.0f;  // > 0; 1 = off; > 1 makes already-seen ids less likely
  int64_t repetition_window = 0;    // only the last N ids of the history count; 0 = all
  uint64_t seed = 0;                // same seed + same logits = same ids
};

// InvalidArgument naming the field when a value is out of range.
Status ValidateSamplingParams(const SamplingParams& params);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Chooses an id in [0, logits.size()). `history` holds the ids so far (the repetition
  // penalty divides positive logits of those ids by the penalty and multiplies negative
  // ones, as in CTRL and Hugging Face). Ties in greedy go to the lowest id.
  int64_t Sample(std::span<const float> logits, std::span<const int64_t> history);

  void Reseed(uint64_t seed) { rng_.seed(seed); }
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> work_;                      // penalised logits, [vocab]
  std::vector<std::pair<float, int64_t>> cand_;  // candidates (prob, id)
};

}  // namespace folio
