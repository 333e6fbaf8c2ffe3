// make-tiny-model: trains the tokenizer with the sentencepiece library and writes random
// bf16 weights in the published Jamba layout. See tiny_model.h.
#include "engine/tiny_model.h"

#include <sentencepiece_trainer.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "engine/chat_template.h"
#include "engine/config.h"
#include "engine/safetensors.h"
#include "engine/tokenizer.h"

namespace folio {
namespace {

const unsigned char kCorpus[] = {
#include "engine/tiny_corpus.inc"
};

// Special tokens, Jamba-1.5 spelling. Ids 0-3 are sentencepiece's pad/bos/eos/unk; the
// chat tokens follow as user-defined symbols (always single pieces).
constexpr const char* kChatSymbols[] = {"<|bom|>",       "<|eom|>",  "<|system|>",  "<|user|>",
                                        "<|assistant|>", "<|tool|>", "<documents>", "</documents>"};

// Reads the corpus line by line for the trainer (empty lines skipped).
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::string& text) : in_(text) { Next(); }
  bool done() const override { return done_; }
  void Next() override {
    while (std::getline(in_, line_))
      if (!line_.empty()) return;
    done_ = true;
  }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::istringstream in_;
  std::string line_;
  bool done_ = false;
};

Result<std::string> TrainTokenizer() {
  std::string symbols;
  for (const char* s : kChatSymbols) {
    if (!symbols.empty()) symbols += ',';
    symbols += s;
  }
  // Llama-style settings: identity normalisation (so decode(encode(x)) == x), whitespace
  // kept as written, digits split, unknown characters as UTF-8 bytes.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", "1024"},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"shuffle_input_sentence", "false"},
      {"num_threads", "1"},
      {"minloglevel", "2"},
      {"pad_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"unk_id", "3"},
      {"pad_piece", "<|pad|>"},
      {"bos_piece", "<|startoftext|>"},
      {"eos_piece", "<|endoftext|>"},
      {"unk_piece", "<|unk|>"},
      {"user_defined_symbols", symbols},
      {"model_prefix", ""},
  };
  LineIterator it(TinyModelCorpus());
  std::string model;
  auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &model);
  if (!st.ok()) return Internal("training the tiny tokenizer failed: " + st.ToString());
  return model;
}

// Deterministic normal numbers (splitmix64 + Box-Muller): identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double Uniform() {  // (0, 1)
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (static_cast<double>(z >> 11) + 0.5) / 9007199254740992.0;
  }
  double Normal() {
    return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(6.283185307179586 * Uniform());
  }

 private:
  uint64_t s_;
};

TensorToWrite Bf16(const std::string& name, std::vector<int64_t> shape,
                   const std::vector<float>& values) {
  TensorToWrite t{name, DType::kBF16, std::move(shape), {}};
  t.bytes.resize(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t h = F32ToBf16(values[i]);
    t.bytes[2 * i] = static_cast<uint8_t>(h & 0xFF);
    t.bytes[2 * i + 1] = static_cast<uint8_t>(h >> 8);
  }
  return t;
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Weights: normal with std 1/sqrt(fan_in) for projections (activations stay near unit
// scale), ones for norms, Mamba's usual A_log = log(1..d_state), D = 1, dt bias giving
// dt in [0.001, 0.1].
class WeightMaker {
 public:
  explicit WeightMaker(uint64_t seed) : rng_(seed) {}
  TensorToWrite Linear(const std::string& name, int64_t out, int64_t in) {
    return Random(name, {out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
  }
  TensorToWrite Random(const std::string& name, std::vector<int64_t> shape, double std) {
    std::vector<float> v(static_cast<size_t>(Numel(shape)));
    for (float& x : v) x = static_cast<float>(rng_.Normal() * std);
    return Bf16(name, std::move(shape), v);
  }
  TensorToWrite Fill(const std::string& name, std::vector<int64_t> shape, float value) {
    return Bf16(name, shape, std::vector<float>(static_cast<size_t>(Numel(shape)), value));
  }
  TensorToWrite ALog(const std::string& name, int64_t d_inner, int64_t d_state) {
    std::vector<float> v;
    for (int64_t c = 0; c < d_inner; ++c)
      for (int64_t n = 0; n < d_state; ++n) v.push_back(std::log(static_cast<float>(n + 1)));
    return Bf16(name, {d_inner, d_state}, v);
  }
  TensorToWrite DtBias(const std::string& name, int64_t d_inner) {
    std::vector<float> v;
    for (int64_t c = 0; c < d_inner; ++c) {
      const double dt =
          std::exp(std::log(0.001) + rng_.Uniform() * (std::log(0.1) - std::log(0.001)));
      v.push_back(static_cast<float>(dt + std::log(-std::expm1(-dt))));  // softplus^-1
    }
    return Bf16(name, {d_inner}, v);
  }

 private:
  Rng rng_;
};

ModelConfig TinyConfig(int64_t vocab) {
  ModelConfig c;
  c.vocab_size = vocab;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 8;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.attn_layer_period = 4;
  c.attn_layer_offset = 2;
  c.expert_layer_period = 2;
  c.expert_layer_offset = 1;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.mamba_d_state = 16;
  c.mamba_d_conv = 4;
  c.mamba_expand = 2;
  c.mamba_dt_rank = 4;
  c.max_position_embeddings = 4096;
  return c;
}

// One decoder layer's tensors, in the published names.
std::vector<TensorToWrite> LayerTensors(const ModelConfig& c, int64_t i, WeightMaker& w) {
  const std::string p = "model.layers." + std::to_string(i) + ".";
  const int64_t H = c.hidden_size, I = c.intermediate_size, D = c.d_inner(), N = c.mamba_d_state,
                R = c.mamba_dt_rank, hd = c.head_dim();
  std::vector<TensorToWrite> t;
  t.push_back(w.Fill(p + "input_layernorm.weight", {H}, 1.0f));
  t.push_back(w.Fill(p + "pre_ff_layernorm.weight", {H}, 1.0f));
  if (c.IsAttentionLayer(i)) {
    t.push_back(w.Linear(p + "self_attn.q_proj.weight", c.num_attention_heads * hd, H));
    t.push_back(w.Linear(p + "self_attn.k_proj.weight", c.num_key_value_heads * hd, H));
    t.push_back(w.Linear(p + "self_attn.v_proj.weight", c.num_key_value_heads * hd, H));
    t.push_back(w.Linear(p + "self_attn.o_proj.weight", H, c.num_attention_heads * hd));
  } else {
    const std::string m = p + "mamba.";
    t.push_back(w.Linear(m + "in_proj.weight", 2 * D, H));
    t.push_back(w.Random(m + "conv1d.weight", {D, 1, c.mamba_d_conv}, 0.5));
    t.push_back(w.Random(m + "conv1d.bias", {D}, 0.1));
    t.push_back(w.Linear(m + "x_proj.weight", R + 2 * N, D));
    t.push_back(w.Linear(m + "dt_proj.weight", D, R));
    t.push_back(w.DtBias(m + "dt_proj.bias", D));
    t.push_back(w.ALog(m + "A_log", D, N));
    t.push_back(w.Fill(m + "D", {D}, 1.0f));
    t.push_back(w.Linear(m + "out_proj.weight", H, D));
    t.push_back(w.Fill(m + "dt_layernorm.weight", {R}, 1.0f));
    t.push_back(w.Fill(m + "b_layernorm.weight", {N}, 1.0f));
    t.push_back(w.Fill(m + "c_layernorm.weight", {N}, 1.0f));
  }
  const auto mlp = [&](const std::string& q) {
    t.push_back(w.Linear(q + "gate_proj.weight", I, H));
    t.push_back(w.Linear(q + "up_proj.weight", I, H));
    t.push_back(w.Linear(q + "down_proj.weight", H, I));
  };
  if (c.IsMoELayer(i)) {
    t.push_back(w.Linear(p + "feed_forward.router.weight", c.num_experts, H));
    for (int64_t e = 0; e < c.num_experts; ++e)
      mlp(p + "feed_forward.experts." + std::to_string(e) + ".");
  } else {
    mlp(p + "feed_forward.");
  }
  return t;
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return IoError(path + ": write failed");
  return Status::Ok();
}

nlohmann::ordered_json ConfigJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"JambaForCausalLM"};
  j["model_type"] = "jamba";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["attn_layer_period"] = c.attn_layer_period;
  j["attn_layer_offset"] = c.attn_layer_offset;
  j["expert_layer_period"] = c.expert_layer_period;
  j["expert_layer_offset"] = c.expert_layer_offset;
  j["num_experts"] = c.num_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["mamba_d_state"] = c.mamba_d_state;
  j["mamba_d_conv"] = c.mamba_d_conv;
  j["mamba_expand"] = c.mamba_expand;
  j["mamba_dt_rank"] = c.mamba_dt_rank;
  j["mamba_conv_bias"] = true;
  j["mamba_proj_bias"] = false;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = 1e-6;
  j["tie_word_embeddings"] = false;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["bos_token_id"] = 1;
  j["eos_token_id"] = 2;
  j["pad_token_id"] = 0;
  j["torch_dtype"] = "bfloat16";
  j["use_mamba_kernels"] = false;
  j["_folio_note"] = "random weights made by folio-cli make-tiny-model: output is gibberish";
  return j;
}

Status WriteTokenizerFiles(const std::string& dir, const std::string& model, int64_t eom_id) {
  FOLIO_RETURN_IF_ERROR(WriteText(dir + "/tokenizer.model", model));
  nlohmann::ordered_json decoder;
  const char* base[] = {"<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|unk|>"};
  for (int i = 0; i < 4; ++i)
    decoder[std::to_string(i)] = {{"content", base[i]},   {"lstrip", false},
                                  {"normalized", false},  {"rstrip", false},
                                  {"single_word", false}, {"special", true}};
  std::vector<std::string> extra;
  for (size_t k = 0; k < std::size(kChatSymbols); ++k) {
    decoder[std::to_string(4 + k)] = {{"content", kChatSymbols[k]}, {"lstrip", false},
                                      {"normalized", false},        {"rstrip", false},
                                      {"single_word", false},       {"special", true}};
    extra.push_back(kChatSymbols[k]);
  }
  nlohmann::ordered_json cfg;
  cfg["add_bos_token"] = true;
  cfg["add_eos_token"] = false;
  cfg["added_tokens_decoder"] = decoder;
  cfg["additional_special_tokens"] = extra;
  cfg["bos_token"] = "<|startoftext|>";
  cfg["eos_token"] = "<|endoftext|>";
  cfg["pad_token"] = "<|pad|>";
  cfg["unk_token"] = "<|unk|>";
  cfg["chat_template"] = TinyModelChatTemplate();
  cfg["clean_up_tokenization_spaces"] = false;
  cfg["legacy"] = false;
  cfg["model_max_length"] = 4096;
  cfg["tokenizer_class"] = "LlamaTokenizer";
  FOLIO_RETURN_IF_ERROR(WriteText(dir + "/tokenizer_config.json", cfg.dump(2) + "\n"));
  nlohmann::ordered_json map = {{"additional_special_tokens", extra},
                                {"bos_token", "<|startoftext|>"},
                                {"eos_token", "<|endoftext|>"},
                                {"pad_token", "<|pad|>"},
                                {"unk_token", "<|unk|>"}};
  FOLIO_RETURN_IF_ERROR(WriteText(dir + "/special_tokens_map.json", map.dump(2) + "\n"));
  nlohmann::ordered_json gen = {
      {"bos_token_id", 1}, {"eos_token_id", {2, eom_id}}, {"pad_token_id", 0}};
  return WriteText(dir + "/generation_config.json", gen.dump(2) + "\n");
}

}  // namespace

const char* TinyModelChatTemplate() {
  return ChatTemplate::BuiltinSource("jamba");
}

std::string TinyModelCorpus() {
  return std::string(reinterpret_cast<const char*>(kCorpus), sizeof(kCorpus));
}

Result<TinyModelSummary> MakeTinyModel(const std::string& dir, uint64_t seed) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(dir + ": cannot create the folder (" + ec.message() + ")");
  FOLIO_ASSIGN_OR_RETURN(std::string sp_model, TrainTokenizer());
  FOLIO_ASSIGN_OR_RETURN(auto tok, Tokenizer::FromParts(sp_model, "", "", "", "tiny tokenizer"));
  const int64_t eom = tok->TokenId("<|eom|>");
  if (eom != 5) return Internal("tiny tokenizer: <|eom|> is id " + std::to_string(eom) + ", not 5");
  const ModelConfig c = TinyConfig(tok->sp_vocab_size());
  FOLIO_RETURN_IF_ERROR(WriteTokenizerFiles(dir, sp_model, eom));
  FOLIO_RETURN_IF_ERROR(WriteText(dir + "/config.json", ConfigJson(c).dump(2) + "\n"));

  // Shards: embeddings | two layers each | final norm + lm_head.
  WeightMaker w(seed);
  std::vector<std::vector<TensorToWrite>> shards;
  shards.push_back({w.Random("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, 1.0)});
  for (int64_t i = 0; i < c.num_hidden_layers; i += 2) {
    auto a = LayerTensors(c, i, w), b = LayerTensors(c, i + 1, w);
    for (auto& t : b) a.push_back(std::move(t));
    shards.push_back(std::move(a));
  }
  shards.push_back({w.Fill("model.final_layernorm.weight", {c.hidden_size}, 1.0f),
                    w.Linear("lm_head.weight", c.vocab_size, c.hidden_size)});

  TinyModelSummary summary;
  summary.vocab_size = c.vocab_size;
  summary.shards = static_cast<int64_t>(shards.size());
  nlohmann::ordered_json weight_map;
  char name[64];
  for (size_t s = 0; s < shards.size(); ++s) {
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    for (const auto& t : shards[s]) {
      weight_map[t.name] = name;
      summary.parameters += Numel(t.shape);
      summary.bytes += t.bytes.size();
    }
    FOLIO_RETURN_IF_ERROR(WriteSafetensors(dir + "/" + name, shards[s], {{"format", "pt"}}));
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", summary.bytes}};
  index["weight_map"] = weight_map;
  FOLIO_RETURN_IF_ERROR(WriteText(dir + "/model.safetensors.index.json", index.dump(2) + "\n"));
  FOLIO_RETURN_IF_ERROR(WriteText(
      dir + "/README.md",
      "# Folio tiny test model\n\nRandom weights and a tokenizer trained on Folio's own small "
      "corpus, made by `folio-cli make-tiny-model`. Its output is gibberish: it exists so that "
      "tests can run import -> ask -> stream with no download.\n"));
  return summary;
}

}  // namespace folio
