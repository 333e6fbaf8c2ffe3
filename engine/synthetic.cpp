// Synthetic checkpoints for `bench --synthetic` (synthetic.h).
#include "engine/synthetic.h"

#include <cmath>
#include <thread>

namespace folio {
namespace {

// config.json of each synthetic model, parsed by the same strict reader as real ones.
constexpr const char* kJamba15Mini = R"({
  "architectures": ["JambaForCausalLM"], "model_type": "jamba", "dtype": "bfloat16",
  "vocab_size": 65536, "hidden_size": 4096, "intermediate_size": 14336,
  "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
  "attn_layer_period": 8, "attn_layer_offset": 4,
  "expert_layer_period": 2, "expert_layer_offset": 1,
  "num_experts": 16, "num_experts_per_tok": 2,
  "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": 256,
  "mamba_conv_bias": true, "mamba_proj_bias": false, "rms_norm_eps": 1e-6,
  "tie_word_embeddings": false, "max_position_embeddings": 262144,
  "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0
})";

constexpr const char* kJambaTiny = R"({
  "architectures": ["JambaForCausalLM"], "model_type": "jamba", "dtype": "bfloat16",
  "vocab_size": 512, "hidden_size": 64, "intermediate_size": 96,
  "num_hidden_layers": 8, "num_attention_heads": 4, "num_key_value_heads": 2,
  "attn_layer_period": 4, "attn_layer_offset": 2,
  "expert_layer_period": 2, "expert_layer_offset": 1,
  "num_experts": 4, "num_experts_per_tok": 2,
  "mamba_d_state": 8, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": 8,
  "mamba_conv_bias": true, "mamba_proj_bias": false, "rms_norm_eps": 1e-6,
  "tie_word_embeddings": false, "max_position_embeddings": 262144,
  "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0
})";

bool EndsWith(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Tensors the engine reads on the host whatever the backend (model.cpp converts them to
// float32 at bind time; the CUDA upload copies the rank-1 ones from host memory).
bool ReadOnHost(const std::string& name, const std::vector<int64_t>& shape) {
  return shape.size() != 2 || EndsWith(name, ".A_log");
}

// Host copy of a synthetic tensor, bf16, filled in parallel for large tensors.
void Materialise(const SyntheticFill& f, int64_t n, uint16_t* out) {
  auto fill = [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      out[i] = F32ToBf16(SyntheticValue(f.key, f.offset, f.scale, static_cast<uint64_t>(i)));
  };
  const int64_t threads =
      n < (1 << 20) ? 1 : std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (threads == 1) return fill(0, n);
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t)
    pool.emplace_back(fill, n * t / threads, n * (t + 1) / threads);
  for (auto& th : pool) th.join();
}

struct Storage {
  std::vector<std::vector<uint16_t>> buffers;
};

}  // namespace

std::vector<std::string> SyntheticModelNames() {
  return {"jamba-1.5-mini", "jamba-tiny"};
}

Result<ModelConfig> SyntheticConfig(std::string_view name) {
  if (name == "jamba-1.5-mini") return ParseModelConfig(kJamba15Mini, "synthetic jamba-1.5-mini");
  if (name == "jamba-tiny") return ParseModelConfig(kJambaTiny, "synthetic jamba-tiny");
  std::string known;
  for (const std::string& n : SyntheticModelNames()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown synthetic model '" + std::string(name) + "' (known: " + known +
                         ")");
}

SyntheticFill SyntheticFillFor(const std::string& name, const std::vector<int64_t>& shape,
                               uint64_t seed) {
  SyntheticFill f;
  f.key = SplitMix64(seed ^ Fnv1a64(name));
  if (EndsWith(name, "layernorm.weight")) {  // input/pre_ff/final and Jamba's dt/b/c norms
    f.offset = 1.0f, f.scale = 0.1f;
  } else if (EndsWith(name, ".A_log")) {  // A = -exp(A_log) in (-7.4, -1]
    f.offset = 1.0f, f.scale = 1.0f;
  } else if (EndsWith(name, ".D")) {
    f.offset = 1.0f, f.scale = 0.5f;
  } else if (EndsWith(name, "dt_proj.bias")) {  // softplus(dt) about 0.001 .. 0.1
    f.offset = -4.6f, f.scale = 2.3f;
  } else if (EndsWith(name, "conv1d.bias")) {
    f.scale = 0.1f;
  } else if (EndsWith(name, "embed_tokens.weight")) {
    f.scale = 1.0f;
  } else {  // [.., K] matrices and the conv kernel: 1/sqrt(fan_in) keeps outputs O(1)
    const int64_t fan_in = shape.empty() ? 1 : shape.back();
    f.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(1, fan_in))));
  }
  return f;
}

Result<std::unique_ptr<Checkpoint>> MakeSyntheticCheckpoint(const ModelConfig& config,
                                                            const SyntheticOptions& options) {
  auto storage = std::make_shared<Storage>();
  std::vector<TensorView> tensors;
  for (const ExpectedTensor& e : ExpectedTensors(config)) {
    TensorView t;
    t.name = e.name;
    t.dtype = DType::kBF16;
    t.shape = e.shape;
    const int64_t n = Numel(e.shape);
    t.nbytes = static_cast<size_t>(n) * 2;
    const SyntheticFill fill = SyntheticFillFor(e.name, e.shape, options.seed);
    if (ReadOnHost(e.name, e.shape) || n < options.materialize_below) {
      std::vector<uint16_t>& buf = storage->buffers.emplace_back(static_cast<size_t>(n));
      Materialise(fill, n, buf.data());
      t.data = reinterpret_cast<const uint8_t*>(buf.data());
    } else {
      t.synthetic = fill;  // the backend fills it (kernels/synthetic.h)
    }
    tensors.push_back(std::move(t));
  }
  return Checkpoint::FromMemory(config, "synthetic (seed " + std::to_string(options.seed) + ")",
                                std::move(tensors), std::move(storage));
}

}  // namespace folio
