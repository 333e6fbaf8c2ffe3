// The weight upload of the CUDA backend, planned before anything is allocated:
//   PlanWeights  reserves every tensor's place in the weights arena and records how to fill
//                it (an upload job); the plan's sizes come from here
//   RunUploads   binds the device pointers, then fills each place in order on the stream
// A tensor is filled one of three ways:
//   host data            copied (converted on the host when the stored dtype differs)
//   synthetic, no data   made on the device (kernels::FillSynthetic: bench --synthetic,
//                        52B parameters with no files and no host copy)
//   an expert matrix     with experts_int8: brought to the device in its stored dtype (or
//                        filled) into a staging buffer (the workspace, not yet in use), then
//                        quantised into the arena (kernels::QuantizeRowsInt8), int8 [N, K]
//                        plus a float32 scale per row [N]
#include <algorithm>

#include "engine/cuda_backend.h"
#include "engine/cuda_backend_impl.h"
#include "kernels/int8.h"
#include "kernels/synthetic.h"

namespace folio {
namespace {

Status Cuda(cudaError_t e, const std::string& what) {
  return CudaStatus(e, what);
}

// Copies host tensor `src` to `dst` on the device as `to` (bf16 or f32), converting on the
// host in slices when the stored dtype differs (bf16 -> bf16 and f32 -> f32 copy the bytes).
// On `stream`, so that kernels on it (int8 quantisation) see the data: a copy from
// pageable memory returns once the host bytes are staged, so the slices may be reused.
Status CopyTensor(const TensorView& src, DType to, void* dst, cudaStream_t stream) {
  if (src.dtype == to)
    return Cuda(cudaMemcpyAsync(dst, src.data, src.nbytes, cudaMemcpyHostToDevice, stream),
                src.name);
  constexpr int64_t kSlice = 1 << 20;
  std::vector<float> f(static_cast<size_t>(std::min<int64_t>(kSlice, src.numel())));
  std::vector<uint16_t> h(to == DType::kBF16 ? f.size() : 0);
  for (int64_t b = 0; b < src.numel(); b += kSlice) {
    const int64_t n = std::min(kSlice, src.numel() - b);
    src.ToF32(b, n, f.data());
    if (to == DType::kF32) {
      FOLIO_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(static_cast<float*>(dst) + b, f.data(), n * 4,
                                                 cudaMemcpyHostToDevice, stream),
                                 src.name));
    } else {
      for (int64_t i = 0; i < n; ++i)
        h[static_cast<size_t>(i)] = F32ToBf16(f[static_cast<size_t>(i)]);
      FOLIO_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(static_cast<uint16_t*>(dst) + b, h.data(), n * 2,
                                                 cudaMemcpyHostToDevice, stream),
                                 src.name));
    }
  }
  return Status::Ok();
}

// Host data is copied; a synthetic tensor without host data is filled on the device.
Status FillOrCopy(const TensorView& t, DType to, void* dst, cudaStream_t stream) {
  if (t.data) return CopyTensor(t, to, dst, stream);
  if (t.synthetic.active()) return kernels::FillSynthetic(t.synthetic, t.numel(), to, dst, stream);
  return InvalidArgument(t.name + ": the tensor has no data and no synthetic fill");
}

Status NoFill(void*, cudaStream_t) {
  return Status::Ok();
}

class Planner {
 public:
  explicit Planner(CudaBackendImpl& b) : b_(b) {}

  void Matrix(const TensorView& t, DevMatrix* out) {
    out->rows = t.dim(0);
    out->cols = t.numel() / out->rows;
    Raw(t, &out->p);
  }
  void Raw(const TensorView& t, const void** out) {  // weight dtype, untyped pointer
    const DType to = b_.wdtype;
    Add(
        static_cast<uint64_t>(t.numel()) * DTypeSize(to),
        [&t, to](void* d, cudaStream_t s) { return FillOrCopy(t, to, d, s); },
        [out](void* p) { *out = p; });
  }
  void F32(const TensorView& t, const float** out) {
    Add(
        static_cast<uint64_t>(t.numel()) * 4,
        [&t](void* d, cudaStream_t s) { return FillOrCopy(t, DType::kF32, d, s); },
        [out](void* p) { *out = static_cast<const float*>(p); });
  }
  void F32(const std::vector<float>& v, const float** out) {
    if (v.empty()) return;
    Add(
        v.size() * 4,
        [&v](void* d, cudaStream_t s) {
          return Cuda(cudaMemcpyAsync(d, v.data(), v.size() * 4, cudaMemcpyHostToDevice, s),
                      "mamba parameters");
        },
        [out](void* p) { *out = static_cast<const float*>(p); });
  }
  // An int8 copy of matrix t [N, K] (q) and its row scales [N]: staged in t's own dtype
  // (bf16 for synthetic tensors, f32 for anything not bf16 on the host, so the scales come
  // from the stored values as the CPU backend's do), then quantised on the device.
  void Int8(const TensorView& t, const void** q_out, const float** scale_out) {
    const int64_t N = t.dim(0), K = t.numel() / N;
    const DType stage = (t.data && t.dtype != DType::kBF16) ? DType::kF32 : DType::kBF16;
    b_.staging_bytes =
        std::max<uint64_t>(b_.staging_bytes, static_cast<uint64_t>(t.numel()) * DTypeSize(stage));
    Add(static_cast<uint64_t>(N) * 4, NoFill, [scale_out](void* p) {
      *scale_out = static_cast<const float*>(p);
    });  // written by the quantisation below (every pointer is bound before any fill)
    CudaBackendImpl* b = &b_;
    Add(
        static_cast<uint64_t>(N * K),
        [&t, stage, N, K, scale_out, b](void* d, cudaStream_t s) {
          void* staging = b->workspace.At(0);
          FOLIO_RETURN_IF_ERROR(FillOrCopy(t, stage, staging, s));
          return kernels::QuantizeRowsInt8(staging, stage, N, K, static_cast<int8_t*>(d),
                                           const_cast<float*>(*scale_out), s);
        },
        [q_out](void* p) { *q_out = p; });
  }
  // A [3, E] table of device pointers (gate row, up row, down row), copied from `host`
  // once Late has filled it.
  void Pointers(std::shared_ptr<std::vector<const void*>> host, std::function<void(void*)> bind) {
    Add(
        3 * 64 * sizeof(void*),
        [host](void* d, cudaStream_t s) {
          return Cuda(cudaMemcpyAsync(d, host->data(), host->size() * sizeof(void*),
                                      cudaMemcpyHostToDevice, s),
                      "expert pointers");
        },
        std::move(bind));
  }
  void Late(std::function<void()> fn) { b_.late_binds.push_back(std::move(fn)); }

  // Reservations between these count as expert bytes.
  void CountExperts(bool on) { experts_ = on; }
  uint64_t expert_bytes() const { return expert_bytes_; }

 private:
  void Add(uint64_t bytes, std::function<Status(void*, cudaStream_t)> fill,
           std::function<void(void*)> bind) {
    const size_t off = b_.weights.Reserve(bytes);
    if (experts_) expert_bytes_ += (bytes + 255) / 256 * 256;
    b_.uploads.push_back({off, bytes, std::move(fill), std::move(bind)});
  }

  CudaBackendImpl& b_;
  bool experts_ = false;
  uint64_t expert_bytes_ = 0;
};

// [a..., b..., c...] of three per-expert pointer lists.
template <typename P>
void Concat3(std::vector<const void*>* out, const std::vector<P>& a, const std::vector<P>& b,
             const std::vector<P>& c) {
  out->clear();
  for (const auto* v : {&a, &b, &c})
    for (P p : *v) out->push_back(p);
}

}  // namespace

Status CudaBackendImpl::PlanWeights(const JambaWeights& w) {
  const ModelConfig& c = *config;
  Planner pl(*this);
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
      if (m.in_proj_bias.data || m.out_proj_bias.data || m.in_proj_bias.synthetic.active() ||
          m.out_proj_bias.synthetic.active())
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
      const size_t ne = static_cast<size_t>(E);
      mw.n_experts = E;
      mw.hidden = c.hidden_size;
      mw.intermediate = c.intermediate_size;
      mw.dtype = wdtype;
      mw.int8 = options.experts_int8;
      // The int8 expert GEMMs of prefill (kernels/int8.h) need K and ldx, i.e. hidden and
      // intermediate, to be multiples of 8: refuse here rather than at the first prompt.
      if (mw.int8 && (c.hidden_size % 8 != 0 || c.intermediate_size % 8 != 0))
        return Unsupported(
            "int8 experts need hidden_size and intermediate_size to be multiples "
            "of 8 (this model has " +
            std::to_string(c.hidden_size) + " and " + std::to_string(c.intermediate_size) +
            "); load without --experts-int8");
      mw.gate.assign(ne, nullptr);
      mw.up.assign(ne, nullptr);
      mw.down.assign(ne, nullptr);
      pl.Raw(lw.moe.router, &mw.router);  // the router stays in the weight dtype
      pl.CountExperts(true);
      if (mw.int8) {
        mw.gate_scale.assign(ne, nullptr);
        mw.up_scale.assign(ne, nullptr);
        mw.down_scale.assign(ne, nullptr);
      }
      for (size_t e = 0; e < ne; ++e) {
        const MlpWeights& ew = lw.moe.experts[e];
        if (mw.int8) {
          pl.Int8(ew.gate, &mw.gate[e], &mw.gate_scale[e]);
          pl.Int8(ew.up, &mw.up[e], &mw.up_scale[e]);
          pl.Int8(ew.down, &mw.down[e], &mw.down_scale[e]);
        } else {
          pl.Raw(ew.gate, &mw.gate[e]);
          pl.Raw(ew.up, &mw.up[e]);
          pl.Raw(ew.down, &mw.down[e]);
        }
      }
      // [gate..., up..., down...] for the GEMV path, assembled once the experts are bound;
      // with int8 experts the same for their scales.
      auto table = std::make_shared<std::vector<const void*>>();
      pl.Late([table, &mw] { Concat3(table.get(), mw.gate, mw.up, mw.down); });
      tables_.push_back(table);
      pl.Pointers(table, [&mw](void* p) { mw.device_ptrs = static_cast<const void* const*>(p); });
      if (mw.int8) {
        auto scales = std::make_shared<std::vector<const void*>>();
        pl.Late(
            [scales, &mw] { Concat3(scales.get(), mw.gate_scale, mw.up_scale, mw.down_scale); });
        tables_.push_back(scales);
        pl.Pointers(scales,
                    [&mw](void* p) { mw.device_scales = static_cast<const float* const*>(p); });
      }
      pl.CountExperts(false);
    } else {
      pl.Matrix(lw.mlp.gate, &dl.mlp.gate);
      pl.Matrix(lw.mlp.up, &dl.mlp.up);
      pl.Matrix(lw.mlp.down, &dl.mlp.down);
    }
  }
  plan.expert_bytes = pl.expert_bytes();
  return Status::Ok();
}

Status CudaBackendImpl::RunUploads() {
  uint64_t total = 0, done = 0;
  for (const UploadJob& j : uploads) total += j.bytes;
  for (const UploadJob& j : uploads) j.bind(weights.At(j.offset));
  for (auto& fn : late_binds) fn();
  Status st;
  for (const UploadJob& j : uploads) {
    st = j.fill(weights.At(j.offset), stream);
    if (!st.ok()) break;
    done += j.bytes;
    if (options.progress) options.progress(done, total);
  }
  // Everything was queued on the stream (copies from pageable memory may return before
  // their DMA lands): finish it all before the weights are used or the staging reused.
  const Status sync = Cuda(cudaDeviceSynchronize(), "uploading the weights");
  uploads.clear();  // the jobs point into the JambaWeights of Create, which is going away
  late_binds.clear();
  return st.ok() ? sync : st;
}

}  // namespace folio
