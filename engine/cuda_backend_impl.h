// Internals of the CUDA backend shared by cuda_backend.cpp (setup, memory plan, caches),
// cuda_upload.cpp (weights: copies, synthetic fills, int8 experts), cuda_forward.cpp (the
// graph), cuda_decode_graph.cpp (the captured one-token step) and cuda_profile.cpp.
// Not a public header.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "engine/cuda_backend.h"
#include "engine/model.h"
#include "kernels/gemm.h"
#include "kernels/moe.h"

namespace folio {

// One device allocation carved into 256-byte-aligned pieces; planned (Reserve without a
// base) first, then allocated once.
class DeviceArena {
 public:
  ~DeviceArena() {
    if (base_) cudaFree(base_);
  }
  size_t Reserve(size_t bytes) {  // returns the offset
    const size_t off = used_;
    used_ += (bytes + 255) / 256 * 256;
    return off;
  }
  Status Allocate(const char* what);
  void* At(size_t offset) const { return static_cast<char*>(base_) + offset; }
  size_t size() const { return used_; }

 private:
  void* base_ = nullptr;
  size_t used_ = 0;
};

// A matrix on the device in the weight dtype.
struct DevMatrix {
  const void* p = nullptr;
  int64_t rows = 0, cols = 0;
};

struct DevMamba {
  DevMatrix in_proj, x_proj, dt_proj, out_proj;
  const float *dt_bias = nullptr, *dt_norm = nullptr, *b_norm = nullptr, *c_norm = nullptr;
  const float *A = nullptr, *conv_w = nullptr, *conv_b = nullptr, *D = nullptr;
};
struct DevAttention {
  DevMatrix q, k, v, o;
};
struct DevMlp {
  DevMatrix gate, up, down;
};
struct DevLayer {
  LayerPlan plan;
  const float *input_norm = nullptr, *pre_ff_norm = nullptr;
  DevMamba mamba;
  DevAttention attn;
  DevMlp mlp;
  kernels::MoeWeights moe;  // device pointers; device_ptrs set after the upload
};

// The per-sequence cache on the device: one allocation, carved per layer.
class CudaCache : public CacheState {
 public:
  int64_t position() const override { return pos; }
  int64_t max_context() const override { return max_ctx; }
  uint64_t bytes() const override { return arena.size(); }

  const void* owner = nullptr;
  int64_t max_ctx = 0;
  int64_t pos = 0;
  DeviceArena arena;
  struct Layer {
    void* k = nullptr;  // [max_ctx, kv_dim] kv dtype (attention layers)
    void* v = nullptr;
    float* conv = nullptr;  // [d_inner, d_conv - 1] (Mamba layers)
    float* ssm = nullptr;   // [d_inner, d_state]
  };
  std::vector<Layer> layers;
};

// An upload planned before the arena exists: where it goes and how to fill it.
struct UploadJob {
  size_t offset;
  uint64_t bytes;
  std::function<Status(void* dst, cudaStream_t)> fill;
  std::function<void(void*)> bind;  // stores the device pointer in the weights struct
};

// Profiling (cuda_profile.cpp): events recorded on the stream at part boundaries; the time
// between two consecutive events belongs to the part named by the later Mark.
class CudaProfiler {
 public:
  ~CudaProfiler();
  Status Start(cudaStream_t stream);             // the first event of a chunk
  Status Mark(ProfilePart part, int64_t layer);  // closes the span since the last event
  Status Resolve(ForwardProfile* into);          // after the chunk's sync; clears the spans
  ForwardProfile profile;                        // what TakeProfile hands out

 private:
  struct Span {
    ProfilePart part;
    int64_t layer;  // decoder layer, or -1
  };
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> events_;  // a pool; events_[i], events_[i+1] bound spans_[i]
  std::vector<Span> spans_;
  bool started_ = false;
};

// One captured decode step (cuda_decode_graph.cpp), valid for one cache layout.
struct DecodeGraphKey {
  const void* cache = nullptr;
  const void* base = nullptr;  // the cache arena's device base
  int64_t max_ctx = 0;
  int force_moe = 0, force_attention = 0;
  bool operator<(const DecodeGraphKey& o) const {
    return std::tie(cache, base, max_ctx, force_moe, force_attention) <
           std::tie(o.cache, o.base, o.max_ctx, o.force_moe, o.force_attention);
  }
};

class CudaBackendImpl {
 public:
  ~CudaBackendImpl();

  std::shared_ptr<const Checkpoint> checkpoint;
  const ModelConfig* config = nullptr;
  CudaBackendOptions options;
  CudaMemoryPlan plan;
  DType wdtype = DType::kBF16;  // weights, GEMM inputs and the K/V cache
  cudaStream_t stream = nullptr;
  std::unique_ptr<kernels::GemmRunner> gemm;
  DeviceArena weights;
  DeviceArena workspace;
  DevMatrix embed, lm_head;
  const float* final_norm = nullptr;
  std::vector<DevLayer> layers;
  HiddenObserver observer;
  int force_moe = 0, force_attention = 0;
  int sm_count = 0;  // of the device, read once (launch heuristics outside graph capture)
  std::vector<std::shared_ptr<std::vector<const void*>>>
      tables_;    // expert pointer tables (host side)
  std::mutex mu;  // one Forward at a time

  // The weight upload (cuda_upload.cpp): jobs planned by PlanWeights, run by RunUploads.
  std::vector<UploadJob> uploads;
  std::vector<std::function<void()>> late_binds;  // after every pointer is bound
  uint64_t staging_bytes = 0;  // int8 experts: the largest expert matrix before quantising

  // Workspace pieces for chunk C (set by PlanWorkspace / BindWorkspace).
  struct Work {
    int32_t* ids;
    int32_t* step;  // [2]: token id, position (the captured decode step reads these)
    float *x, *xn, *xz, *xc, *p, *dt, *y, *q, *kv, *o, *g, *u;
    float* logits;  // [min(C, kLogitsRows), vocab]
    void* lowp;     // [C, max width] weight dtype: the GEMM input of the moment
    void* moe;
    size_t moe_bytes;
    void* attn;
    size_t attn_bytes;
  } work{};

  // Profiling: set while on (Forward then runs eagerly, with events between parts).
  std::unique_ptr<CudaProfiler> profiler;
  Status Mark(ProfilePart part, int64_t layer) {
    return profiler ? profiler->Mark(part, layer) : Status::Ok();
  }

  // CUDA graph decode (cuda_decode_graph.cpp).
  std::map<DecodeGraphKey, cudaGraphExec_t> graphs;  // a few caches' worth
  int32_t* h_step = nullptr;                         // pinned [2]: id, position
  float* h_logits = nullptr;                         // pinned [vocab]
  bool graphs_failed = false;                        // capture failed once: eager from then on
  int64_t graph_replays = 0;
  bool step_warmed = false;  // one eager step has run (before the first capture)
  // A one-token step runs as captured (device-side id and position, split-K attention,
  // GEMV MoE) unless ForcePaths asks for the grouped MoE or the tiled attention.
  bool StepOnDevice() const { return force_moe != 1 && force_attention != 1; }
  void DropGraphs();

  int64_t CacheBytes(int64_t context) const;
  uint64_t KvBytesPerToken() const;  // K and V of every attention layer, one token
  // Contexts above this cannot be counted: their K/V bytes would overflow CacheBytes (and the
  // cache arena's size_t sum), which would make an absurd context look small enough to fit.
  int64_t LargestCountableContext() const;
  size_t PlanWorkspace(bool bind);
  Status PlanWeights(const JambaWeights& w);  // cuda_upload.cpp: jobs + weights arena sizes
  Status RunUploads();                        // after the arenas are allocated
  // Fills plan from the sized arenas for a device with `free`/`total` bytes; false when
  // weights + cache + workspace + headroom exceed the budget.
  bool MakePlan(uint64_t free, uint64_t total);
  Result<std::unique_ptr<CudaCache>> MakeCache(int64_t max_context);
  Status ForwardChunk(const int64_t* ids, int64_t T, CudaCache& cache, float* logits_all,
                      bool want_last, float* logits_last);
  // The captured one-token step: *ran = false when it cannot be used (capture failed), so
  // the caller runs the eager path instead.
  Status DecodeWithGraph(int64_t id, CudaCache& cache, float* logits, bool* ran);
  // Embedding, every layer and the final norm over T tokens: the part of a chunk both the
  // eager path and the capture run. d_ids are the token ids on the device; d_pos (graph
  // capture) the position on the device, else the cache's position is used.
  Status RunLayers(const int32_t* d_ids, int64_t T, CudaCache& cache, const int32_t* d_pos);
  // lm_head over the last of T normed rows into work.logits [vocab].
  Status LastLogits(int64_t T);
  Status Observe(int64_t layer, const float* dev_x, int64_t T, int64_t width);
};

// All-position logits are computed this many rows at a time (so the workspace does not
// grow with chunk x vocab: 2048 x 65536 float32 would be 512 MiB).
inline constexpr int64_t kLogitsRows = 256;

Status CudaStatus(cudaError_t e, const std::string& what);

}  // namespace folio
