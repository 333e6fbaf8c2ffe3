// config.json of JambaForCausalLM. Defaults are those of transformers' JambaConfig
// (they are Jamba-v0.1 / Jamba-1.5-Mini's shapes); every size is bounded so that shapes
// and parameter counts stay far inside int64 and a hostile config cannot ask for
// absurd allocations later.
#include "engine/config.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/json_strict.h"

namespace folio {
namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxConfigBytes = 4u << 20;  // published configs are ~1 KB

// Reads an optional integer key; absent or null keeps *out (the default).
Status GetInt(const Json& j, const char* key, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (it->is_number_integer() && !(it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX)) {
    *out = it->get<int64_t>();
    return Status::Ok();
  }
  return Corrupt(std::string(key) + " must be an integer, got " + it->dump());
}

Status GetBool(const Json& j, const char* key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_boolean())
    return Corrupt(std::string(key) + " must be true or false, got " + it->dump());
  *out = it->get<bool>();
  return Status::Ok();
}

Status GetDouble(const Json& j, const char* key, double* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_number()) return Corrupt(std::string(key) + " must be a number, got " + it->dump());
  *out = it->get<double>();
  return Status::Ok();
}

// Architecture: model_type "jamba" and/or architectures[0] "JambaForCausalLM".
Status ReadArchitecture(const Json& j, ModelConfig* c) {
  auto mt = j.find("model_type");
  auto ar = j.find("architectures");
  if (mt == j.end() && ar == j.end()) {
    return Unsupported("no model_type or architectures: not a Hugging Face model config");
  }
  if (mt != j.end()) {
    if (!mt->is_string()) return Corrupt("model_type must be a string, got " + mt->dump());
    c->model_type = mt->get<std::string>();
    if (c->model_type != "jamba") {
      return Unsupported("model_type '" + c->model_type +
                         "' is not supported (Folio runs Jamba checkpoints)");
    }
  }
  if (ar != j.end()) {
    if (!ar->is_array() || ar->empty() || !(*ar)[0].is_string()) {
      return Corrupt("architectures must be a list of names, got " + ar->dump());
    }
    c->architecture = (*ar)[0].get<std::string>();
    if (c->architecture != "JambaForCausalLM") {
      return Unsupported("architecture '" + c->architecture +
                         "' is not supported (Folio runs JambaForCausalLM checkpoints)");
    }
  }
  return Status::Ok();
}

// mamba_dt_rank: an integer or "auto" = ceil(hidden_size / 16). Absent means "auto".
Status ReadDtRank(const Json& j, ModelConfig* c) {
  auto it = j.find("mamba_dt_rank");
  if (it == j.end() || it->is_null() || (it->is_string() && it->get<std::string>() == "auto")) {
    c->mamba_dt_rank = (c->hidden_size + 15) / 16;
    return Status::Ok();
  }
  return GetInt(j, "mamba_dt_rank", &c->mamba_dt_rank);
}

// eos_token_id: an integer or a non-empty list of integers.
Status ReadEos(const Json& j, ModelConfig* c) {
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) {
    c->eos_token_ids = {c->eos_token_id};
    return Status::Ok();
  }
  if (it->is_array()) {
    if (it->empty()) return Corrupt("eos_token_id is an empty list");
    c->eos_token_ids.clear();
    for (const Json& e : *it) {
      if (!e.is_number_integer()) return Corrupt("eos_token_id holds a non-integer: " + e.dump());
      c->eos_token_ids.push_back(e.get<int64_t>());
    }
  } else {
    int64_t v = c->eos_token_id;
    FOLIO_RETURN_IF_ERROR(GetInt(j, "eos_token_id", &v));
    c->eos_token_ids = {v};
  }
  c->eos_token_id = c->eos_token_ids[0];
  return Status::Ok();
}

Status ReadDType(const Json& j, ModelConfig* c) {
  for (const char* key : {"dtype", "torch_dtype"}) {  // newer configs say dtype
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) return Corrupt(std::string(key) + " must be a string, got " + it->dump());
    c->torch_dtype = it->get<std::string>();
    return Status::Ok();
  }
  return Status::Ok();
}

Status ReadFields(const Json& j, ModelConfig* c) {
  struct IntKey {
    const char* key;
    int64_t* field;
  };
  const IntKey ints[] = {
      {"vocab_size", &c->vocab_size},
      {"hidden_size", &c->hidden_size},
      {"intermediate_size", &c->intermediate_size},
      {"num_hidden_layers", &c->num_hidden_layers},
      {"num_attention_heads", &c->num_attention_heads},
      {"num_key_value_heads", &c->num_key_value_heads},
      {"attn_layer_period", &c->attn_layer_period},
      {"attn_layer_offset", &c->attn_layer_offset},
      {"expert_layer_period", &c->expert_layer_period},
      {"expert_layer_offset", &c->expert_layer_offset},
      {"num_experts", &c->num_experts},
      {"num_experts_per_tok", &c->num_experts_per_tok},
      {"mamba_d_state", &c->mamba_d_state},
      {"mamba_d_conv", &c->mamba_d_conv},
      {"mamba_expand", &c->mamba_expand},
      {"max_position_embeddings", &c->max_position_embeddings},
      {"bos_token_id", &c->bos_token_id},
      {"pad_token_id", &c->pad_token_id},
  };
  for (const auto& k : ints) FOLIO_RETURN_IF_ERROR(GetInt(j, k.key, k.field));
  FOLIO_RETURN_IF_ERROR(GetBool(j, "mamba_conv_bias", &c->mamba_conv_bias));
  FOLIO_RETURN_IF_ERROR(GetBool(j, "mamba_proj_bias", &c->mamba_proj_bias));
  FOLIO_RETURN_IF_ERROR(GetBool(j, "tie_word_embeddings", &c->tie_word_embeddings));
  FOLIO_RETURN_IF_ERROR(GetDouble(j, "rms_norm_eps", &c->rms_norm_eps));
  FOLIO_RETURN_IF_ERROR(ReadDtRank(j, c));
  FOLIO_RETURN_IF_ERROR(ReadEos(j, c));
  return ReadDType(j, c);
}

Status CheckRange(const char* key, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    return Corrupt(std::string(key) + " = " + std::to_string(v) + " is out of range [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return Status::Ok();
}

// Sizes first (each bounded, so later products fit easily in int64), then the
// relations between them.
Status Validate(const ModelConfig& c) {
  FOLIO_RETURN_IF_ERROR(CheckRange("num_hidden_layers", c.num_hidden_layers, 1, 1024));
  FOLIO_RETURN_IF_ERROR(CheckRange("vocab_size", c.vocab_size, 1, int64_t{1} << 22));
  FOLIO_RETURN_IF_ERROR(CheckRange("hidden_size", c.hidden_size, 1, int64_t{1} << 16));
  FOLIO_RETURN_IF_ERROR(CheckRange("intermediate_size", c.intermediate_size, 1, int64_t{1} << 18));
  FOLIO_RETURN_IF_ERROR(CheckRange("num_attention_heads", c.num_attention_heads, 1, 1024));
  FOLIO_RETURN_IF_ERROR(CheckRange("num_key_value_heads", c.num_key_value_heads, 1, 1024));
  FOLIO_RETURN_IF_ERROR(CheckRange("num_experts", c.num_experts, 1, 1024));
  FOLIO_RETURN_IF_ERROR(CheckRange("num_experts_per_tok", c.num_experts_per_tok, 1, 1024));
  FOLIO_RETURN_IF_ERROR(CheckRange("attn_layer_period", c.attn_layer_period, 1, 1 << 20));
  FOLIO_RETURN_IF_ERROR(CheckRange("expert_layer_period", c.expert_layer_period, 1, 1 << 20));
  FOLIO_RETURN_IF_ERROR(CheckRange("mamba_d_state", c.mamba_d_state, 1, 1024));
  FOLIO_RETURN_IF_ERROR(CheckRange("mamba_d_conv", c.mamba_d_conv, 1, 64));
  FOLIO_RETURN_IF_ERROR(CheckRange("mamba_expand", c.mamba_expand, 1, 16));
  FOLIO_RETURN_IF_ERROR(CheckRange("mamba_dt_rank", c.mamba_dt_rank, 1, int64_t{1} << 16));
  FOLIO_RETURN_IF_ERROR(
      CheckRange("max_position_embeddings", c.max_position_embeddings, 1, int64_t{1} << 32));
  if (c.attn_layer_offset < 0 || c.attn_layer_offset >= c.attn_layer_period) {
    return Corrupt("attn_layer_offset = " + std::to_string(c.attn_layer_offset) +
                   " must be in [0, attn_layer_period = " + std::to_string(c.attn_layer_period) +
                   ")");
  }
  if (c.expert_layer_offset < 0 || c.expert_layer_offset >= c.expert_layer_period) {
    return Corrupt(
        "expert_layer_offset = " + std::to_string(c.expert_layer_offset) +
        " must be in [0, expert_layer_period = " + std::to_string(c.expert_layer_period) + ")");
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return Corrupt(
        "hidden_size = " + std::to_string(c.hidden_size) +
        " is not divisible by num_attention_heads = " + std::to_string(c.num_attention_heads));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return Corrupt(
        "num_attention_heads = " + std::to_string(c.num_attention_heads) +
        " is not divisible by num_key_value_heads = " + std::to_string(c.num_key_value_heads));
  }
  if (c.num_experts_per_tok > c.num_experts) {
    return Corrupt("num_experts_per_tok = " + std::to_string(c.num_experts_per_tok) +
                   " exceeds num_experts = " + std::to_string(c.num_experts));
  }
  if (!(c.rms_norm_eps > 0.0) || !(c.rms_norm_eps < 1.0)) {
    return Corrupt("rms_norm_eps = " + std::to_string(c.rms_norm_eps) + " must be in (0, 1)");
  }
  for (int64_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) {
      return Corrupt("eos_token_id " + std::to_string(id) +
                     " is outside the vocabulary (vocab_size = " + std::to_string(c.vocab_size) +
                     ")");
    }
  }
  return Status::Ok();
}

// Total over layers; `experts_counted` experts per MoE layer (all, or the active top-k).
int64_t CountParameters(const ModelConfig& c, int64_t experts_counted) {
  const int64_t h = c.hidden_size;
  int64_t p = c.vocab_size * h * (c.tie_word_embeddings ? 1 : 2) + h;  // embed, lm_head, final norm
  for (const LayerPlan& l : c.Plan()) {
    p += 2 * h;  // input_layernorm, pre_ff_layernorm
    p += l.mixer == MixerKind::kAttention
             ? c.AttentionParameters()
             : c.MambaProjectionParameters() + c.MambaOtherParameters();
    if (l.mlp == MlpKind::kMoE) {
      p += c.num_experts * h + experts_counted * c.SwiGluParameters();  // router + experts
    } else {
      p += c.SwiGluParameters();
    }
  }
  return p;
}

}  // namespace

std::vector<LayerPlan> ModelConfig::Plan() const {
  std::vector<LayerPlan> plan;
  plan.reserve(static_cast<size_t>(num_hidden_layers));
  for (int64_t i = 0; i < num_hidden_layers; ++i) {
    plan.push_back({IsAttentionLayer(i) ? MixerKind::kAttention : MixerKind::kMamba,
                    IsMoELayer(i) ? MlpKind::kMoE : MlpKind::kDense});
  }
  return plan;
}

std::string ModelConfig::PlanString() const {
  std::string s;
  for (const LayerPlan& l : Plan()) {
    if (!s.empty()) s += ' ';
    s += l.mixer == MixerKind::kAttention ? 'A' : 'M';
    if (l.mlp == MlpKind::kMoE) s += '+';
  }
  return s;
}

// Parameters of one layer's parts, from shapes (see JAMBA.md, "Checkpoint names").
int64_t ModelConfig::MambaProjectionParameters() const {
  const int64_t h = hidden_size, di = d_inner(), n = mamba_d_state, r = mamba_dt_rank;
  int64_t p = h * 2 * di;  // in_proj [2*d_inner, hidden]
  p += di * (r + 2 * n);   // x_proj [dt_rank + 2*d_state, d_inner]
  p += r * di;             // dt_proj [d_inner, dt_rank]
  p += di * h;             // out_proj [hidden, d_inner]
  return p;
}

int64_t ModelConfig::MambaOtherParameters() const {
  const int64_t h = hidden_size, di = d_inner(), n = mamba_d_state, r = mamba_dt_rank;
  int64_t p = di * mamba_d_conv + (mamba_conv_bias ? di : 0);  // conv1d [d_inner, 1, d_conv]
  p += di;                                                     // dt_proj bias
  p += di * n + di;                                            // A_log [d_inner, d_state], D
  if (mamba_proj_bias) p += 2 * di + h;
  p += r + 2 * n;  // dt/b/c layernorms
  return p;
}

int64_t ModelConfig::AttentionParameters() const {
  const int64_t h = hidden_size, kv = num_key_value_heads * head_dim();
  return 2 * h * h + 2 * h * kv;  // q, o [h, h]; k, v [kv, h]
}

int64_t ModelConfig::SwiGluParameters() const {
  return 3 * hidden_size * intermediate_size;
}

int64_t ModelConfig::ParameterCount() const {
  return CountParameters(*this, num_experts);
}

int64_t ModelConfig::ActiveParameterCount() const {
  return CountParameters(*this, num_experts_per_tok);
}

Result<ModelConfig> ParseModelConfig(const std::string& json_text,
                                     const std::string& display_name) {
  Json j;
  std::string err;
  if (!ParseJsonStrict(json_text, 32, &j, &err)) return Corrupt(display_name + ": " + err);
  if (!j.is_object()) return Corrupt(display_name + ": not a JSON object");
  ModelConfig c;
  FOLIO_RETURN_IF_ERROR(ReadArchitecture(j, &c).WithContext(display_name));
  FOLIO_RETURN_IF_ERROR(ReadFields(j, &c).WithContext(display_name));
  FOLIO_RETURN_IF_ERROR(Validate(c).WithContext(display_name));
  return c;
}

Result<ModelConfig> LoadModelConfig(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return NotFound(dir + ": no such model folder");
  }
  const std::string path = dir + "/config.json";
  if (::stat(path.c_str(), &st) != 0)
    return NotFound(path + ": no such file (not a model folder?)");
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) {
    return Corrupt(path + ": " + std::to_string(st.st_size) +
                   " bytes is far too large for a config.json");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path + ": cannot open");
  // Read at most the cap (plus one byte to notice a file that grew since stat).
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return IoError(path + ": read failed");
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) return Corrupt(path + ": far too large for a config.json");
  return ParseModelConfig(text, path);
}

}  // namespace folio
