// Model configuration from config.json (JambaForCausalLM, model_type "jamba").
// Every key of ../shared/docs/JAMBA.md, with the published defaults where a config
// omits them; absurd or contradictory values are rejected with the key named.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace folio {

enum class MixerKind : uint8_t { kMamba, kAttention };
enum class MlpKind : uint8_t { kDense, kMoE };

struct LayerPlan {
  MixerKind mixer;
  MlpKind mlp;
};

struct ModelConfig {
  std::string architecture = "JambaForCausalLM";  // architectures[0]
  std::string model_type = "jamba";
  int64_t vocab_size = 65536;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 14336;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 8;
  int64_t attn_layer_period = 8;
  int64_t attn_layer_offset = 4;
  int64_t expert_layer_period = 2;
  int64_t expert_layer_offset = 1;
  int64_t num_experts = 16;
  int64_t num_experts_per_tok = 2;
  int64_t mamba_d_state = 16;
  int64_t mamba_d_conv = 4;
  int64_t mamba_expand = 2;
  int64_t mamba_dt_rank = 256;  // "auto" in a config means ceil(hidden_size / 16)
  bool mamba_conv_bias = true;
  bool mamba_proj_bias = false;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 262144;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;        // first of eos_token_id when it is a list
  std::vector<int64_t> eos_token_ids;  // all of them
  int64_t pad_token_id = 0;
  std::string torch_dtype = "bfloat16";  // "dtype" (newer) or "torch_dtype" (older)

  // Derived.
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t d_inner() const { return mamba_expand * hidden_size; }
  bool IsAttentionLayer(int64_t i) const { return i % attn_layer_period == attn_layer_offset; }
  bool IsMoELayer(int64_t i) const {
    return num_experts > 1 && i % expert_layer_period == expert_layer_offset;
  }
  std::vector<LayerPlan> Plan() const;
  // "MMAMMMAM"-style summary with MoE marked, e.g. "M A M+ ..." (for `info`).
  std::string PlanString() const;
  // Parameters of one layer's parts, from shapes: the Mamba mixer's four projections, the
  // rest of the mixer (conv, biases, A_log, D, inner norms), attention's q/k/v/o, and one
  // SwiGLU MLP (dense, or one expert).
  int64_t MambaProjectionParameters() const;
  int64_t MambaOtherParameters() const;
  int64_t AttentionParameters() const;
  int64_t SwiGluParameters() const;
  // Parameter count from shapes alone (all experts), and active per token.
  int64_t ParameterCount() const;
  int64_t ActiveParameterCount() const;
};

// Parses and validates config.json text. `display_name` is used in messages.
Result<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& display_name);
// Reads DIR/config.json.
Result<ModelConfig> LoadModelConfig(const std::string& dir);

}  // namespace folio
