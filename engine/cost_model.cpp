#include "engine/cost_model.h"

#include <cstdio>

namespace folio {
namespace {

struct Shapes {
  int64_t h, di, n, kvd, qd, V;
};
Shapes ShapesOf(const ModelConfig& c) {
  return {c.hidden_size,
          c.d_inner(),
          c.mamba_d_state,
          c.num_key_value_heads * c.head_dim(),
          c.num_attention_heads * c.head_dim(),
          c.vocab_size};
}

// One Mamba layer's per-sequence state, float32: conv [d_inner, d_conv - 1] + SSM
// [d_inner, d_state].
double MambaStateBytes(const ModelConfig& c) {
  return 4.0 * static_cast<double>(c.d_inner() * (c.mamba_d_conv - 1 + c.mamba_d_state));
}

// Bytes of one expert (or dense MLP) as stored.
double SwiGluBytes(const ModelConfig& c, const CostOptions& o, bool expert) {
  const double elems = static_cast<double>(c.SwiGluParameters());
  if (expert && o.experts_int8) return elems + 4.0 * (2 * c.intermediate_size + c.hidden_size);
  return elems * o.weight_bytes;
}

// The Mamba mixer's small tensors (conv, biases, A, D, inner norms), float32 on the device
// or as stored: counted at 4 bytes, they are < 0.1% of any real model.
double MambaOtherBytes(const ModelConfig& c) {
  return 4.0 * static_cast<double>(c.MambaOtherParameters());
}

}  // namespace

HardwareFloor HardwareFloor::H200() {
  return {"H200 (JAMBA.md: 4.3 TB/s copy, 790 TFLOP/s bf16)", 4.3e12, 790e12};
}

ModelCost CountModelCost(const ModelConfig& c, const CostOptions& o) {
  const Shapes s = ShapesOf(c);
  ModelCost m;
  double w =
      static_cast<double>(s.V) * s.h * o.weight_bytes * (c.tie_word_embeddings ? 1 : 2) + 4.0 * s.h;
  double experts = 0;
  int64_t attn_layers = 0;
  for (const LayerPlan& l : c.Plan()) {
    w += 8.0 * s.h;  // two norms
    if (l.mixer == MixerKind::kAttention) {
      ++attn_layers;
      w += static_cast<double>(c.AttentionParameters()) * o.weight_bytes;
    } else {
      w += static_cast<double>(c.MambaProjectionParameters()) * o.weight_bytes + MambaOtherBytes(c);
      m.mamba_state_bytes += static_cast<uint64_t>(MambaStateBytes(c));
    }
    if (l.mlp == MlpKind::kMoE) {
      w += static_cast<double>(c.num_experts) * s.h * o.weight_bytes;  // router
      experts += c.num_experts * SwiGluBytes(c, o, true);
    } else {
      w += SwiGluBytes(c, o, false);
    }
  }
  m.expert_bytes = static_cast<uint64_t>(experts);
  m.weight_bytes = static_cast<uint64_t>(w + experts);
  m.kv_bytes_per_token = static_cast<uint64_t>(attn_layers * 2 * s.kvd * o.kv_bytes);
  return m;
}

double DecodeBytesPerToken(const ModelConfig& c, int64_t context, const CostOptions& o) {
  const Shapes s = ShapesOf(c);
  const int64_t k = std::min(c.num_experts_per_tok, c.num_experts);
  double bytes = static_cast<double>(s.V) * s.h * o.weight_bytes  // lm_head
                 + static_cast<double>(s.h) * o.weight_bytes;     // one embedding row
  for (const LayerPlan& l : c.Plan()) {
    if (l.mixer == MixerKind::kAttention) {
      bytes += static_cast<double>(c.AttentionParameters()) * o.weight_bytes;
      bytes += 2.0 * s.kvd * o.kv_bytes * static_cast<double>(context + 1);  // K and V
    } else {
      bytes +=
          static_cast<double>(c.MambaProjectionParameters()) * o.weight_bytes + MambaOtherBytes(c);
      bytes += 2.0 * MambaStateBytes(c);  // state in and out
    }
    if (l.mlp == MlpKind::kMoE) {
      bytes += static_cast<double>(c.num_experts) * s.h * o.weight_bytes;
      bytes += k * SwiGluBytes(c, o, true);
    } else {
      bytes += SwiGluBytes(c, o, false);
    }
  }
  return bytes;
}

double PrefillFlops(const ModelConfig& c, int64_t tokens, int64_t past) {
  const Shapes s = ShapesOf(c);
  const int64_t k = std::min(c.num_experts_per_tok, c.num_experts);
  const double T = static_cast<double>(tokens);
  double per_token = 0;
  double attention = 0;
  for (const LayerPlan& l : c.Plan()) {
    if (l.mixer == MixerKind::kAttention) {
      per_token += 2.0 * c.AttentionParameters();
      // Scores and weighted values: 2 x 2 x head_dim per (query head, key); query t sees
      // past + t + 1 keys, so sum_t (past + t + 1) = T * past + T (T + 1) / 2.
      const double keys = T * static_cast<double>(past) + T * (T + 1) / 2;
      attention += 4.0 * s.qd * keys;
    } else {
      per_token += 2.0 * c.MambaProjectionParameters();
      per_token += 7.0 * s.di * s.n + 2.0 * s.di * c.mamba_d_conv;  // scan + conv
    }
    if (l.mlp == MlpKind::kMoE) {
      per_token += 2.0 * c.num_experts * s.h + 2.0 * k * c.SwiGluParameters();
    } else {
      per_token += 2.0 * c.SwiGluParameters();
    }
  }
  // lm_head runs for the last position only (a prefill keeps no other logits).
  return per_token * T + attention + 2.0 * s.V * s.h;
}

int64_t LargestContext(const ModelConfig& c, uint64_t budget_bytes, uint64_t reserve_bytes,
                       const CostOptions& o) {
  const ModelCost m = CountModelCost(c, o);
  const uint64_t fixed = m.weight_bytes + reserve_bytes + m.mamba_state_bytes;
  if (budget_bytes <= fixed || m.kv_bytes_per_token == 0) return 0;
  return static_cast<int64_t>((budget_bytes - fixed) / m.kv_bytes_per_token);
}

std::string FormatGiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace folio
