// A checkpoint folder in Hugging Face layout: config.json plus either model.safetensors
// or shards listed by model.safetensors.index.json. Tensors are looked up by name
// across shards; every shard is validated when the checkpoint opens.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/safetensors.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace folio {

// Parses model.safetensors.index.json: weight_map name -> shard file name. Rejects
// "../", absolute paths, path separators, empty names, and duplicate tensor keys
// (RELIABILITY.md 16). Pure: used by the loader and the fuzz target.
Result<std::map<std::string, std::string>> ParseSafetensorsIndex(const std::string& json_text,
                                                                 const std::string& display_name);

// A tensor the config implies: its name in the published layout, its shape, and why.
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const char* keys;    // the config.json keys the shape comes from
  int64_t layer = -1;  // decoder layer, or -1 for embeddings, final norm, lm_head
};
// Every tensor a checkpoint of `config` must hold (the loader checks each one).
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

class Checkpoint {
 public:
  // Opens DIR: reads and validates config.json, the index (if any) and every shard
  // header; checks that every tensor in the index exists in its shard, and that no
  // shard holds a tensor the index does not list twice.
  static Result<std::unique_ptr<Checkpoint>> Open(const std::string& dir);

  // A checkpoint with no files (bench --synthetic, engine/synthetic.h): `tensors` are
  // served as given (a tensor may have data == nullptr with a SyntheticFill instead, for
  // a backend that fills it itself); `storage` keeps their host data alive. Shapes are
  // checked against the config as for files. dir() is `display_name`.
  static Result<std::unique_ptr<Checkpoint>> FromMemory(ModelConfig config,
                                                        std::string display_name,
                                                        std::vector<TensorView> tensors,
                                                        std::shared_ptr<const void> storage);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  Result<TensorView> Get(const std::string& name) const;
  bool Has(const std::string& name) const;
  std::vector<std::string> Names() const;
  // The dtype most weights are stored in (for `info`).
  DType MainDType() const;
  // Total bytes of tensor data.
  uint64_t TotalBytes() const;
  // All shards still as long as when mapped (a truncated shard is an error, not SIGBUS).
  Status CheckIntact() const;
  // Number of safetensors files (1 for an unsharded checkpoint).
  size_t ShardCount() const { return shards_.size(); }

 private:
  std::string dir_;
  ModelConfig config_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> shard index
  std::map<std::string, TensorView> memory_;  // FromMemory's tensors
  std::shared_ptr<const void> storage_;       // their host data
};

}  // namespace folio
