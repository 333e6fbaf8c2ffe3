// The Jamba graph on the GPU (JAMBA.md), per sub-batch of at most options.chunk tokens:
//   x = embed(ids)
//   per layer: x += Mixer(RMSNorm_input(x)); x += MLP(RMSNorm_pre_ff(x))
//   logits = lm_head(RMSNorm_final(x))
// The residual adds are fused into the last GEMM of each block (beta = 1). With bf16
// weights every GEMM input is converted to bf16 first (fused into the norms and SwiGLU
// where they produce it); outputs and everything between GEMMs stay float32.
// With profiling on, Mark() records an event after each part (cuda_profile.cpp); the
// one-token step can also be captured into a CUDA graph (cuda_decode_graph.cpp), which
// runs this same code with the position read from the device (d_pos).
#include <chrono>
#include <cmath>

#include "engine/cuda_backend.h"
#include "engine/cuda_backend_impl.h"
#include "kernels/attention.h"
#include "kernels/conv1d.h"
#include "kernels/elementwise.h"
#include "kernels/norms.h"
#include "kernels/selective_scan.h"

namespace folio {
namespace {

Status Cuda(cudaError_t e, const std::string& what) {
  return CudaStatus(e, what);
}

constexpr int64_t kSplitKMaxT = 16;  // below this many queries the split-K kernel is used
constexpr int64_t kMoeGemvMaxT = 4;  // up to this many tokens the MoE GEMV path is used

// The graph of one sub-batch: T tokens at positions past .. past + T - 1 (or, while a
// decode step is captured, at the position *d_pos on the device).
struct Graph {
  CudaBackendImpl& b;
  CudaCache& cache;
  int64_t T, past;
  const int32_t* d_pos = nullptr;
  int64_t layer = -1;  // for the profile
  const ModelConfig& c = *b.config;
  bool bf16 = b.wdtype == DType::kBF16;

  // The span since the previous mark belongs to `part` (no-op unless profiling).
  Status Mark(ProfilePart part) const { return b.Mark(part, layer); }

  Status Gemm(const void* x, int64_t ldx, const DevMatrix& W, float* y, int64_t ldy,
              bool accumulate, int64_t M = -1) const {
    kernels::GemmArgs a;
    a.M = M < 0 ? T : M;
    a.N = W.rows;
    a.K = W.cols;
    a.dtype = b.wdtype;
    a.x = x;
    a.ldx = ldx;
    a.W = W.p;
    a.y = y;
    a.ldy = ldy;
    a.accumulate = accumulate;
    return b.gemm->Run(a);
  }
  // The GEMM input for float32 activations src [T, cols]: src itself, or its bf16 copy.
  Result<const void*> LowP(const float* src, int64_t cols) const {
    if (!bf16) return static_cast<const void*>(src);
    FOLIO_RETURN_IF_ERROR(
        kernels::ConvertF32ToBf16(src, static_cast<uint16_t*>(b.work.lowp), T * cols, b.stream));
    return static_cast<const void*>(b.work.lowp);
  }
  // xn = RMSNorm(x) * w (float32) and, with bf16 weights, its bf16 copy in lowp.
  Status Norm(const float* w) const {
    kernels::RmsNormParams p;
    p.rows = T;
    p.dim = c.hidden_size;
    p.x = b.work.x;
    p.x_stride = c.hidden_size;
    p.weight = w;
    p.eps = static_cast<float>(c.rms_norm_eps);
    p.out = b.work.xn;
    p.out_stride = c.hidden_size;
    p.out_bf16 = bf16 ? static_cast<uint16_t*>(b.work.lowp) : nullptr;
    return kernels::RmsNorm(p, b.stream);
  }
  const void* NormedInput() const {
    return bf16 ? b.work.lowp : static_cast<const void*>(b.work.xn);
  }
  // In place on a strided slice of x_proj's output; optionally a contiguous bf16 copy.
  Status InnerNorm(float* slice, int64_t dim, const float* w, uint16_t* out_bf16) const {
    kernels::RmsNormParams p;
    p.rows = T;
    p.dim = dim;
    p.x = slice;
    p.x_stride = c.mamba_dt_rank + 2 * c.mamba_d_state;
    p.weight = w;
    p.eps = static_cast<float>(c.rms_norm_eps);
    p.out = slice;
    p.out_stride = p.x_stride;
    p.out_bf16 = out_bf16;
    return kernels::RmsNorm(p, b.stream);
  }

  Status Mamba(const DevMamba& w, CudaCache::Layer& lc) const {
    const int64_t H = c.hidden_size, Dn = c.d_inner(), N = c.mamba_d_state, R = c.mamba_dt_rank;
    const int64_t P = R + 2 * N;
    auto& wk = b.work;
    FOLIO_RETURN_IF_ERROR(Gemm(NormedInput(), H, w.in_proj, wk.xz, 2 * Dn, false));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kDenseGemm));
    kernels::CausalConv1dParams cp;
    cp.T = T;
    cp.channels = Dn;
    cp.kernel = c.mamba_d_conv;
    cp.x = wk.xz;
    cp.x_stride = 2 * Dn;
    cp.weight = w.conv_w;
    cp.bias = w.conv_b;
    cp.state = lc.conv;
    cp.out = wk.xc;
    cp.out_stride = Dn;
    cp.silu = true;
    FOLIO_RETURN_IF_ERROR(T == 1 ? kernels::CausalConv1dStep(cp, b.stream)
                                 : kernels::CausalConv1d(cp, b.stream));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kMamba));
    FOLIO_ASSIGN_OR_RETURN(const void* xc_in, LowP(wk.xc, Dn));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kOther));
    FOLIO_RETURN_IF_ERROR(Gemm(xc_in, Dn, w.x_proj, wk.p, P, false));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kDenseGemm));
    uint16_t* dt_bf16 = bf16 ? static_cast<uint16_t*>(wk.lowp) : nullptr;
    FOLIO_RETURN_IF_ERROR(InnerNorm(wk.p, R, w.dt_norm, dt_bf16));
    FOLIO_RETURN_IF_ERROR(InnerNorm(wk.p + R, N, w.b_norm, nullptr));
    FOLIO_RETURN_IF_ERROR(InnerNorm(wk.p + R + N, N, w.c_norm, nullptr));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kMamba));
    FOLIO_RETURN_IF_ERROR(bf16 ? Gemm(wk.lowp, R, w.dt_proj, wk.dt, Dn, false)
                               : Gemm(wk.p, P, w.dt_proj, wk.dt, Dn, false));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kDenseGemm));
    kernels::SelectiveScanParams sp;
    sp.T = T;
    sp.d_inner = Dn;
    sp.d_state = N;
    sp.x = wk.xc;
    sp.x_stride = Dn;
    sp.dt = wk.dt;
    sp.dt_stride = Dn;
    sp.B = wk.p + R;
    sp.C = wk.p + R + N;
    sp.B_stride = sp.C_stride = P;
    sp.z = wk.xz + Dn;
    sp.z_stride = 2 * Dn;
    sp.A = w.A;
    sp.D = w.D;
    sp.dt_bias = w.dt_bias;
    sp.dt_softplus = true;
    sp.h = lc.ssm;
    sp.y = wk.y;
    sp.y_stride = Dn;
    FOLIO_RETURN_IF_ERROR(T == 1 ? kernels::SelectiveStateUpdate(sp, b.stream)
                                 : kernels::SelectiveScan(sp, b.stream));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kMamba));
    FOLIO_ASSIGN_OR_RETURN(const void* y_in, LowP(wk.y, Dn));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kOther));
    FOLIO_RETURN_IF_ERROR(Gemm(y_in, Dn, w.out_proj, wk.x, H, true));
    return Mark(ProfilePart::kDenseGemm);
  }

  // Appends this batch's K or V rows to the cache (bf16 caches go through a float32 tmp;
  // a captured step always does, and appends at the device-side position).
  Status AppendKv(const DevMatrix& W, void* cache_base, int64_t kvd) const {
    const size_t es = DTypeSize(b.wdtype);
    void* dst = static_cast<char*>(cache_base) + es * static_cast<size_t>(past * kvd);
    if (!bf16 && !d_pos) {
      FOLIO_RETURN_IF_ERROR(
          Gemm(NormedInput(), c.hidden_size, W, static_cast<float*>(dst), kvd, false));
      return Mark(ProfilePart::kDenseGemm);
    }
    FOLIO_RETURN_IF_ERROR(Gemm(NormedInput(), c.hidden_size, W, b.work.kv, kvd, false));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kDenseGemm));
    FOLIO_RETURN_IF_ERROR(
        d_pos
            ? kernels::AppendKvRows(b.work.kv, T, kvd, cache_base, b.wdtype, d_pos, 0, b.stream)
            : kernels::ConvertF32ToBf16(b.work.kv, static_cast<uint16_t*>(dst), T * kvd, b.stream));
    return Mark(ProfilePart::kAttention);
  }

  Status Attention(const DevAttention& w, CudaCache::Layer& lc) const {
    const int64_t H = c.hidden_size, hd = c.head_dim();
    const int64_t qd = c.num_attention_heads * hd, kvd = c.num_key_value_heads * hd;
    auto& wk = b.work;
    FOLIO_RETURN_IF_ERROR(Gemm(NormedInput(), H, w.q, wk.q, qd, false));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kDenseGemm));
    FOLIO_RETURN_IF_ERROR(AppendKv(w.k, lc.k, kvd));  // lowp (the normed input) survives:
    FOLIO_RETURN_IF_ERROR(AppendKv(w.v, lc.v, kvd));  // conversions write the cache, not lowp
    kernels::AttentionParams ap;
    ap.T = T;
    ap.past = past;
    ap.n_heads = c.num_attention_heads;
    ap.n_kv_heads = c.num_key_value_heads;
    ap.head_dim = hd;
    ap.q = wk.q;
    ap.k = lc.k;
    ap.v = lc.v;
    ap.kv_dtype = b.wdtype;
    ap.out = wk.o;
    kernels::SetContiguousStrides(&ap);
    int n_splits = 0;  // eager: the kernel's heuristic for this past
    if (d_pos) {
      // Captured: one graph serves every position up to the cache's end, so the host sees
      // the largest past and the split count is fixed for it; the kernel reads *d_pos.
      ap.past = cache.max_ctx - T;
      ap.max_past = ap.past;
      ap.d_past = d_pos;
      n_splits = kernels::AttentionSplitKChooseSplits(ap, b.sm_count);
    }
    const bool split =
        d_pos || b.force_attention == 2 || (b.force_attention == 0 && T < kSplitKMaxT);
    FOLIO_RETURN_IF_ERROR(
        split ? kernels::AttentionSplitK(ap, wk.attn, wk.attn_bytes, n_splits, b.stream)
              : kernels::AttentionPrefill(ap, b.stream));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kAttention));
    FOLIO_ASSIGN_OR_RETURN(const void* o_in, LowP(wk.o, qd));
    FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kOther));
    FOLIO_RETURN_IF_ERROR(Gemm(o_in, qd, w.o, wk.x, H, true));
    return Mark(ProfilePart::kDenseGemm);
  }

  Status Mlp(const DevMlp& w) const {
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    auto& wk = b.work;
    FOLIO_RETURN_IF_ERROR(Gemm(NormedInput(), H, w.gate, wk.g, I, false));
    FOLIO_RETURN_IF_ERROR(Gemm(NormedInput(), H, w.up, wk.u, I, false));
    kernels::SwiGLUParams sp;
    sp.rows = T;
    sp.cols = I;
    sp.gate = wk.g;
    sp.up = wk.u;
    sp.in_stride = I;
    if (bf16) {
      sp.out_bf16 = static_cast<uint16_t*>(wk.lowp);  // the normed input is no longer needed
    } else {
      sp.out = wk.g;
    }
    FOLIO_RETURN_IF_ERROR(kernels::SwiGLU(sp, b.stream));
    FOLIO_RETURN_IF_ERROR(
        Gemm(bf16 ? wk.lowp : static_cast<const void*>(wk.g), I, w.down, wk.x, H, true));
    return Mark(ProfilePart::kDenseGemm);
  }

  Status MoE(const kernels::MoeWeights& w) const {
    kernels::MoeForwardParams p;
    p.T = T;
    p.top_k = std::min(c.num_experts_per_tok, w.n_experts);
    p.renormalize = false;  // Jamba keeps the raw top-k probabilities
    p.x = b.work.xn;
    p.x_w = NormedInput();
    p.out = b.work.x;
    p.accumulate = true;
    p.workspace = b.work.moe;
    p.workspace_bytes = b.work.moe_bytes;
    // A captured step must not sync with the host: the GEMV path picks experts on the device.
    const bool gemv = d_pos || b.force_moe == 2 || (b.force_moe == 0 && T <= kMoeGemvMaxT);
    FOLIO_RETURN_IF_ERROR(gemv ? kernels::MoeForwardGemv(p, w, *b.gemm)
                               : kernels::MoeForwardGrouped(p, w, *b.gemm));
    return Mark(ProfilePart::kMoE);
  }
};

}  // namespace

size_t CudaBackendImpl::PlanWorkspace(bool bind) {
  const ModelConfig& c = *config;
  const int64_t C = options.chunk, H = c.hidden_size, Dn = c.d_inner(), N = c.mamba_d_state;
  const int64_t R = c.mamba_dt_rank, P = R + 2 * N, I = c.intermediate_size, V = c.vocab_size;
  const int64_t hd = c.head_dim(), qd = c.num_attention_heads * hd,
                kvd = c.num_key_value_heads * hd;
  const int64_t widest = std::max({H, 2 * Dn, I, qd, R});
  kernels::MoeWeights mw;
  mw.n_experts = std::max<int64_t>(c.num_experts, 1);
  mw.hidden = H;
  mw.intermediate = I;
  mw.dtype = wdtype;
  mw.int8 = options.experts_int8;
  const size_t moe_bytes =
      kernels::MoeWorkspaceBytes(C, mw, std::min(c.num_experts_per_tok, mw.n_experts));
  kernels::AttentionParams ap;
  ap.T = std::min(C, kSplitKMaxT);
  ap.n_heads = c.num_attention_heads;
  ap.head_dim = hd;
  const size_t split_small = kernels::AttentionSplitKWorkspaceBytes(ap, 256);
  // Split-K over a whole chunk only runs when a test forces it: one split's room (the
  // kernel lowers the split count to fit) rather than 8 (272 MiB at chunk 2048, Mini).
  ap.T = C;
  const size_t attn_bytes = std::max(split_small, kernels::AttentionSplitKWorkspaceBytes(ap, 1));

  size_t off = 0;
  auto take = [&](size_t bytes) -> void* {
    const size_t at = bind ? off : workspace.Reserve(bytes);
    off += (bytes + 255) / 256 * 256;
    return bind ? workspace.At(at) : nullptr;
  };
  auto f32 = [&](int64_t n) { return static_cast<float*>(take(static_cast<size_t>(n) * 4)); };
  Work w{};
  w.ids = static_cast<int32_t*>(take(static_cast<size_t>(C) * 4));
  w.step = static_cast<int32_t*>(take(2 * 4));
  w.x = f32(C * H);
  w.xn = f32(C * H);
  w.xz = f32(C * 2 * Dn);
  w.xc = f32(C * Dn);
  w.p = f32(C * P);
  w.dt = f32(C * Dn);
  w.y = f32(C * Dn);
  w.q = f32(C * qd);
  w.kv = f32(C * kvd);
  w.o = f32(C * qd);
  w.g = f32(C * I);
  w.u = f32(C * I);
  w.logits = f32(std::min(C, kLogitsRows) * V);
  w.lowp = take(static_cast<size_t>(C * widest) * DTypeSize(wdtype));
  w.moe = take(moe_bytes);
  w.moe_bytes = moe_bytes;
  w.attn = take(attn_bytes);
  w.attn_bytes = attn_bytes;
  if (bind) work = w;
  return off;
}

Status CudaBackendImpl::Observe(int64_t layer, const float* dev_x, int64_t T, int64_t width) {
  if (!observer) return Status::Ok();
  std::vector<float> host(static_cast<size_t>(T * width));
  FOLIO_RETURN_IF_ERROR(
      Cuda(cudaMemcpyAsync(host.data(), dev_x, host.size() * 4, cudaMemcpyDeviceToHost, stream),
           "reading hidden states"));
  FOLIO_RETURN_IF_ERROR(Cuda(cudaStreamSynchronize(stream), "reading hidden states"));
  observer(layer, host.data(), T, width);
  return Status::Ok();
}

Status CudaBackendImpl::RunLayers(const int32_t* d_ids, int64_t T, CudaCache& cache,
                                  const int32_t* d_pos) {
  const ModelConfig& c = *config;
  const int64_t H = c.hidden_size, V = c.vocab_size, L = static_cast<int64_t>(layers.size());
  FOLIO_RETURN_IF_ERROR(kernels::EmbeddingGather(embed.p, wdtype, V, H, d_ids, T, work.x, stream));
  FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kEmbedding, -1));
  FOLIO_RETURN_IF_ERROR(Observe(-1, work.x, T, H));
  Graph g{*this, cache, T, cache.pos, d_pos};
  for (int64_t i = 0; i < L; ++i) {
    DevLayer& l = layers[static_cast<size_t>(i)];
    CudaCache::Layer& lc = cache.layers[static_cast<size_t>(i)];
    g.layer = i;
    FOLIO_RETURN_IF_ERROR(g.Norm(l.input_norm));
    FOLIO_RETURN_IF_ERROR(g.Mark(ProfilePart::kNorms));
    FOLIO_RETURN_IF_ERROR(l.plan.mixer == MixerKind::kMamba ? g.Mamba(l.mamba, lc)
                                                            : g.Attention(l.attn, lc));
    FOLIO_RETURN_IF_ERROR(g.Norm(l.pre_ff_norm));
    FOLIO_RETURN_IF_ERROR(g.Mark(ProfilePart::kNorms));
    FOLIO_RETURN_IF_ERROR(l.plan.mlp == MlpKind::kMoE ? g.MoE(l.moe) : g.Mlp(l.mlp));
    FOLIO_RETURN_IF_ERROR(Observe(i, work.x, T, H));
  }
  g.layer = -1;
  FOLIO_RETURN_IF_ERROR(g.Norm(final_norm));
  FOLIO_RETURN_IF_ERROR(g.Mark(ProfilePart::kNorms));
  return Observe(L, work.xn, T, H);
}

Status CudaBackendImpl::LastLogits(int64_t T) {
  const int64_t H = config->hidden_size;
  const bool bf16 = wdtype == DType::kBF16;
  const void* normed = bf16 ? work.lowp : static_cast<const void*>(work.xn);  // as Graph's
  kernels::GemmArgs a;
  a.M = 1;
  a.N = lm_head.rows;
  a.K = lm_head.cols;
  a.dtype = wdtype;
  a.x = static_cast<const char*>(normed) + DTypeSize(wdtype) * static_cast<size_t>((T - 1) * H);
  a.ldx = H;
  a.W = lm_head.p;
  a.y = work.logits;
  a.ldy = config->vocab_size;
  return gemm->Run(a);
}

Status CudaBackendImpl::ForwardChunk(const int64_t* ids, int64_t T, CudaCache& cache,
                                     float* logits_all, bool want_last, float* logits_last) {
  const int64_t H = config->hidden_size, V = config->vocab_size;
  if (profiler) FOLIO_RETURN_IF_ERROR(profiler->Start(stream));
  // A single token runs exactly the step a CUDA graph captures (id and position read from
  // the device, splits fixed for the cache's max_ctx), so decoding with and without graphs
  // gives the same bits (unless a test forces the grouped MoE or tiled attention path).
  const bool step = T == 1 && StepOnDevice();
  std::vector<int32_t> ids32(ids, ids + T);
  if (step) ids32.push_back(static_cast<int32_t>(cache.pos));
  FOLIO_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(step ? work.step : work.ids, ids32.data(),
                                             ids32.size() * 4, cudaMemcpyHostToDevice, stream),
                             "uploading token ids"));
  FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kOther, -1));
  FOLIO_RETURN_IF_ERROR(step ? RunLayers(work.step, 1, cache, work.step + 1)
                             : RunLayers(work.ids, T, cache, nullptr));
  if (logits_all) {
    // kLogitsRows rows at a time through the small logits buffer (copies to pageable
    // memory return when done, so the buffer is free again for the next rows).
    Graph g{*this, cache, T, cache.pos};
    const size_t es = DTypeSize(wdtype);
    for (int64_t r = 0; r < T; r += kLogitsRows) {
      const int64_t rows = std::min(kLogitsRows, T - r);
      const void* in = static_cast<const char*>(g.NormedInput()) + es * static_cast<size_t>(r * H);
      FOLIO_RETURN_IF_ERROR(g.Gemm(in, H, lm_head, work.logits, V, false, rows));
      FOLIO_RETURN_IF_ERROR(
          Cuda(cudaMemcpyAsync(logits_all + r * V, work.logits, static_cast<size_t>(rows * V) * 4,
                               cudaMemcpyDeviceToHost, stream),
               "reading logits"));
    }
  } else if (want_last) {
    FOLIO_RETURN_IF_ERROR(LastLogits(T));
    FOLIO_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(logits_last, work.logits, static_cast<size_t>(V) * 4,
                                               cudaMemcpyDeviceToHost, stream),
                               "reading logits"));
  }
  FOLIO_RETURN_IF_ERROR(Mark(ProfilePart::kLmHead, -1));
  FOLIO_RETURN_IF_ERROR(Cuda(cudaStreamSynchronize(stream), "running the model on the GPU"));
  cache.pos += T;
  if (profiler) FOLIO_RETURN_IF_ERROR(profiler->Resolve(&profiler->profile));
  return Status::Ok();
}

Status CudaBackend::Forward(const int64_t* ids, int64_t T, CacheState& state,
                            const ForwardOutputs& out) {
  auto* cache = dynamic_cast<CudaCache*>(&state);
  if (!cache || cache->owner != this) return InvalidArgument("cache was made by another backend");
  if (T <= 0) return InvalidArgument("Forward needs at least one token");
  const ModelConfig& c = config();
  for (int64_t i = 0; i < T; ++i) {
    if (ids[i] < 0 || ids[i] >= c.vocab_size)
      return InvalidArgument("token id " + std::to_string(ids[i]) +
                             " is out of range for this model (vocab " +
                             std::to_string(c.vocab_size) + ")");
  }
  if (cache->pos + T > cache->max_ctx)
    return ResourceExhausted("context exceeded (" + std::to_string(cache->pos + T) + " / " +
                             std::to_string(cache->max_ctx) + ")");
  if (out.mode != LogitsMode::kNone && !out.logits) return InvalidArgument("no logits buffer");
  FOLIO_RETURN_IF_ERROR(impl_->checkpoint->CheckIntact());
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto t0 = std::chrono::steady_clock::now();
  CudaBackendImpl& b = *impl_;
  if (T == 1 && b.options.cuda_graphs && !b.observer && !b.profiler && !b.graphs_failed &&
      b.StepOnDevice()) {
    bool ran = false;
    FOLIO_RETURN_IF_ERROR(b.DecodeWithGraph(
        ids[0], *cache, out.mode == LogitsMode::kNone ? nullptr : out.logits, &ran));
    if (ran) return Status::Ok();
  }
  const int64_t C = b.options.chunk, V = c.vocab_size;
  for (int64_t off = 0; off < T; off += C) {
    const int64_t n = std::min(C, T - off);
    const bool last_chunk = off + n == T;
    float* all = out.mode == LogitsMode::kAll ? out.logits + off * V : nullptr;
    FOLIO_RETURN_IF_ERROR(b.ForwardChunk(ids + off, n, *cache, all,
                                         last_chunk && out.mode == LogitsMode::kLast, out.logits));
  }
  if (b.profiler) {
    ForwardProfile& p = b.profiler->profile;
    p.forwards += 1;
    p.tokens += T;
    p.total_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  return Status::Ok();
}

}  // namespace folio
