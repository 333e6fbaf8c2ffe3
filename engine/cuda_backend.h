// The CUDA backend: the Jamba graph of JAMBA.md on one GPU through kernels/ and cuBLAS.
// Weights are uploaded once from the memory-mapped checkpoint (bf16 by default; float32
// on request, to keep float32 checkpoints exact), activations and the Mamba state are
// float32, the K/V cache is bf16 (float32 with float32 weights). Device memory is planned
// before anything is allocated: if weights + one cache of the planned context + workspace
// do not fit, Create fails with the sizes and nothing stays allocated on the GPU.
// Synthetic checkpoints (engine/synthetic.h) have their large tensors filled on the GPU;
// expert weights may be kept as int8 (experts_int8); one-token decode steps replay a
// captured CUDA graph (cuda_graphs).
//
// Plain C++ header: no CUDA types. Built only when FOLIO_HAVE_CUDA (folio_cuda_backend).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/checkpoint.h"

namespace folio {

struct CudaBackendOptions {
  bool f32_weights = false;        // keep weights (and the K/V cache) in float32
  int64_t planned_context = 4096;  // tokens of one cache the plan must hold; 0 = the model's
                                   // max_position_embeddings (what a default Session asks)
  int64_t chunk = 256;             // tokens per internal sub-batch (sizes the workspace)
  // Expert weights quantised at load to int8 with one scale per output row (kernels/int8.h);
  // everything else stays bf16. Needs bf16 weights (not f32_weights).
  bool experts_int8 = false;
  // Plan against at most this many bytes of device memory (0: the GPU's free memory), to
  // show what fits on a smaller card (bench --memory-limit 80G).
  uint64_t memory_limit_bytes = 0;
  // Decode steps (T = 1) replayed from a captured CUDA graph: no launch gaps.
  bool cuda_graphs = true;
  // Called while weights upload: bytes done, bytes in all (the last call has done == total).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// What the plan found, for messages and `info`.
struct CudaMemoryPlan {
  uint64_t weight_bytes = 0;
  uint64_t cache_bytes = 0;  // one cache of planned_context tokens
  uint64_t workspace_bytes = 0;
  uint64_t free_bytes = 0;  // on the device when planned
  uint64_t total_bytes = 0;
  uint64_t limit_bytes = 0;   // what the plan had to fit in: min(free, memory_limit_bytes)
  uint64_t expert_bytes = 0;  // of weight_bytes, the MoE experts (int8 + scales with experts_int8)
  int64_t max_context = 0;    // largest one-sequence context that fits beside weights + workspace
  std::string Describe() const;  // "weights 1.2 GiB + cache ... = ... (GPU free ... of ...)"
};

// Why there is no usable GPU ("no CUDA device found; use --device cpu"), or "" when one is.
std::string CudaUnavailableReason();

class CudaBackendImpl;

class CudaBackend : public Backend {
 public:
  static Result<std::unique_ptr<CudaBackend>> Create(std::shared_ptr<const Checkpoint> checkpoint,
                                                     const CudaBackendOptions& options = {});
  static Result<std::unique_ptr<CudaBackend>> Open(const std::string& dir,
                                                   const CudaBackendOptions& options = {});
  // The memory plan Create would make, without touching a device (bench and tests: what
  // fits where): `device_free_bytes` stands in for the GPU's free (and total) memory;
  // options.memory_limit_bytes still applies. Whether it fits: weight + cache + workspace
  // bytes and the headroom within limit_bytes, i.e. max_context >= planned_context.
  static Result<CudaMemoryPlan> PlanFor(std::shared_ptr<const Checkpoint> checkpoint,
                                        const CudaBackendOptions& options,
                                        uint64_t device_free_bytes);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  const ModelConfig& config() const override;
  Result<std::unique_ptr<CacheState>> NewCache(int64_t max_context) override;
  Status Forward(const int64_t* ids, int64_t T, CacheState& cache,
                 const ForwardOutputs& out) override;
  Result<std::unique_ptr<CacheState>> Snapshot(const CacheState& cache) override;
  Status Restore(const CacheState& snapshot, CacheState& cache) override;
  Status SetHiddenObserver(HiddenObserver observer) override;
  // Profiling runs every Forward eagerly (no CUDA graph) with events between the parts.
  Status SetProfiling(bool on) override;
  ForwardProfile TakeProfile() override;
  BackendMemory Memory() const override;

  const CudaMemoryPlan& plan() const;
  // Test hook: force the MoE path (0 = by T, 1 = grouped GEMMs, 2 = GEMV) and the attention
  // kernel (0 = by T, 1 = tiled prefill, 2 = split-K), so both paths run on the model.
  void ForcePaths(int moe_path, int attention_path);
  // Test hook: decode steps run by replaying a captured CUDA graph so far.
  int64_t graph_replays() const;

 private:
  explicit CudaBackend(std::unique_ptr<CudaBackendImpl> impl);
  // NewCache and Restore with the backend's lock already held (Snapshot uses both).
  Result<std::unique_ptr<CacheState>> NewCacheLocked(int64_t max_context);
  Status RestoreLocked(const CacheState& snapshot, CacheState& cache);
  std::unique_ptr<CudaBackendImpl> impl_;
};

}  // namespace folio
