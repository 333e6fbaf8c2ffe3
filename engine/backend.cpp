#include "engine/backend.h"

namespace folio {

const char* ProfilePartName(ProfilePart part) {
  switch (part) {
    case ProfilePart::kEmbedding: return "embedding";
    case ProfilePart::kNorms: return "norms";
    case ProfilePart::kMamba: return "mamba";
    case ProfilePart::kAttention: return "attention";
    case ProfilePart::kDenseGemm: return "dense_gemm";
    case ProfilePart::kMoE: return "moe";
    case ProfilePart::kLmHead: return "lm_head";
    case ProfilePart::kSampling: return "sampling";
    case ProfilePart::kOther: return "other";
    case ProfilePart::kCount: break;
  }
  return "?";
}

void ForwardProfile::Add(const ForwardProfile& other) {
  for (size_t i = 0; i < kProfileParts; ++i) ms[i] += other.ms[i];
  if (layer_ms.size() < other.layer_ms.size()) layer_ms.resize(other.layer_ms.size());
  for (size_t l = 0; l < other.layer_ms.size(); ++l)
    for (size_t i = 0; i < kProfileParts; ++i) layer_ms[l][i] += other.layer_ms[l][i];
  forwards += other.forwards;
  tokens += other.tokens;
  total_ms += other.total_ms;
}

}  // namespace folio
