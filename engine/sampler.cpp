#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace folio {
namespace {

// Higher logit first; equal logits: lower id first (so results do not depend on sort
// stability).
bool Before(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

int64_t ArgMax(const std::vector<float>& v) {
  int64_t best = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(v.size()); ++i) {
    if (v[static_cast<size_t>(i)] > v[static_cast<size_t>(best)]) best = i;
  }
  return best;
}

}  // namespace

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return InvalidArgument("temperature must be a finite number >= 0 (got " +
                           std::to_string(p.temperature) + ")");
  }
  if (p.top_k < 0) return InvalidArgument("top_k must be >= 0 (got " + std::to_string(p.top_k) + ")");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return InvalidArgument("top_p must be in (0, 1] (got " + std::to_string(p.top_p) + ")");
  }
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    return InvalidArgument("repetition_penalty must be a finite number > 0 (got " +
                           std::to_string(p.repetition_penalty) + ")");
  }
  if (p.repetition_window < 0) return InvalidArgument("repetition_window must be >= 0");
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int64_t Sampler::Sample(std::span<const float> logits, std::span<const int64_t> history) {
  const int64_t V = static_cast<int64_t>(logits.size());
  if (V == 0) return 0;
  work_.assign(logits.begin(), logits.end());

  // Repetition penalty, once per distinct id of the window.
  if (params_.repetition_penalty != 1.0f && !history.empty()) {
    size_t from = 0;
    if (params_.repetition_window > 0 &&
        history.size() > static_cast<size_t>(params_.repetition_window)) {
      from = history.size() - static_cast<size_t>(params_.repetition_window);
    }
    std::vector<int64_t> seen(history.begin() + static_cast<std::ptrdiff_t>(from), history.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int64_t id : seen) {
      if (id < 0 || id >= V) continue;
      float& l = work_[static_cast<size_t>(id)];
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
  }
  if (params_.greedy || params_.temperature == 0.0f) return ArgMax(work_);

  // Candidates, best first: all ids, or the top_k.
  cand_.resize(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; ++i) cand_[static_cast<size_t>(i)] = {work_[static_cast<size_t>(i)], i};
  int64_t keep = V;
  if (params_.top_k > 0 && params_.top_k < V) {
    keep = params_.top_k;
    std::nth_element(cand_.begin(), cand_.begin() + keep - 1, cand_.end(), Before);
    cand_.resize(static_cast<size_t>(keep));
  }
  std::sort(cand_.begin(), cand_.end(), Before);

  // Softmax of logit / temperature over the candidates (in place: first = probability).
  const double inv_t = 1.0 / params_.temperature, top = cand_[0].first;
  double sum = 0;
  for (auto& c : cand_) sum += (c.first = static_cast<float>(std::exp((c.first - top) * inv_t)));
  // Top-p: the smallest prefix whose mass reaches top_p (at least one id).
  double mass = 0;
  int64_t n = 0;
  for (; n < keep; ++n) {
    mass += cand_[static_cast<size_t>(n)].first / sum;
    if (mass >= params_.top_p) {
      ++n;
      break;
    }
  }
  n = std::clamp<int64_t>(n, 1, keep);
  double kept = 0;
  for (int64_t i = 0; i < n; ++i) kept += cand_[static_cast<size_t>(i)].first;

  // u in [0, kept) from 53 random bits (portable, unlike std::uniform_real_distribution).
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * kept;
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc += cand_[static_cast<size_t>(i)].first;
    if (u < acc) return cand_[static_cast<size_t>(i)].second;
  }
  return cand_[static_cast<size_t>(n - 1)].second;
}

}  // namespace folio
