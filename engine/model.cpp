#include "engine/model.h"

#include <cmath>
#include <string>

namespace folio {
namespace {

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The tensor `name`, which must exist, hold a float dtype and have shape `shape`.
Result<TensorView> Need(const Checkpoint& ckpt, const std::string& name,
                        const std::vector<int64_t>& shape) {
  if (!ckpt.Has(name)) return NotFound("tensor " + name + " is missing from the checkpoint");
  FOLIO_ASSIGN_OR_RETURN(TensorView t, ckpt.Get(name));
  if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16) {
    return Unsupported("tensor " + name + " has dtype " + std::string(DTypeName(t.dtype)) +
                       "; weights must be F32, F16 or BF16");
  }
  if (t.shape != shape) {
    return Corrupt("tensor " + name + " has shape " + t.ShapeString() + " but the config implies " +
                   ShapeStr(shape));
  }
  return t;
}

std::vector<float> ToF32Vector(const TensorView& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  t.ToF32(0, t.numel(), v.data());
  return v;
}

Result<MlpWeights> BindMlp(const Checkpoint& ckpt, const std::string& p, const ModelConfig& c) {
  MlpWeights w;
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  FOLIO_ASSIGN_OR_RETURN(w.gate, Need(ckpt, p + "gate_proj.weight", {I, H}));
  FOLIO_ASSIGN_OR_RETURN(w.up, Need(ckpt, p + "up_proj.weight", {I, H}));
  FOLIO_ASSIGN_OR_RETURN(w.down, Need(ckpt, p + "down_proj.weight", {H, I}));
  return w;
}

Result<MoEWeights> BindMoE(const Checkpoint& ckpt, const std::string& p, const ModelConfig& c) {
  MoEWeights w;
  FOLIO_ASSIGN_OR_RETURN(w.router, Need(ckpt, p + "router.weight", {c.num_experts, c.hidden_size}));
  for (int64_t e = 0; e < c.num_experts; ++e) {
    FOLIO_ASSIGN_OR_RETURN(MlpWeights ex,
                           BindMlp(ckpt, p + "experts." + std::to_string(e) + ".", c));
    w.experts.push_back(std::move(ex));
  }
  return w;
}

Result<AttentionWeights> BindAttention(const Checkpoint& ckpt, const std::string& p,
                                       const ModelConfig& c) {
  AttentionWeights w;
  const int64_t H = c.hidden_size, q = c.num_attention_heads * c.head_dim(),
                kv = c.num_key_value_heads * c.head_dim();
  FOLIO_ASSIGN_OR_RETURN(w.q, Need(ckpt, p + "q_proj.weight", {q, H}));
  FOLIO_ASSIGN_OR_RETURN(w.k, Need(ckpt, p + "k_proj.weight", {kv, H}));
  FOLIO_ASSIGN_OR_RETURN(w.v, Need(ckpt, p + "v_proj.weight", {kv, H}));
  FOLIO_ASSIGN_OR_RETURN(w.o, Need(ckpt, p + "o_proj.weight", {H, q}));
  return w;
}

// conv1d.weight is [d_inner, 1, d_conv] in published checkpoints; [d_inner, d_conv] is
// accepted too.
Result<TensorView> NeedConvWeight(const Checkpoint& ckpt, const std::string& name,
                                  const ModelConfig& c) {
  const int64_t Dn = c.d_inner(), K = c.mamba_d_conv;
  if (ckpt.Has(name)) {
    FOLIO_ASSIGN_OR_RETURN(TensorView t, ckpt.Get(name));
    if (t.rank() == 2) return Need(ckpt, name, {Dn, K});
  }
  return Need(ckpt, name, {Dn, 1, K});
}

Result<MambaWeights> BindMamba(const Checkpoint& ckpt, const std::string& p,
                               const ModelConfig& c) {
  MambaWeights w;
  const int64_t H = c.hidden_size, Dn = c.d_inner(), N = c.mamba_d_state, R = c.mamba_dt_rank;
  FOLIO_ASSIGN_OR_RETURN(w.in_proj, Need(ckpt, p + "in_proj.weight", {2 * Dn, H}));
  FOLIO_ASSIGN_OR_RETURN(w.x_proj, Need(ckpt, p + "x_proj.weight", {R + 2 * N, Dn}));
  FOLIO_ASSIGN_OR_RETURN(w.dt_proj, Need(ckpt, p + "dt_proj.weight", {Dn, R}));
  FOLIO_ASSIGN_OR_RETURN(w.dt_proj_bias, Need(ckpt, p + "dt_proj.bias", {Dn}));
  FOLIO_ASSIGN_OR_RETURN(w.out_proj, Need(ckpt, p + "out_proj.weight", {H, Dn}));
  if (c.mamba_proj_bias) {
    FOLIO_ASSIGN_OR_RETURN(w.in_proj_bias, Need(ckpt, p + "in_proj.bias", {2 * Dn}));
    FOLIO_ASSIGN_OR_RETURN(w.out_proj_bias, Need(ckpt, p + "out_proj.bias", {H}));
  }
  FOLIO_ASSIGN_OR_RETURN(w.dt_norm, Need(ckpt, p + "dt_layernorm.weight", {R}));
  FOLIO_ASSIGN_OR_RETURN(w.b_norm, Need(ckpt, p + "b_layernorm.weight", {N}));
  FOLIO_ASSIGN_OR_RETURN(w.c_norm, Need(ckpt, p + "c_layernorm.weight", {N}));
  FOLIO_ASSIGN_OR_RETURN(TensorView a_log, Need(ckpt, p + "A_log", {Dn, N}));
  w.A = ToF32Vector(a_log);
  for (float& a : w.A) a = -std::exp(a);
  FOLIO_ASSIGN_OR_RETURN(TensorView conv_w, NeedConvWeight(ckpt, p + "conv1d.weight", c));
  w.conv_w = ToF32Vector(conv_w);
  if (c.mamba_conv_bias) {
    FOLIO_ASSIGN_OR_RETURN(TensorView conv_b, Need(ckpt, p + "conv1d.bias", {Dn}));
    w.conv_b = ToF32Vector(conv_b);
  }
  FOLIO_ASSIGN_OR_RETURN(TensorView d, Need(ckpt, p + "D", {Dn}));
  w.D = ToF32Vector(d);
  return w;
}

Result<LayerWeights> BindLayer(const Checkpoint& ckpt, int64_t i, const LayerPlan& plan) {
  const ModelConfig& c = ckpt.config();
  const std::string p = "model.layers." + std::to_string(i) + ".";
  LayerWeights w;
  w.plan = plan;
  FOLIO_ASSIGN_OR_RETURN(w.input_norm, Need(ckpt, p + "input_layernorm.weight", {c.hidden_size}));
  FOLIO_ASSIGN_OR_RETURN(w.pre_ff_norm,
                         Need(ckpt, p + "pre_ff_layernorm.weight", {c.hidden_size}));
  if (plan.mixer == MixerKind::kAttention) {
    FOLIO_ASSIGN_OR_RETURN(w.attn, BindAttention(ckpt, p + "self_attn.", c));
  } else {
    FOLIO_ASSIGN_OR_RETURN(w.mamba, BindMamba(ckpt, p + "mamba.", c));
  }
  if (plan.mlp == MlpKind::kMoE) {
    FOLIO_ASSIGN_OR_RETURN(w.moe, BindMoE(ckpt, p + "feed_forward.", c));
  } else {
    FOLIO_ASSIGN_OR_RETURN(w.mlp, BindMlp(ckpt, p + "feed_forward.", c));
  }
  return w;
}

}  // namespace

Result<JambaWeights> JambaWeights::Bind(const Checkpoint& ckpt) {
  const ModelConfig& c = ckpt.config();
  if (c.hidden_size % c.num_attention_heads != 0 ||
      c.num_attention_heads % c.num_key_value_heads != 0) {
    return Corrupt("config: num_attention_heads must divide hidden_size and be a multiple of "
                   "num_key_value_heads");
  }
  JambaWeights w;
  const int64_t V = c.vocab_size, H = c.hidden_size;
  FOLIO_ASSIGN_OR_RETURN(w.embed, Need(ckpt, "model.embed_tokens.weight", {V, H}));
  FOLIO_ASSIGN_OR_RETURN(w.final_norm, Need(ckpt, "model.final_layernorm.weight", {H}));
  if (c.tie_word_embeddings && !ckpt.Has("lm_head.weight")) {
    w.lm_head = w.embed;
  } else {
    FOLIO_ASSIGN_OR_RETURN(w.lm_head, Need(ckpt, "lm_head.weight", {V, H}));
  }
  const std::vector<LayerPlan> plan = c.Plan();
  for (int64_t i = 0; i < static_cast<int64_t>(plan.size()); ++i) {
    FOLIO_ASSIGN_OR_RETURN(LayerWeights layer, BindLayer(ckpt, i, plan[static_cast<size_t>(i)]));
    w.layers.push_back(std::move(layer));
  }
  return w;
}

}  // namespace folio
