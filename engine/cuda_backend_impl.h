// Internals of the CUDA backend shared by cuda_backend.cpp (setup, memory plan, upload,
// caches) and cuda_forward.cpp (the graph). Not a public header.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <mutex>
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
  std::vector<std::shared_ptr<std::vector<const void*>>>
      tables_;    // expert pointer tables (host side)
  std::mutex mu;  // one Forward at a time

  // Workspace pieces for chunk C (set by PlanWorkspace / BindWorkspace).
  struct Work {
    int32_t* ids;
    float *x, *xn, *xz, *xc, *p, *dt, *y, *q, *kv, *o, *g, *u, *logits;
    void* lowp;  // [C, max width] weight dtype: the GEMM input of the moment
    void* moe;
    size_t moe_bytes;
    void* attn;
    size_t attn_bytes;
  } work{};

  int64_t CacheBytes(int64_t context) const;
  size_t PlanWorkspace(bool bind);
  Status Upload(const JambaWeights& w);
  Result<std::unique_ptr<CudaCache>> MakeCache(int64_t max_context);
  Status ForwardChunk(const int64_t* ids, int64_t T, CudaCache& cache, float* logits_all,
                      bool want_last, float* logits_last);
  Status Observe(int64_t layer, const float* dev_x, int64_t T, int64_t width);
};

}  // namespace folio
