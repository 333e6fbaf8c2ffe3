// CUDA backend setup: device check, memory plan, caches, snapshots. The weight upload is in
// cuda_upload.cpp, the graph in cuda_forward.cpp.
#include <algorithm>
#include <cstdint>
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
  return CudaStatus(e, what);
}

}  // namespace

Status CudaStatus(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return Status::Ok();
  cudaGetLastError();  // clear it so the next call does not report it again
  return Internal(what + ": " + cudaGetErrorString(e));
}

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
  std::string budget = "GPU: " + Gib(free_bytes) + " free of " + Gib(total_bytes);
  if (limit_bytes != free_bytes) budget += "; limit " + Gib(limit_bytes);
  std::string s = "weights " + Gib(weight_bytes);
  if (expert_bytes) s += " (experts " + Gib(expert_bytes) + ")";
  s += " + cache " + Gib(cache_bytes) + " + workspace " + Gib(workspace_bytes) + " + headroom " +
       Gib(kHeadroomBytes) + " = " +
       Gib(weight_bytes + cache_bytes + workspace_bytes + kHeadroomBytes) + " (" + budget +
       "); largest context that fits: " + std::to_string(max_context) + " tokens";
  return s;
}

std::string CudaUnavailableReason() {
  std::string why;
  if (kernels::CudaDeviceCount(&why) > 0) return "";
  return "no CUDA device found (" + why + "); use --device cpu";
}

CudaBackendImpl::~CudaBackendImpl() {
  DropGraphs();
  if (h_step) cudaFreeHost(h_step);
  if (h_logits) cudaFreeHost(h_logits);
  profiler.reset();
  gemm.reset();
  if (stream) cudaStreamDestroy(stream);
}

uint64_t CudaBackendImpl::KvBytesPerToken() const {
  const int64_t kvd = config->num_key_value_heads * config->head_dim();
  uint64_t bytes = 0;
  for (const DevLayer& l : layers)
    if (l.plan.mixer == MixerKind::kAttention)
      bytes += 2 * static_cast<uint64_t>(kvd) * DTypeSize(wdtype);
  return bytes;
}

bool CudaBackendImpl::MakePlan(uint64_t free, uint64_t total) {
  plan.weight_bytes = weights.size();
  plan.workspace_bytes = workspace.size();
  plan.cache_bytes = static_cast<uint64_t>(CacheBytes(options.planned_context));
  plan.free_bytes = free;
  plan.total_bytes = total;
  plan.limit_bytes =
      options.memory_limit_bytes ? std::min<uint64_t>(free, options.memory_limit_bytes) : free;
  // Largest context: what is left after weights, workspace, headroom and the Mamba state
  // (CacheBytes(0)), less the K/V buffers' alignment, over the K/V bytes of one token.
  const uint64_t fixed = plan.weight_bytes + plan.workspace_bytes + kHeadroomBytes;
  const uint64_t state = static_cast<uint64_t>(CacheBytes(0));
  const uint64_t slack = 512 * layers.size();
  const uint64_t per_token = KvBytesPerToken();
  plan.max_context = 0;
  if (plan.limit_bytes > fixed + state + slack) {
    // Without attention layers a context costs no more memory as it grows: the model's own
    // limit is the largest.
    plan.max_context =
        per_token ? static_cast<int64_t>((plan.limit_bytes - fixed - state - slack) / per_token)
                  : config->max_position_embeddings;
  }
  return fixed + plan.cache_bytes <= plan.limit_bytes;
}

int64_t CudaBackendImpl::LargestCountableContext() const {
  // 2^62 bytes of K/V at most: every product and sum in CacheBytes stays below 2^63.
  const uint64_t per_token = KvBytesPerToken();
  return per_token ? static_cast<int64_t>((uint64_t{1} << 62) / per_token) : INT64_MAX;
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
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->force_moe = moe_path;
  impl_->force_attention = attention_path;
}

namespace {

Status CheckOptions(const CudaBackendOptions& options) {
  if (options.chunk < 1 || options.planned_context < 0)
    return InvalidArgument("CUDA backend: chunk must be positive and planned_context not negative");
  if (options.experts_int8 && options.f32_weights)
    return InvalidArgument(
        "int8 experts need bf16 weights: use --experts-int8 without float32 weights");
  return Status::Ok();
}

// An impl with its weights and workspace planned (sized, nothing allocated, no device
// call). `w` must outlive the upload (its jobs point into it).
Result<std::unique_ptr<CudaBackendImpl>> PlanImpl(std::shared_ptr<const Checkpoint> checkpoint,
                                                  const CudaBackendOptions& options,
                                                  const JambaWeights& w) {
  auto impl = std::make_unique<CudaBackendImpl>();
  impl->checkpoint = std::move(checkpoint);
  impl->config = &impl->checkpoint->config();
  impl->options = options;
  if (impl->options.planned_context == 0)
    impl->options.planned_context = impl->config->max_position_embeddings;
  impl->wdtype = options.f32_weights ? DType::kF32 : DType::kBF16;
  FOLIO_RETURN_IF_ERROR(impl->PlanWeights(w));
  if (impl->options.planned_context > impl->LargestCountableContext())
    return ResourceExhausted("a context of " + std::to_string(impl->options.planned_context) +
                             " tokens needs more than 4 EiB of K/V cache: it cannot fit any GPU");
  const size_t ws = impl->PlanWorkspace(false);
  // int8 experts are staged in the workspace before it is first used: it must hold one.
  if (impl->staging_bytes > ws) impl->workspace.Reserve(impl->staging_bytes - ws);
  return impl;
}

}  // namespace

Result<CudaMemoryPlan> CudaBackend::PlanFor(std::shared_ptr<const Checkpoint> checkpoint,
                                            const CudaBackendOptions& options,
                                            uint64_t device_free_bytes) {
  if (!checkpoint) return InvalidArgument("no checkpoint given to the CUDA backend");
  FOLIO_RETURN_IF_ERROR(CheckOptions(options));
  FOLIO_ASSIGN_OR_RETURN(JambaWeights w, JambaWeights::Bind(*checkpoint));
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackendImpl> impl,
                         PlanImpl(std::move(checkpoint), options, w));
  impl->MakePlan(device_free_bytes, device_free_bytes);
  return impl->plan;
}

Result<std::unique_ptr<CudaBackend>> CudaBackend::Create(
    std::shared_ptr<const Checkpoint> checkpoint, const CudaBackendOptions& options) {
  if (!checkpoint) return InvalidArgument("no checkpoint given to the CUDA backend");
  FOLIO_RETURN_IF_ERROR(CheckOptions(options));
  const std::string why = CudaUnavailableReason();
  if (!why.empty()) return Unsupported(why);
  FOLIO_RETURN_IF_ERROR(checkpoint->CheckIntact());
  FOLIO_ASSIGN_OR_RETURN(JambaWeights w, JambaWeights::Bind(*checkpoint));
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackendImpl> impl,
                         PlanImpl(std::move(checkpoint), options, w));
  size_t free_b = 0, total_b = 0;
  if (!kernels::CudaMemInfo(&free_b, &total_b))
    return Internal("could not read the GPU's free memory");
  if (!impl->MakePlan(free_b, total_b))
    return ResourceExhausted("the model does not fit on the GPU for a " +
                             std::to_string(impl->options.planned_context) +
                             "-token context: " + impl->plan.Describe() +
                             "; use --device cpu, a shorter context or --experts-int8");
  FOLIO_RETURN_IF_ERROR(
      Cuda(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking), "creating a stream"));
  FOLIO_ASSIGN_OR_RETURN(impl->gemm, kernels::GemmRunner::Create(impl->stream));
  impl->sm_count = kernels::CudaSmCount();
  FOLIO_RETURN_IF_ERROR(impl->weights.Allocate("the weights"));
  FOLIO_RETURN_IF_ERROR(impl->workspace.Allocate("the workspace"));
  impl->PlanWorkspace(true);
  FOLIO_RETURN_IF_ERROR(impl->RunUploads());
  return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(impl)));
}

BackendMemory CudaBackend::Memory() const {
  const CudaBackendImpl& b = *impl_;
  BackendMemory m;
  m.weight_bytes = b.plan.weight_bytes;
  m.workspace_bytes = b.plan.workspace_bytes;
  m.cache_bytes_per_token = b.KvBytesPerToken();
  m.cache_fixed_bytes = static_cast<uint64_t>(b.CacheBytes(0));
  m.limit_bytes = b.plan.limit_bytes;
  m.max_context = b.plan.max_context;
  size_t free_b = 0, total_b = 0;
  if (kernels::CudaMemInfo(&free_b, &total_b)) m.in_use_bytes = total_b - free_b;
  return m;
}

Result<std::unique_ptr<CudaBackend>> CudaBackend::Open(const std::string& dir,
                                                       const CudaBackendOptions& options) {
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(dir));
  return Create(std::shared_ptr<const Checkpoint>(std::move(ckpt)), options);
}

// NewCache, Snapshot and Restore take the Forward lock: they queue work on the backend's
// stream, which must not happen while another thread captures a decode graph on it (the
// work would be captured into the graph, or a synchronize would break the capture).
Result<std::unique_ptr<CacheState>> CudaBackend::NewCache(int64_t max_context) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return NewCacheLocked(max_context);
}

Result<std::unique_ptr<CacheState>> CudaBackend::NewCacheLocked(int64_t max_context) {
  if (max_context <= 0) return InvalidArgument("max_context must be positive");
  if (max_context > impl_->LargestCountableContext())
    return ResourceExhausted("a cache of " + std::to_string(max_context) +
                             " tokens needs more than 4 EiB of K/V: it cannot fit any GPU");
  const CudaMemoryPlan& p = impl_->plan;
  const uint64_t bytes = static_cast<uint64_t>(impl_->CacheBytes(max_context));
  // Under --memory-limit the budget holds for caches too (the GPU itself may have more).
  if (impl_->options.memory_limit_bytes &&
      p.weight_bytes + p.workspace_bytes + kHeadroomBytes + bytes > p.limit_bytes)
    return ResourceExhausted("a cache of " + std::to_string(max_context) + " tokens (" +
                             Gib(bytes) + ") does not fit the memory limit of " +
                             Gib(p.limit_bytes) + " beside weights " + Gib(p.weight_bytes) +
                             " and workspace " + Gib(p.workspace_bytes) + "; at most " +
                             std::to_string(p.max_context) + " tokens fit");
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CudaCache> cache, impl_->MakeCache(max_context));
  cache->owner = this;
  return std::unique_ptr<CacheState>(std::move(cache));
}

Result<std::unique_ptr<CacheState>> CudaBackend::Snapshot(const CacheState& state) {
  const auto* from = dynamic_cast<const CudaCache*>(&state);
  if (!from || from->owner != this) return InvalidArgument("cache was made by another backend");
  std::lock_guard<std::mutex> lock(impl_->mu);
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CacheState> copy, NewCacheLocked(from->max_ctx));
  FOLIO_RETURN_IF_ERROR(RestoreLocked(*from, *copy));
  return copy;
}

Status CudaBackend::Restore(const CacheState& snapshot, CacheState& state) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return RestoreLocked(snapshot, state);
}

// Copies the used K/V rows and all Mamba state; the target keeps its own max_context.
Status CudaBackend::RestoreLocked(const CacheState& snapshot, CacheState& state) {
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
  std::lock_guard<std::mutex> lock(impl_->mu);  // Forward calls it
  impl_->observer = std::move(observer);
  return Status::Ok();
}

}  // namespace folio
