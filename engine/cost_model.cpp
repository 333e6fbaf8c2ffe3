#include "engine/cost_model.h"

#include <cstdio>

namespace folio {
namespace {

struct Shapes {
  int64_t h, di, n, r, kvd, qd, I, V;
};
Shapes ShapesOf(const ModelConfig& c) {
  return {c.hidden_size,
          c.d_inner(),
          c.mamba_d_state,
          c.mamba_dt_rank,
          c.num_key_value_heads * c.head_dim(),
          c.num_attention_heads * c.head_dim(),
          c.intermediate_size,
          c.vocab_size};
}

// Elements of the matrices one token multiplies through, per layer kind (no experts).
int64_t MambaMatrixElems(const Shapes& s) {
  return s.h * 2 * s.di + s.di * (s.r + 2 * s.n) + s.r * s.di + s.di * s.h;
}
int64_t AttentionMatrixElems(const Shapes& s) {
  return 2 * s.h * s.qd + 2 * s.h * s.kvd;
}
int64_t SwiGluElems(const Shapes& s) {
  return 3 * s.h * s.I;
}

// Bytes of one expert (or dense MLP) as stored.
double SwiGluBytes(const Shapes& s, const CostOptions& o, bool expert) {
  if (expert && o.experts_int8) return SwiGluElems(s) + 4.0 * (2 * s.I + s.h);  // + row scales
  return static_cast<double>(SwiGluElems(s)) * o.weight_bytes;
}

// Small per-layer vectors (norms, conv, A, D, biases), float32 on the device or as stored:
// counted at 4 bytes, they are < 0.1% of any real model.
double MambaSmallBytes(const ModelConfig& c, const Shapes& s) {
  return 4.0 * (s.di * c.mamba_d_conv + s.di + s.di + s.di * s.n + s.di + s.r + 2 * s.n);
}

}  // namespace

HardwareFloor HardwareFloor::H200() {
  return {"H200 (JAMBA.md: 4.3 TB/s copy, 790 TFLOP/s bf16)", 4.3e12, 790e12};
}

ModelCost CountModelCost(const ModelConfig& c, const CostOptions& o) {
  const Shapes s = ShapesOf(c);
  ModelCost m;
  double w = static_cast<double>(s.V) * s.h * o.weight_bytes * (c.tie_word_embeddings ? 1 : 2) +
             4.0 * s.h;
  double experts = 0;
  int64_t attn_layers = 0;
  for (const LayerPlan& l : c.Plan()) {
    w += 8.0 * s.h;  // two norms
    if (l.mixer == MixerKind::kAttention) {
      ++attn_layers;
      w += static_cast<double>(AttentionMatrixElems(s)) * o.weight_bytes;
    } else {
      w += static_cast<double>(MambaMatrixElems(s)) * o.weight_bytes + MambaSmallBytes(c, s);
      m.mamba_state_bytes +=
          static_cast<uint64_t>(4 * s.di * (c.mamba_d_conv - 1) + 4 * s.di * s.n);
    }
    if (l.mlp == MlpKind::kMoE) {
      w += static_cast<double>(c.num_experts) * s.h * o.weight_bytes;  // router
      experts += c.num_experts * SwiGluBytes(s, o, true);
    } else {
      w += SwiGluBytes(s, o, false);
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
      bytes += static_cast<double>(AttentionMatrixElems(s)) * o.weight_bytes;
      bytes += 2.0 * s.kvd * o.kv_bytes * static_cast<double>(context + 1);  // K and V
    } else {
      bytes += static_cast<double>(MambaMatrixElems(s)) * o.weight_bytes + MambaSmallBytes(c, s);
      bytes += 2.0 * 4 * (s.di * (c.mamba_d_conv - 1) + s.di * s.n);  // state in and out
    }
    if (l.mlp == MlpKind::kMoE) {
      bytes += static_cast<double>(c.num_experts) * s.h * o.weight_bytes;
      bytes += k * SwiGluBytes(s, o, true);
    } else {
      bytes += SwiGluBytes(s, o, false);
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
      per_token += 2.0 * AttentionMatrixElems(s);
      // Scores and weighted values: 2 x 2 x head_dim per (query head, key); query t sees
      // past + t + 1 keys, so sum_t (past + t + 1) = T * past + T (T + 1) / 2.
      const double keys = T * static_cast<double>(past) + T * (T + 1) / 2;
      attention += 4.0 * s.qd * keys;
    } else {
      per_token += 2.0 * MambaMatrixElems(s);
      per_token += 7.0 * s.di * s.n + 2.0 * s.di * c.mamba_d_conv;  // scan + conv
    }
    if (l.mlp == MlpKind::kMoE) {
      per_token += 2.0 * c.num_experts * s.h + 2.0 * k * SwiGluElems(s);
    } else {
      per_token += 2.0 * SwiGluElems(s);
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
