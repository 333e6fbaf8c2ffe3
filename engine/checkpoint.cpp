// A checkpoint folder: config.json + model.safetensors, or + index + shards. Opening it
// validates everything the engine will later trust: the index (RELIABILITY.md 16), each
// shard's header (12-15), that index and shards agree, and that every tensor the layer
// plan needs is present with the shape the config implies (17).
#include "engine/checkpoint.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/json_strict.h"

namespace folio {

namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxIndexBytes = 16ull << 20;  // a real index is ~100 KB; bounds the DOM
constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A shard name must be a plain file name inside the checkpoint folder.
bool IsPlainFileName(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char ch : s) {
    if (ch == '/' || ch == '\\' || ch == '\0') return false;
  }
  return true;
}

Result<std::string> ReadSmallFile(const std::string& path, uint64_t cap) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return NotFound(path + ": no such file");
  if (static_cast<uint64_t>(st.st_size) > cap) {
    return Corrupt(path + ": " + std::to_string(st.st_size) + " bytes is too large for this file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path + ": cannot open");
  // Sized by what stat() saw (already bounded by cap), plus one byte to notice a file that
  // grew since; never by the cap itself, which would zero megabytes for a 1 KB config.
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return IoError(path + ": read failed");
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<uint64_t>(st.st_size)) {
    return IoError(path + ": the file changed while it was being read");
  }
  return text;
}

// ---- Expected tensors -----------------------------------------------------------------

using Expected = ExpectedTensor;

// Why the config asks for a layer's tensor: "layer 3 is Mamba with a dense MLP".
std::string LayerWhy(const ModelConfig& c, int64_t layer) {
  const LayerPlan l = c.Plan()[static_cast<size_t>(layer)];
  return "config.json makes layer " + std::to_string(layer) + " " +
         (l.mixer == MixerKind::kAttention ? "attention" : "Mamba") + " with " +
         (l.mlp == MlpKind::kMoE ? "an MoE" : "a dense") +
         " MLP (attn_layer_period/offset, expert_layer_period/offset)";
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void AddMamba(const ModelConfig& c, const std::string& p, std::vector<Expected>* out) {
  const int64_t h = c.hidden_size, di = c.d_inner(), n = c.mamba_d_state, r = c.mamba_dt_rank;
  const std::string m = p + "mamba.";
  out->push_back({m + "in_proj.weight", {2 * di, h}, "hidden_size, mamba_expand"});
  if (c.mamba_proj_bias)
    out->push_back({m + "in_proj.bias", {2 * di}, "hidden_size, mamba_expand"});
  out->push_back({m + "conv1d.weight", {di, 1, c.mamba_d_conv}, "mamba_expand, mamba_d_conv"});
  if (c.mamba_conv_bias) out->push_back({m + "conv1d.bias", {di}, "hidden_size, mamba_expand"});
  out->push_back(
      {m + "x_proj.weight", {r + 2 * n, di}, "mamba_dt_rank, mamba_d_state, mamba_expand"});
  out->push_back({m + "dt_proj.weight", {di, r}, "mamba_dt_rank, mamba_expand"});
  out->push_back({m + "dt_proj.bias", {di}, "hidden_size, mamba_expand"});
  out->push_back({m + "A_log", {di, n}, "mamba_d_state, mamba_expand"});
  out->push_back({m + "D", {di}, "hidden_size, mamba_expand"});
  out->push_back({m + "out_proj.weight", {h, di}, "hidden_size, mamba_expand"});
  if (c.mamba_proj_bias) out->push_back({m + "out_proj.bias", {h}, "hidden_size"});
  out->push_back({m + "dt_layernorm.weight", {r}, "mamba_dt_rank"});
  out->push_back({m + "b_layernorm.weight", {n}, "mamba_d_state"});
  out->push_back({m + "c_layernorm.weight", {n}, "mamba_d_state"});
}

void AddAttention(const ModelConfig& c, const std::string& p, std::vector<Expected>* out) {
  const int64_t h = c.hidden_size, kv = c.num_key_value_heads * c.head_dim();
  const std::string a = p + "self_attn.";
  out->push_back({a + "q_proj.weight", {h, h}, "hidden_size, num_attention_heads"});
  out->push_back({a + "k_proj.weight", {kv, h}, "hidden_size, num_key_value_heads"});
  out->push_back({a + "v_proj.weight", {kv, h}, "hidden_size, num_key_value_heads"});
  out->push_back({a + "o_proj.weight", {h, h}, "hidden_size, num_attention_heads"});
}

void AddSwiGlu(const ModelConfig& c, const std::string& p, std::vector<Expected>* out) {
  const int64_t h = c.hidden_size, i = c.intermediate_size;
  out->push_back({p + "gate_proj.weight", {i, h}, "hidden_size, intermediate_size"});
  out->push_back({p + "up_proj.weight", {i, h}, "hidden_size, intermediate_size"});
  out->push_back({p + "down_proj.weight", {h, i}, "hidden_size, intermediate_size"});
}

std::vector<ExpectedTensor> ExpectedTensorsImpl(const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  std::vector<Expected> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, "vocab_size, hidden_size"});
  if (!c.tie_word_embeddings) {
    out.push_back({"lm_head.weight", {c.vocab_size, h}, "vocab_size, hidden_size"});
  }
  out.push_back({"model.final_layernorm.weight", {h}, "hidden_size"});
  const std::vector<LayerPlan> plan = c.Plan();
  for (size_t i = 0; i < plan.size(); ++i) {
    const size_t first = out.size();
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", {h}, "hidden_size"});
    out.push_back({p + "pre_ff_layernorm.weight", {h}, "hidden_size"});
    if (plan[i].mixer == MixerKind::kAttention) {
      AddAttention(c, p, &out);
    } else {
      AddMamba(c, p, &out);
    }
    const std::string ff = p + "feed_forward.";
    if (plan[i].mlp == MlpKind::kMoE) {
      out.push_back({ff + "router.weight", {c.num_experts, h}, "num_experts, hidden_size"});
      for (int64_t e = 0; e < c.num_experts; ++e) {
        AddSwiGlu(c, ff + "experts." + std::to_string(e) + ".", &out);
      }
    } else {
      AddSwiGlu(c, ff, &out);
    }
    for (size_t k = first; k < out.size(); ++k) out[k].layer = static_cast<int64_t>(i);
  }
  return out;
}

// Every tensor the Jamba graph reads, with the shape the config implies (JAMBA.md,
// "Checkpoint names"; nn.Linear weights are [out, in]).

}  // namespace

// ---- Index ----------------------------------------------------------------------------

Result<std::map<std::string, std::string>> ParseSafetensorsIndex(const std::string& json_text,
                                                                 const std::string& display_name) {
  Json j;
  std::string err;
  if (!ParseJsonStrict(json_text, 8, &j, &err)) return Corrupt(display_name + ": " + err);
  if (!j.is_object()) return Corrupt(display_name + ": not a JSON object");
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) {
    return Corrupt(display_name + ": no weight_map object");
  }
  if (wm->empty()) return Corrupt(display_name + ": weight_map lists no tensors");
  std::map<std::string, std::string> map;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (it.key().empty()) return Corrupt(display_name + ": weight_map has an empty tensor name");
    if (!it->is_string()) {
      return Corrupt(display_name + ": weight_map entry for tensor '" + it.key() +
                     "' is not a file name");
    }
    const std::string& shard = it->get_ref<const std::string&>();
    if (!IsPlainFileName(shard)) {
      return Corrupt(display_name + ": tensor '" + it.key() + "' points to '" + shard +
                     "', which is not a plain file name in the model folder");
    }
    map.emplace(it.key(), shard);  // keys are unique: ParseJsonStrict refused duplicates
  }
  return map;
}

// ---- Checkpoint -----------------------------------------------------------------------

namespace {

// Opens every shard the index names and records where each tensor lives. Every index
// tensor must be in its shard; a tensor must not be in two shards or missing from the
// index.
Status OpenSharded(const std::string& dir, std::vector<std::unique_ptr<SafetensorsFile>>* shards,
                   std::map<std::string, size_t>* where) {
  const std::string index_path = dir + "/" + kIndexName;
  FOLIO_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(index_path, kMaxIndexBytes));
  FOLIO_ASSIGN_OR_RETURN(auto map, ParseSafetensorsIndex(text, index_path));
  std::map<std::string, size_t> shard_of_file;
  for (const auto& [tensor, file] : map) {
    if (shard_of_file.count(file)) continue;
    const std::string path = dir + "/" + file;
    if (!IsRegularFile(path)) {
      return NotFound(index_path + ": shard '" + file + "' (holding tensor '" + tensor +
                      "') is missing");
    }
    FOLIO_ASSIGN_OR_RETURN(auto shard, SafetensorsFile::Open(path));
    shard_of_file[file] = shards->size();
    shards->push_back(std::move(shard));
  }
  for (const auto& [tensor, file] : map) {
    const size_t s = shard_of_file.at(file);
    if (!(*shards)[s]->Has(tensor)) {
      return Corrupt(index_path + ": tensor '" + tensor + "' is missing from its shard " + file);
    }
    (*where)[tensor] = s;
  }
  for (const auto& [file, s] : shard_of_file) {
    for (const auto& e : (*shards)[s]->header().tensors) {
      auto it = map.find(e.name);
      if (it == map.end()) {
        return Corrupt(index_path + ": shard " + file + " holds tensor '" + e.name +
                       "', which the index does not list");
      }
      if (it->second != file) {
        return Corrupt(index_path + ": tensor '" + e.name + "' is in two shards, " + it->second +
                       " and " + file);
      }
    }
  }
  return Status::Ok();
}

// Every tensor the layer plan needs, present, floating point, with the config's shape.
Status CheckShapes(const Checkpoint& ck) {
  const std::string& dir = ck.dir();
  for (const Expected& e : ExpectedTensors(ck.config())) {
    if (!ck.Has(e.name)) {
      const std::string why = e.layer < 0
                                  ? std::string("the model needs it (config.json: ") + e.keys + ")"
                                  : LayerWhy(ck.config(), e.layer);
      return NotFound(dir + ": tensor '" + e.name + "' is missing; " + why);
    }
    FOLIO_ASSIGN_OR_RETURN(TensorView v, ck.Get(e.name));
    if (v.dtype != DType::kF32 && v.dtype != DType::kBF16 && v.dtype != DType::kF16) {
      return Unsupported(dir + ": tensor '" + e.name + "' is stored as " +
                         std::string(DTypeName(v.dtype)) + "; weights must be F32, BF16 or F16");
    }
    if (v.shape != e.shape) {
      return Corrupt(dir + ": tensor '" + e.name + "' has shape " + ShapeText(v.shape) +
                     " but config.json (" + e.keys + ") implies " + ShapeText(e.shape));
    }
  }
  return Status::Ok();
}

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config) {
  return ExpectedTensorsImpl(config);
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  FOLIO_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  auto ck = std::unique_ptr<Checkpoint>(new Checkpoint());
  ck->dir_ = dir;
  ck->config_ = std::move(config);
  if (IsRegularFile(dir + "/" + kIndexName)) {
    FOLIO_RETURN_IF_ERROR(OpenSharded(dir, &ck->shards_, &ck->where_));
  } else if (IsRegularFile(dir + "/" + kSingleName)) {
    FOLIO_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(dir + "/" + kSingleName));
    for (const std::string& n : file->Names()) ck->where_[n] = 0;
    ck->shards_.push_back(std::move(file));
  } else {
    return NotFound(dir + ": no " + kSingleName + " or " + kIndexName + " (weights missing)");
  }
  FOLIO_RETURN_IF_ERROR(CheckShapes(*ck));
  return ck;
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::FromMemory(ModelConfig config,
                                                           std::string display_name,
                                                           std::vector<TensorView> tensors,
                                                           std::shared_ptr<const void> storage) {
  auto ck = std::unique_ptr<Checkpoint>(new Checkpoint());
  ck->dir_ = std::move(display_name);
  ck->config_ = std::move(config);
  ck->storage_ = std::move(storage);
  for (TensorView& t : tensors) {
    const std::string name = t.name;
    if (!ck->memory_.emplace(name, std::move(t)).second)
      return InvalidArgument(ck->dir_ + ": tensor '" + name + "' given twice");
  }
  FOLIO_RETURN_IF_ERROR(CheckShapes(*ck));
  return ck;
}

Result<TensorView> Checkpoint::Get(const std::string& name) const {
  if (auto m = memory_.find(name); m != memory_.end()) return m->second;
  auto it = where_.find(name);
  if (it == where_.end()) return NotFound(dir_ + ": no tensor '" + name + "'");
  return shards_[it->second]->Get(name);
}

bool Checkpoint::Has(const std::string& name) const {
  return where_.count(name) != 0 || memory_.count(name) != 0;
}

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& kv : where_) names.push_back(kv.first);
  for (const auto& kv : memory_) names.push_back(kv.first);
  return names;
}

DType Checkpoint::MainDType() const {
  std::map<DType, uint64_t> bytes;
  for (const auto& s : shards_) {
    for (const auto& e : s->header().tensors) bytes[e.dtype] += e.end - e.begin;
  }
  for (const auto& kv : memory_) bytes[kv.second.dtype] += kv.second.nbytes;
  DType best = DType::kF32;
  uint64_t most = 0;
  for (const auto& [t, b] : bytes) {
    if (b > most) best = t, most = b;
  }
  return best;
}

uint64_t Checkpoint::TotalBytes() const {
  uint64_t total = 0;
  for (const auto& s : shards_) {
    for (const auto& e : s->header().tensors) total += e.end - e.begin;
  }
  for (const auto& kv : memory_) total += kv.second.nbytes;
  return total;
}

Status Checkpoint::CheckIntact() const {
  for (const auto& s : shards_) {
    if (!s->StillIntact()) {
      return IoError(s->path() + ": the file was truncated or changed after the model was loaded");
    }
  }
  return Status::Ok();
}

}  // namespace folio
