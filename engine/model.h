// The Jamba model's weights bound by name from a Checkpoint, layer by layer, following
// the layer plan of the config (any attention/expert period and offset). Large weights
// are zero-copy TensorViews in their stored dtype; the few small per-channel tensors the
// Mamba mixer reads on every token (A = -exp(A_log), conv weights and bias, D) are
// converted to float32 once here.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace folio {

// SwiGLU MLP: down(silu(gate(x)) * up(x)).
struct MlpWeights {
  TensorView gate;  // [intermediate, hidden]
  TensorView up;    // [intermediate, hidden]
  TensorView down;  // [hidden, intermediate]
};

struct MoEWeights {
  TensorView router;                // [num_experts, hidden]
  std::vector<MlpWeights> experts;  // num_experts
};

struct AttentionWeights {
  TensorView q;  // [n_heads * head_dim, hidden]
  TensorView k;  // [n_kv_heads * head_dim, hidden]
  TensorView v;  // [n_kv_heads * head_dim, hidden]
  TensorView o;  // [hidden, n_heads * head_dim]
};

struct MambaWeights {
  TensorView in_proj;       // [2 * d_inner, hidden]
  TensorView in_proj_bias;  // [2 * d_inner] when mamba_proj_bias, else data == nullptr
  TensorView x_proj;        // [dt_rank + 2 * d_state, d_inner]
  TensorView dt_proj;       // [d_inner, dt_rank]
  TensorView dt_proj_bias;  // [d_inner]
  TensorView out_proj;      // [hidden, d_inner]
  TensorView out_proj_bias; // [hidden] when mamba_proj_bias, else data == nullptr
  TensorView dt_norm;       // [dt_rank]
  TensorView b_norm;        // [d_state]
  TensorView c_norm;        // [d_state]
  std::vector<float> A;       // [d_inner, d_state] = -exp(A_log)
  std::vector<float> conv_w;  // [d_inner, d_conv]  (conv1d.weight [d_inner, 1, d_conv])
  std::vector<float> conv_b;  // [d_inner], empty without mamba_conv_bias
  std::vector<float> D;       // [d_inner]
};

struct LayerWeights {
  LayerPlan plan;
  TensorView input_norm;   // [hidden]
  TensorView pre_ff_norm;  // [hidden]
  MambaWeights mamba;      // when plan.mixer == kMamba
  AttentionWeights attn;   // when plan.mixer == kAttention
  MlpWeights mlp;          // when plan.mlp == kDense
  MoEWeights moe;          // when plan.mlp == kMoE
};

struct JambaWeights {
  TensorView embed;       // [vocab, hidden]
  TensorView final_norm;  // [hidden]
  TensorView lm_head;     // [vocab, hidden] (the embedding when tie_word_embeddings)
  std::vector<LayerWeights> layers;

  // Binds every tensor the plan needs, checking each shape against the config; a missing
  // tensor or a wrong shape is an error naming the tensor. The checkpoint must outlive
  // the result.
  static Result<JambaWeights> Bind(const Checkpoint& checkpoint);
};

}  // namespace folio
