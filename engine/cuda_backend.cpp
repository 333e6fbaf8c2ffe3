// CUDA backend setup: device check, memory plan, weight upload, caches, snapshots.
// The graph itself is in cuda_forward.cpp.
#include <cstdio>
#include <functional>

#include "engine/cuda_backend.h"
#include "engine/cuda_backend_impl.h"
#include "kernels/attention.h"
#include "kernels/device.h"

namespace folio {
namespace {

// cuBLAS's own workspace, the CUDA context's growth and allocator rounding: kept free.
constexpr uint64_t kHeadroomBytes = 256ull << 20;

std::string Gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

Status Cuda(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return Status::Ok();
  return Internal(what + ": " + cudaGetErrorString(e));
}

// An upload planned before the arena exists: where it goes and how to fill it.
struct UploadJob {
  size_t offset;
  uint64_t bytes;
  std::function<Status(void* dst, cudaStream_t)> fill;
  std::function<void(void*)> bind;  // stores the device pointer in the weights struct
};

// Copies `src` to `dst` on the device as `to` (bf16 or f32), converting on the host in
// slices when the stored dtype differs (bf16 -> bf16 and f32 -> f32 copy the mapped bytes).
Status CopyTensor(const TensorView& src, DType to, void* dst) {
  if (src.dtype == to)
    return Cuda(cudaMemcpy(dst, src.data, src.nbytes, cudaMemcpyHostToDevice), src.name);
  constexpr int64_t kSlice = 1 << 20;
  std::vector<float> f(static_cast<size_t>(std::min<int64_t>(kSlice, src.numel())));
  std::vector<uint16_t> h(to == DType::kBF16 ? f.size() : 0);
  for (int64_t b = 0; b < src.numel(); b += kSlice) {
    const int64_t n = std::min(kSlice, src.numel() - b);
    src.ToF32(b, n, f.data());
    if (to == DType::kF32) {
      FOLIO_RETURN_IF_ERROR(
          Cuda(cudaMemcpy(static_cast<float*>(dst) + b, f.data(), n * 4, cudaMemcpyHostToDevice),
               src.name));
    } else {
      for (int64_t i = 0; i < n; ++i)
        h[static_cast<size_t>(i)] = F32ToBf16(f[static_cast<size_t>(i)]);
      FOLIO_RETURN_IF_ERROR(
          Cuda(cudaMemcpy(static_cast<uint16_t*>(dst) + b, h.data(), n * 2, cudaMemcpyHostToDevice),
               src.name));
    }
  }
  return Status::Ok();
}

class Planner {
 public:
  Planner(DeviceArena& arena, DType wdtype) : arena_(arena), wdtype_(wdtype) {}

  void Matrix(const TensorView& t, DevMatrix* out) {
    out->rows = t.dim(0);
    out->cols = t.numel() / out->rows;
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * DTypeSize(wdtype_);
    const DType to = wdtype_;
    jobs_.push_back({arena_.Reserve(bytes), bytes,
                     [&t, to](void* d, cudaStream_t) { return CopyTensor(t, to, d); },
                     [out](void* p) { out->p = p; }});
  }
  void Raw(const TensorView& t, const void** out) {  // weight dtype, untyped pointer
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * DTypeSize(wdtype_);
    const DType to = wdtype_;
    jobs_.push_back({arena_.Reserve(bytes), bytes,
                     [&t, to](void* d, cudaStream_t) { return CopyTensor(t, to, d); },
                     [out](void* p) { *out = p; }});
  }
  void F32(const TensorView& t, const float** out) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
    jobs_.push_back({arena_.Reserve(bytes), bytes,
                     [&t](void* d, cudaStream_t) { return CopyTensor(t, DType::kF32, d); },
                     [out](void* p) { *out = static_cast<const float*>(p); }});
  }
  void F32(const std::vector<float>& v, const float** out) {
    if (v.empty()) return;
    const uint64_t bytes = v.size() * 4;
    jobs_.push_back({arena_.Reserve(bytes), bytes,
                     [&v](void* d, cudaStream_t) {
                       return Cuda(cudaMemcpy(d, v.data(), v.size() * 4, cudaMemcpyHostToDevice),
                                   "mamba parameters");
                     },
                     [out](void* p) { *out = static_cast<const float*>(p); }});
  }
  void Pointers(std::vector<const void*>* host, const void* const** out) {  // filled after binds
    const uint64_t bytes = 3 * 64 * sizeof(void*);
    jobs_.push_back({arena_.Reserve(bytes), bytes,
                     [host](void* d, cudaStream_t) {
                       return Cuda(cudaMemcpy(d, host->data(), host->size() * sizeof(void*),
                                              cudaMemcpyHostToDevice),
                                   "expert pointers");
                     },
                     [out](void* p) { *out = static_cast<const void* const*>(p); }});
  }

  // Binds every pointer, then fills in order (the pointer tables come after their experts).
  Status Run(const std::function<void(uint64_t, uint64_t)>& progress) {
    uint64_t total = 0, done = 0;
    for (const UploadJob& j : jobs_) total += j.bytes;
    for (const UploadJob& j : jobs_) j.bind(arena_.At(j.offset));
    for (auto& fn : late_) fn();
    for (const UploadJob& j : jobs_) {
      FOLIO_RETURN_IF_ERROR(j.fill(arena_.At(j.offset), nullptr));
      done += j.bytes;
      if (progress) progress(done, total);
    }
    // cudaMemcpy from pageable memory may return before its DMA lands, and the backend's
    // stream does not wait for the default stream: finish every copy here.
    return Cuda(cudaDeviceSynchronize(), "uploading the weights");
  }
  void Late(std::function<void()> fn) { late_.push_back(std::move(fn)); }

 private:
  DeviceArena& arena_;
  DType wdtype_;
  std::vector<UploadJob> jobs_;
  std::vector<std::function<void()>> late_;
};

}  // namespace

Status DeviceArena::Allocate(const char* what) {
  if (base_ || used_ == 0) return Status::Ok();
  const cudaError_t e = cudaMalloc(&base_, used_);
  if (e != cudaSuccess) {
    base_ = nullptr;
    cudaGetLastError();
    return ResourceExhausted(std::string("could not allocate ") + Gib(used_) +
                             " of GPU memory for " + what + ": " + cudaGetErrorString(e));
  }
  return Status::Ok();
}

std::string CudaMemoryPlan::Describe() const {
  return "weights " + Gib(weight_bytes) + " + cache " + Gib(cache_bytes) + " + workspace " +
         Gib(workspace_bytes) + " + headroom " + Gib(kHeadroomBytes) + " = " +
         Gib(weight_bytes + cache_bytes + workspace_bytes + kHeadroomBytes) +
         " (GPU: " + Gib(free_bytes) + " free of " + Gib(total_bytes) + ")";
}

std::string CudaUnavailableReason() {
  std::string why;
  if (kernels::CudaDeviceCount(&why) > 0) return "";
  return "no CUDA device found (" + why + "); use --device cpu";
}

CudaBackendImpl::~CudaBackendImpl() {
  gemm.reset();
  if (stream) cudaStreamDestroy(stream);
}

int64_t CudaBackendImpl::CacheBytes(int64_t context) const {
  const ModelConfig& c = *config;
  const int64_t kvd = c.num_key_value_heads * c.head_dim();
  int64_t bytes = 0;
  for (const DevLayer& l : layers) {
    if (l.plan.mixer == MixerKind::kAttention) {
      bytes += 2 * ((context * kvd * static_cast<int64_t>(DTypeSize(wdtype)) + 255) / 256 * 256);
    } else {
      bytes += (c.d_inner() * (c.mamba_d_conv - 1) * 4 + 255) / 256 * 256;
      bytes += (c.d_inner() * c.mamba_d_state * 4 + 255) / 256 * 256;
    }
  }
  return bytes;
}

Status CudaBackendImpl::Upload(const JambaWeights& w) {
  const ModelConfig& c = *config;
  Planner pl(weights, wdtype);
  pl.Matrix(w.embed, &embed);
  pl.Matrix(w.lm_head, &lm_head);
  pl.F32(w.final_norm, &final_norm);
  layers.resize(w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& lw = w.layers[i];
    DevLayer& dl = layers[i];
    dl.plan = lw.plan;
    pl.F32(lw.input_norm, &dl.input_norm);
    pl.F32(lw.pre_ff_norm, &dl.pre_ff_norm);
    if (lw.plan.mixer == MixerKind::kMamba) {
      const MambaWeights& m = lw.mamba;
      if (m.in_proj_bias.data || m.out_proj_bias.data)
        return Unsupported(
            "the CUDA backend does not run mamba_proj_bias = true checkpoints yet; use --device "
            "cpu");
      pl.Matrix(m.in_proj, &dl.mamba.in_proj);
      pl.Matrix(m.x_proj, &dl.mamba.x_proj);
      pl.Matrix(m.dt_proj, &dl.mamba.dt_proj);
      pl.Matrix(m.out_proj, &dl.mamba.out_proj);
      pl.F32(m.dt_proj_bias, &dl.mamba.dt_bias);
      pl.F32(m.dt_norm, &dl.mamba.dt_norm);
      pl.F32(m.b_norm, &dl.mamba.b_norm);
      pl.F32(m.c_norm, &dl.mamba.c_norm);
      pl.F32(m.A, &dl.mamba.A);
      pl.F32(m.conv_w, &dl.mamba.conv_w);
      pl.F32(m.conv_b, &dl.mamba.conv_b);
      pl.F32(m.D, &dl.mamba.D);
    } else {
      pl.Matrix(lw.attn.q, &dl.attn.q);
      pl.Matrix(lw.attn.k, &dl.attn.k);
      pl.Matrix(lw.attn.v, &dl.attn.v);
      pl.Matrix(lw.attn.o, &dl.attn.o);
    }
    if (lw.plan.mlp == MlpKind::kMoE) {
      kernels::MoeWeights& mw = dl.moe;
      const int64_t E = static_cast<int64_t>(lw.moe.experts.size());
      if (E > 64) return Unsupported("the CUDA backend runs at most 64 experts per layer");
      mw.n_experts = E;
      mw.hidden = c.hidden_size;
      mw.intermediate = c.intermediate_size;
      mw.dtype = wdtype;
      mw.gate.assign(static_cast<size_t>(E), nullptr);
      mw.up.assign(static_cast<size_t>(E), nullptr);
      mw.down.assign(static_cast<size_t>(E), nullptr);
      pl.Raw(lw.moe.router, &mw.router);
      for (int64_t e = 0; e < E; ++e) {
        const MlpWeights& ew = lw.moe.experts[static_cast<size_t>(e)];
        pl.Raw(ew.gate, &mw.gate[static_cast<size_t>(e)]);
        pl.Raw(ew.up, &mw.up[static_cast<size_t>(e)]);
        pl.Raw(ew.down, &mw.down[static_cast<size_t>(e)]);
      }
      // [gate..., up..., down...] for the GEMV path, assembled once the experts are bound.
      auto table = std::make_shared<std::vector<const void*>>();
      pl.Late([table, &mw] {
        table->assign(mw.gate.begin(), mw.gate.end());
        table->insert(table->end(), mw.up.begin(), mw.up.end());
        table->insert(table->end(), mw.down.begin(), mw.down.end());
      });
      tables_.push_back(table);
      pl.Pointers(table.get(), &mw.device_ptrs);
    } else {
      pl.Matrix(lw.mlp.gate, &dl.mlp.gate);
      pl.Matrix(lw.mlp.up, &dl.mlp.up);
      pl.Matrix(lw.mlp.down, &dl.mlp.down);
    }
  }
  // The plan: everything is sized now, nothing allocated yet.
  plan.weight_bytes = weights.size();
  plan.cache_bytes = static_cast<uint64_t>(CacheBytes(options.planned_context));
  plan.workspace_bytes = PlanWorkspace(false);
  size_t free_b = 0, total_b = 0;
  if (!kernels::CudaMemInfo(&free_b, &total_b))
    return Internal("could not read the GPU's free memory");
  plan.free_bytes = free_b;
  plan.total_bytes = total_b;
  const uint64_t need =
      plan.weight_bytes + plan.cache_bytes + plan.workspace_bytes + kHeadroomBytes;
  if (need > free_b)
    return ResourceExhausted(
        "the model does not fit on the GPU for a " + std::to_string(options.planned_context) +
        "-token context: " + plan.Describe() + "; use --device cpu or a shorter context");
  FOLIO_RETURN_IF_ERROR(weights.Allocate("the weights"));
  FOLIO_RETURN_IF_ERROR(workspace.Allocate("the workspace"));
  PlanWorkspace(true);
  return pl.Run(options.progress);
}

Result<std::unique_ptr<CudaCache>> CudaBackendImpl::MakeCache(int64_t max_context) {
  const ModelConfig& c = *config;
  auto cache = std::make_unique<CudaCache>();
  cache->max_ctx = max_context;
  cache->layers.resize(layers.size());
  const int64_t kvd = c.num_key_value_heads * c.head_dim();
  std::vector<size_t> off(layers.size() * 2);
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].plan.mixer == MixerKind::kAttention) {
      off[2 * i] = cache->arena.Reserve(static_cast<size_t>(max_context * kvd) * DTypeSize(wdtype));
      off[2 * i + 1] =
          cache->arena.Reserve(static_cast<size_t>(max_context * kvd) * DTypeSize(wdtype));
    } else {
      off[2 * i] =
          cache->arena.Reserve(static_cast<size_t>(c.d_inner() * (c.mamba_d_conv - 1)) * 4);
      off[2 * i + 1] = cache->arena.Reserve(static_cast<size_t>(c.d_inner() * c.mamba_d_state) * 4);
    }
  }
  Status st =
      cache->arena.Allocate(("a cache of " + std::to_string(max_context) + " tokens").c_str());
  if (!st.ok()) return st;
  for (size_t i = 0; i < layers.size(); ++i) {
    CudaCache::Layer& l = cache->layers[i];
    if (layers[i].plan.mixer == MixerKind::kAttention) {
      l.k = cache->arena.At(off[2 * i]);
      l.v = cache->arena.At(off[2 * i + 1]);
    } else {
      l.conv = static_cast<float*>(cache->arena.At(off[2 * i]));
      l.ssm = static_cast<float*>(cache->arena.At(off[2 * i + 1]));
    }
  }
  // Mamba state starts at zero; K/V rows are written before they are read.
  if (cache->arena.size()) {
    // On the backend's stream: it does not wait for the legacy default stream.
    FOLIO_RETURN_IF_ERROR(Cuda(cudaMemsetAsync(cache->arena.At(0), 0, cache->arena.size(), stream),
                               "clearing the cache"));
    FOLIO_RETURN_IF_ERROR(Cuda(cudaStreamSynchronize(stream), "clearing the cache"));
  }
  return cache;
}

CudaBackend::CudaBackend(std::unique_ptr<CudaBackendImpl> impl) : impl_(std::move(impl)) {}
CudaBackend::~CudaBackend() = default;
const ModelConfig& CudaBackend::config() const {
  return *impl_->config;
}
const CudaMemoryPlan& CudaBackend::plan() const {
  return impl_->plan;
}
void CudaBackend::ForcePaths(int moe_path, int attention_path) {
  impl_->force_moe = moe_path;
  impl_->force_attention = attention_path;
}

Result<std::unique_ptr<CudaBackend>> CudaBackend::Create(
    std::shared_ptr<const Checkpoint> checkpoint, const CudaBackendOptions& options) {
  if (!checkpoint) return InvalidArgument("no checkpoint given to the CUDA backend");
  const std::string why = CudaUnavailableReason();
  if (!why.empty()) return Unsupported(why);
  if (options.chunk < 1 || options.planned_context < 0)
    return InvalidArgument("CUDA backend: chunk must be positive and planned_context not negative");
  FOLIO_ASSIGN_OR_RETURN(JambaWeights w, JambaWeights::Bind(*checkpoint));
  auto impl = std::make_unique<CudaBackendImpl>();
  impl->checkpoint = std::move(checkpoint);
  impl->config = &impl->checkpoint->config();
  impl->options = options;
  if (impl->options.planned_context == 0)
    impl->options.planned_context = impl->config->max_position_embeddings;
  impl->wdtype = options.f32_weights ? DType::kF32 : DType::kBF16;
  FOLIO_RETURN_IF_ERROR(
      Cuda(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking), "creating a stream"));
  FOLIO_ASSIGN_OR_RETURN(impl->gemm, kernels::GemmRunner::Create(impl->stream));
  FOLIO_RETURN_IF_ERROR(impl->checkpoint->CheckIntact());
  FOLIO_RETURN_IF_ERROR(impl->Upload(w));
  return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(impl)));
}

Result<std::unique_ptr<CudaBackend>> CudaBackend::Open(const std::string& dir,
                                                       const CudaBackendOptions& options) {
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(dir));
  return Create(std::shared_ptr<const Checkpoint>(std::move(ckpt)), options);
}

Result<std::unique_ptr<CacheState>> CudaBackend::NewCache(int64_t max_context) {
  if (max_context <= 0) return InvalidArgument("max_context must be positive");
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CudaCache> cache, impl_->MakeCache(max_context));
  cache->owner = this;
  return std::unique_ptr<CacheState>(std::move(cache));
}

Result<std::unique_ptr<CacheState>> CudaBackend::Snapshot(const CacheState& state) {
  const auto* from = dynamic_cast<const CudaCache*>(&state);
  if (!from || from->owner != this) return InvalidArgument("cache was made by another backend");
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CacheState> copy, NewCache(from->max_ctx));
  FOLIO_RETURN_IF_ERROR(Restore(*from, *copy));
  return copy;
}

// Copies the used K/V rows and all Mamba state; the target keeps its own max_context.
Status CudaBackend::Restore(const CacheState& snapshot, CacheState& state) {
  const auto* from = dynamic_cast<const CudaCache*>(&snapshot);
  auto* to = dynamic_cast<CudaCache*>(&state);
  if (!from || !to || from->owner != this || to->owner != this)
    return InvalidArgument("snapshot or cache was made by another backend");
  if (from->pos > to->max_ctx)
    return InvalidArgument("snapshot holds " + std::to_string(from->pos) +
                           " tokens, more than this cache's context of " +
                           std::to_string(to->max_ctx));
  const ModelConfig& c = *impl_->config;
  const size_t kv_row =
      static_cast<size_t>(c.num_key_value_heads * c.head_dim()) * DTypeSize(impl_->wdtype);
  const size_t conv = static_cast<size_t>(c.d_inner() * (c.mamba_d_conv - 1)) * 4;
  const size_t ssm = static_cast<size_t>(c.d_inner() * c.mamba_d_state) * 4;
  for (size_t i = 0; i < to->layers.size(); ++i) {
    const CudaCache::Layer& a = from->layers[i];
    CudaCache::Layer& b = to->layers[i];
    if (a.k) {
      const size_t n = kv_row * static_cast<size_t>(from->pos);
      if (n) {
        FOLIO_RETURN_IF_ERROR(
            Cuda(cudaMemcpyAsync(b.k, a.k, n, cudaMemcpyDeviceToDevice, impl_->stream), "restore"));
        FOLIO_RETURN_IF_ERROR(
            Cuda(cudaMemcpyAsync(b.v, a.v, n, cudaMemcpyDeviceToDevice, impl_->stream), "restore"));
      }
    } else {
      if (conv)
        FOLIO_RETURN_IF_ERROR(
            Cuda(cudaMemcpyAsync(b.conv, a.conv, conv, cudaMemcpyDeviceToDevice, impl_->stream),
                 "restore"));
      FOLIO_RETURN_IF_ERROR(Cuda(
          cudaMemcpyAsync(b.ssm, a.ssm, ssm, cudaMemcpyDeviceToDevice, impl_->stream), "restore"));
    }
  }
  FOLIO_RETURN_IF_ERROR(Cuda(cudaStreamSynchronize(impl_->stream), "restore"));
  to->pos = from->pos;
  return Status::Ok();
}

Status CudaBackend::SetHiddenObserver(HiddenObserver observer) {
  impl_->observer = std::move(observer);
  return Status::Ok();
}

}  // namespace folio
