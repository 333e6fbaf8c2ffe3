// MoE kernels and the two forward paths; see moe.h.
#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/elementwise.h"
#include "kernels/int8.h"
#include "kernels/moe.h"

namespace folio::kernels {
namespace {

constexpr int kMaxExperts = 64;  // the chosen-set is one 64-bit mask per token
constexpr int kMaxTopK = 8;
constexpr int kGemvWarps = 4;  // output rows per GEMV block

// ---- Routing -----------------------------------------------------------------------
// One thread per token: softmax over E (float32), then k rounds of "largest unchosen
// probability", ties to the lower expert index: the CPU's rule (cpu_backend.cpp ranks the
// softmax outputs). Ranking by logit instead would differ where two distinct logits give
// the same float probability (e.g. both underflow to 0): the CPU takes the lower index.
__global__ void MoeRouteKernel(const float* logits, int64_t T, int E, int k, bool renormalize,
                               int32_t* expert, float* weight) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= T) return;
  const float* l = logits + t * E;
  float mx = -INFINITY;
  for (int e = 0; e < E; ++e) mx = fmaxf(mx, l[e]);
  float sum = 0.0f;
  for (int e = 0; e < E; ++e) sum += expf(l[e] - mx);
  uint64_t chosen = 0;
  float wsum = 0.0f;
  for (int s = 0; s < k; ++s) {
    int best = -1;
    float bv = -INFINITY;
    for (int e = 0; e < E; ++e) {
      if ((chosen >> e) & 1u) continue;
      const float pe = expf(l[e] - mx) / sum;
      if (best < 0 || pe > bv) {
        best = e;
        bv = pe;
      }
    }
    chosen |= uint64_t{1} << best;
    const float pr = bv;
    expert[t * k + s] = best;
    weight[t * k + s] = pr;
    wsum += pr;
  }
  if (renormalize) {
    for (int s = 0; s < k; ++s) weight[t * k + s] /= wsum;
  }
}

// ---- Grouping ----------------------------------------------------------------------
// One block, a thread per expert: count, exclusive prefix (thread 0), then assign rows in
// assignment order, so the grouping is deterministic. Serial in T*k per thread: fine for
// prefill chunks of a few thousand assignments (all threads read the same expert[i]:
// broadcast loads).
__global__ void MoeGroupKernel(const int32_t* expert, int64_t n, int E, int k, int32_t* offsets,
                               int32_t* row_of, int32_t* token_of) {
  __shared__ int32_t s_count[kMaxExperts], s_off[kMaxExperts];
  const int e = threadIdx.x;
  if (e < E) {
    int32_t c = 0;
    for (int64_t i = 0; i < n; ++i) c += expert[i] == e;
    s_count[e] = c;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t acc = 0;
    for (int x = 0; x < E; ++x) {
      s_off[x] = acc;
      offsets[x] = acc;
      acc += s_count[x];
    }
    offsets[E] = acc;
  }
  __syncthreads();
  if (e < E) {
    int32_t r = s_off[e];
    for (int64_t i = 0; i < n; ++i) {
      if (expert[i] != e) continue;
      row_of[i] = r;
      token_of[r] = static_cast<int32_t>(i / k);
      ++r;
    }
  }
}

template <typename T>
__global__ void GatherRowsKernel(const T* x, const int32_t* token_of, int64_t rows, int64_t H,
                                 T* out) {
  const int64_t n = rows * H;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / H, c = i - r * H;
    out[i] = x[static_cast<int64_t>(token_of[r]) * H + c];
  }
}

// Int8 experts with float32 activations: the gathered rows as bf16 for the int8 GEMM.
__global__ void GatherRowsToBf16Kernel(const float* x, const int32_t* token_of, int64_t rows,
                                       int64_t H, __nv_bfloat16* out) {
  const int64_t n = rows * H;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / H, c = i - r * H;
    out[i] = __float2bfloat16_rn(x[static_cast<int64_t>(token_of[r]) * H + c]);
  }
}

// out[t, c] (+)= sum_s weight[t, s] * Yg[row_of[t, s], c], slots in order: deterministic.
__global__ void MoeCombineKernel(const float* yg, const int32_t* row_of, const float* weight,
                                 int64_t T, int k, int64_t H, float* out, bool accumulate) {
  const int64_t n = T * H;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / H, c = i - t * H;
    float acc = 0.0f;
    for (int s = 0; s < k; ++s)
      acc += weight[t * k + s] * yg[static_cast<int64_t>(row_of[t * k + s]) * H + c];
    out[i] = accumulate ? out[i] + acc : acc;
  }
}

// ---- GEMV path ---------------------------------------------------------------------
// Weights are read in 16-byte vectors (8 bf16, 16 int8 or 4 float per lane per load) when
// every row is 16-byte aligned (the host checks: row length * element size % 16 == 0 and
// aligned base pointers), else one element per lane. Int8 rows are dequantised in
// registers: the dot product of q with x, times the row's scale once at the end.
template <typename W>
struct Vec16 {
  static constexpr int kN = 16 / sizeof(W);  // elements per 16-byte load
};

template <typename W>
__device__ __forceinline__ void LoadWeights16(const W* p, float (&f)[Vec16<W>::kN]);
template <>
__device__ __forceinline__ void LoadWeights16<int8_t>(const int8_t* p, float (&f)[16]) {
  const int4 v = __ldg(reinterpret_cast<const int4*>(p));
  const int words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int w = 0; w < 4; ++w)
#pragma unroll
    for (int b = 0; b < 4; ++b)
      f[4 * w + b] = static_cast<float>(static_cast<int8_t>((words[w] >> (8 * b)) & 0xff));
}
template <>
__device__ __forceinline__ void LoadWeights16<__nv_bfloat16>(const __nv_bfloat16* p,
                                                             float (&f)[8]) {
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    f[2 * w] = __uint_as_float(words[w] << 16);  // lower address: the low half
    f[2 * w + 1] = __uint_as_float(words[w] & 0xffff0000u);
  }
}
template <>
__device__ __forceinline__ void LoadWeights16<float>(const float* p, float (&f)[4]) {
  const float4 v = __ldg(reinterpret_cast<const float4*>(p));
  f[0] = v.x;
  f[1] = v.y;
  f[2] = v.z;
  f[3] = v.w;
}

// sum_j w[j] * x[j] over one 16-byte chunk of w; x 16-byte aligned float32.
template <typename W>
__device__ __forceinline__ float DotChunk(const W* w, const float* x) {
  constexpr int kN = Vec16<W>::kN;
  float f[kN];
  LoadWeights16<W>(w, f);
  float s = 0.0f;
#pragma unroll
  for (int j = 0; j < kN; j += 4) {
    const float4 xv = *reinterpret_cast<const float4*>(x + j);
    s += f[j] * xv.x + f[j + 1] * xv.y + f[j + 2] * xv.z + f[j + 3] * xv.w;
  }
  return s;
}

// Grid (ceil(I / kGemvWarps), T*k): a warp per intermediate row i of assignment a = t*k+s;
// act[a, i] = silu(gate_e[i] . x[t]) * (up_e[i] . x[t]), e = expert[a] (each dot times the
// row scale for int8). Lanes stride the row (coalesced). A warp whose row is out of range
// leaves; there are no block barriers. scales: [3, E] device row-scale pointers, or nullptr.
template <typename W>
__global__ void MoeGateUpGemvKernel(const float* x, int64_t H, int64_t I, int k,
                                    const int32_t* expert, const void* const* ptrs,
                                    const float* const* scales, int E, bool vec, float* act) {
  const int lane = threadIdx.x & 31;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
  const int64_t a = blockIdx.y;
  if (i >= I) return;
  const int e = expert[a];
  const W* g = static_cast<const W*>(ptrs[e]) + i * H;
  const W* u = static_cast<const W*>(ptrs[E + e]) + i * H;
  const float* xr = x + (a / k) * H;
  float sg = 0.0f, su = 0.0f;
  int64_t h_scalar = 0;
  if (vec) {
    constexpr int kN = Vec16<W>::kN;
    const int64_t chunks = H / kN;
#pragma unroll 4
    for (int64_t c = lane; c < chunks; c += 32) {
      sg += DotChunk<W>(g + c * kN, xr + c * kN);
      su += DotChunk<W>(u + c * kN, xr + c * kN);
    }
    h_scalar = chunks * kN;
  }
  for (int64_t h = h_scalar + lane; h < H; h += 32) {
    const float xv = xr[h];
    sg += ToF32(g[h]) * xv;
    su += ToF32(u[h]) * xv;
  }
  sg = WarpSum(sg);
  su = WarpSum(su);
  if (lane == 0) {
    if (scales) {
      sg *= scales[e][i];
      su *= scales[E + e][i];
    }
    act[a * I + i] = DevSilu(sg) * su;
  }
}

// Grid (ceil(H / kGemvWarps), T): a warp per output column j of token t, summing its k
// experts' down rows weighted by the router (times the row scale for int8).
template <typename W>
__global__ void MoeDownGemvKernel(const float* act, int64_t H, int64_t I, int k,
                                  const int32_t* expert, const float* weight,
                                  const void* const* ptrs, const float* const* scales, int E,
                                  bool vec, float* out, bool accumulate) {
  const int lane = threadIdx.x & 31;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
  const int64_t t = blockIdx.y;
  if (j >= H) return;
  float total = 0.0f;
  for (int s = 0; s < k; ++s) {
    const int64_t a = t * k + s;
    const int e = expert[a];
    const W* d = static_cast<const W*>(ptrs[2 * E + e]) + j * I;
    const float* ar = act + a * I;
    float sd = 0.0f;
    int64_t i_scalar = 0;
    if (vec) {
      constexpr int kN = Vec16<W>::kN;
      const int64_t chunks = I / kN;
#pragma unroll 4
      for (int64_t c = lane; c < chunks; c += 32) sd += DotChunk<W>(d + c * kN, ar + c * kN);
      i_scalar = chunks * kN;
    }
    for (int64_t i = i_scalar + lane; i < I; i += 32) sd += ToF32(d[i]) * ar[i];
    sd = WarpSum(sd);
    if (scales) sd *= scales[2 * E + e][j];
    total += weight[a] * sd;
  }
  if (lane == 0) out[t * H + j] = accumulate ? out[t * H + j] + total : total;
}

// ---- Workspace ---------------------------------------------------------------------
struct MoeBuffers {
  float* logits;      // [T, E]
  int32_t* expert;    // [T, k]
  float* weight;      // [T, k]
  int32_t* offsets;   // [E + 1]
  int32_t* row_of;    // [T * k]
  int32_t* token_of;  // [T * k]
  void* xg;           // [R, H] weight dtype (grouped path; bf16 for int8 experts, which fits)
  float* g;           // [R, I] gate out (grouped) / act (GEMV)
  float* u;           // [R, I]
  void* act;          // [R, I] weight dtype (grouped path: the down GEMM's input; bf16 for int8)
  float* yg;          // [R, H]
};

// Carves the buffers out of `base` (nullptr: only measures). Returns the bytes used.
size_t CarveMoe(void* base, int64_t T, const MoeWeights& w, int64_t k, MoeBuffers* b) {
  const size_t R = static_cast<size_t>(T * k), H = static_cast<size_t>(w.hidden);
  const size_t I = static_cast<size_t>(w.intermediate), E = static_cast<size_t>(w.n_experts);
  const size_t es = DTypeSize(w.dtype);
  size_t off = 0;
  auto take = [&](size_t bytes) {
    void* p = base ? static_cast<char*>(base) + off : nullptr;
    off += (bytes + 255) / 256 * 256;
    return p;
  };
  b->logits = static_cast<float*>(take(sizeof(float) * T * E));
  b->expert = static_cast<int32_t*>(take(sizeof(int32_t) * R));
  b->weight = static_cast<float*>(take(sizeof(float) * R));
  b->offsets = static_cast<int32_t*>(take(sizeof(int32_t) * (E + 1)));
  b->row_of = static_cast<int32_t*>(take(sizeof(int32_t) * R));
  b->token_of = static_cast<int32_t*>(take(sizeof(int32_t) * R));
  b->xg = take(es * R * H);
  b->g = static_cast<float*>(take(sizeof(float) * R * I));
  b->u = static_cast<float*>(take(sizeof(float) * R * I));
  b->act = take(es * R * I);
  b->yg = static_cast<float*>(take(sizeof(float) * R * H));
  return off;
}

Status Validate(const MoeForwardParams& p, const MoeWeights& w) {
  if (p.T < 1 || w.hidden < 1 || w.intermediate < 1 || w.n_experts < 1 || w.n_experts > kMaxExperts)
    return InvalidArgument("moe: need T >= 1, hidden, intermediate >= 1 and 1..64 experts");
  if (p.top_k < 1 || p.top_k > std::min<int64_t>(w.n_experts, kMaxTopK))
    return InvalidArgument("moe: top_k " + std::to_string(p.top_k) + " outside 1..min(experts, 8)");
  if (w.dtype != DType::kBF16 && w.dtype != DType::kF32)
    return Unsupported("moe: weights must be bf16 or f32");
  if (!p.x || !p.x_w || !p.out || !w.router)
    return InvalidArgument("moe: x, x_w, out and router are required");
  if (static_cast<int64_t>(w.gate.size()) != w.n_experts || w.up.size() != w.gate.size() ||
      w.down.size() != w.gate.size())
    return InvalidArgument("moe: one gate, up and down pointer per expert");
  if (!p.workspace || p.workspace_bytes < MoeWorkspaceBytes(p.T, w, p.top_k))
    return ResourceExhausted("moe: workspace too small (" + std::to_string(p.workspace_bytes) +
                             " < " + std::to_string(MoeWorkspaceBytes(p.T, w, p.top_k)) +
                             " bytes)");
  if (p.T * p.top_k > 0x7fffffff) return InvalidArgument("moe: too many tokens");
  if (w.int8) {
    const size_t E = static_cast<size_t>(w.n_experts);
    if (w.gate_scale.size() != E || w.up_scale.size() != E || w.down_scale.size() != E)
      return InvalidArgument("moe: int8 experts need one gate, up and down row-scale pointer each");
    for (size_t e = 0; e < E; ++e)
      if (!w.gate_scale[e] || !w.up_scale[e] || !w.down_scale[e] || !w.gate[e] || !w.up[e] ||
          !w.down[e])
        return InvalidArgument("moe: int8 expert " + std::to_string(e) +
                               " lacks a matrix or scale");
    if (!w.device_ptrs || !w.device_scales)
      return InvalidArgument("moe: int8 experts need device_ptrs and device_scales ([3, E])");
    for (const auto* v : {&w.gate, &w.up, &w.down})
      for (const void* q : *v)
        if (reinterpret_cast<uintptr_t>(q) % 16 != 0)
          return InvalidArgument("moe: int8 expert matrices must be 16-byte aligned");
  }
  return Status::Ok();
}

// Whether every expert row of `ptrs` (rows of `cols` elements of `elem_size` bytes) starts
// on a 16-byte boundary: the GEMV's vector loads need it.
bool RowsAligned16(const std::vector<const void*>& ptrs, int64_t cols, size_t elem_size) {
  if ((static_cast<size_t>(cols) * elem_size) % 16 != 0) return false;
  for (const void* q : ptrs)
    if (reinterpret_cast<uintptr_t>(q) % 16 != 0) return false;
  return true;
}

unsigned ElemGrid(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>(CeilDiv<int64_t>(n, 256), 1, 65535 * 8));
}

Status RouteAll(const MoeForwardParams& p, const MoeWeights& w, GemmRunner& gemm,
                const MoeBuffers& b) {
  GemmArgs r;
  r.M = p.T;
  r.N = w.n_experts;
  r.K = w.hidden;
  r.dtype = w.dtype;
  r.x = p.x_w;
  r.ldx = w.hidden;
  r.W = w.router;
  r.y = b.logits;
  r.ldy = w.n_experts;
  FOLIO_RETURN_IF_ERROR(gemm.Run(r));
  return MoeRoute(b.logits, p.T, w.n_experts, p.top_k, p.renormalize, b.expert, b.weight,
                  gemm.stream());
}

// y[rows of expert e] = in[rows] @ W_e^T for every expert with rows.
Status PerExpertGemm(const std::vector<int32_t>& offsets, const std::vector<const void*>& weights,
                     DType dtype, const void* in, int64_t in_cols, float* out, int64_t out_cols,
                     GemmRunner& gemm) {
  const size_t es = DTypeSize(dtype);
  for (size_t e = 0; e + 1 < offsets.size(); ++e) {
    const int64_t rows = offsets[e + 1] - offsets[e];
    if (rows == 0) continue;
    GemmArgs a;
    a.M = rows;
    a.N = out_cols;
    a.K = in_cols;
    a.dtype = dtype;
    a.x = static_cast<const char*>(in) + es * static_cast<size_t>(offsets[e] * in_cols);
    a.ldx = in_cols;
    a.W = weights[e];
    a.y = out + static_cast<int64_t>(offsets[e]) * out_cols;
    a.ldy = out_cols;
    FOLIO_RETURN_IF_ERROR(gemm.Run(a));
  }
  return Status::Ok();
}

// Int8 experts after routing, grouping and the bf16 gather: the three expert GEMMs as one
// grouped launch each (Int8GemmGrouped reads the expert row ranges from the device), so this
// path needs no host sync. Matrix m of expert e is device_ptrs[m * E + e].
Status GroupedInt8Experts(const MoeForwardParams& p, const MoeWeights& w, const MoeBuffers& b,
                          Stream stream) {
  const int64_t R = p.T * p.top_k, H = w.hidden, I = w.intermediate, E = w.n_experts;
  const int8_t* const* q = reinterpret_cast<const int8_t* const*>(w.device_ptrs);
  auto gemm = [&](int m, const void* in, int64_t K, float* out, int64_t N) {
    Int8GroupedGemmArgs a;
    a.R = R;
    a.N = N;
    a.K = K;
    a.groups = E;
    a.offsets = b.offsets;
    a.x = static_cast<const uint16_t*>(in);
    a.ldx = K;
    a.q = q + m * E;
    a.scale = w.device_scales + m * E;
    a.y = out;
    a.ldy = N;
    return Int8GemmGrouped(a, stream);
  };
  FOLIO_RETURN_IF_ERROR(gemm(0, b.xg, H, b.g, I));
  FOLIO_RETURN_IF_ERROR(gemm(1, b.xg, H, b.u, I));
  SwiGLUParams sw;
  sw.rows = R;
  sw.cols = I;
  sw.gate = b.g;
  sw.up = b.u;
  sw.in_stride = I;
  sw.out_bf16 = static_cast<uint16_t*>(b.act);
  FOLIO_RETURN_IF_ERROR(SwiGLU(sw, stream));
  FOLIO_RETURN_IF_ERROR(gemm(2, b.act, I, b.yg, H));
  MoeCombineKernel<<<ElemGrid(p.T * H), 256, 0, stream>>>(
      b.yg, b.row_of, b.weight, p.T, static_cast<int>(p.top_k), H, p.out, p.accumulate);
  return LaunchStatus("moe combine kernel");
}

}  // namespace

size_t MoeWorkspaceBytes(int64_t T, const MoeWeights& w, int64_t top_k) {
  MoeBuffers b;
  return CarveMoe(nullptr, T, w, top_k, &b);
}

Status MoeRoute(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
                int32_t* expert, float* weight, Stream stream) {
  if (!logits || !expert || !weight || T < 1 || E < 1 || E > kMaxExperts || k < 1 ||
      k > std::min<int64_t>(E, kMaxTopK))
    return InvalidArgument(
        "moe route: need logits, outputs, 1..64 experts and 1 <= k <= min(E, 8)");
  MoeRouteKernel<<<static_cast<unsigned>(CeilDiv<int64_t>(T, 128)), 128, 0, stream>>>(
      logits, T, static_cast<int>(E), static_cast<int>(k), renormalize, expert, weight);
  return LaunchStatus("moe route kernel");
}

Status MoeGroup(const int32_t* expert, int64_t T, int64_t E, int64_t k, int32_t* offsets,
                int32_t* row_of, int32_t* token_of, Stream stream) {
  if (!expert || !offsets || !row_of || !token_of || T < 1 || E < 1 || E > kMaxExperts || k < 1)
    return InvalidArgument("moe group: need all pointers, T >= 1, 1..64 experts, k >= 1");
  MoeGroupKernel<<<1, kMaxExperts, 0, stream>>>(expert, T * k, static_cast<int>(E),
                                                static_cast<int>(k), offsets, row_of, token_of);
  return LaunchStatus("moe group kernel");
}

Status MoeForwardGrouped(const MoeForwardParams& p, const MoeWeights& w, GemmRunner& gemm) {
  FOLIO_RETURN_IF_ERROR(Validate(p, w));
  Stream stream = gemm.stream();
  MoeBuffers b;
  CarveMoe(p.workspace, p.T, w, p.top_k, &b);
  const int64_t R = p.T * p.top_k, H = w.hidden, I = w.intermediate, E = w.n_experts;
  FOLIO_RETURN_IF_ERROR(RouteAll(p, w, gemm, b));
  FOLIO_RETURN_IF_ERROR(
      MoeGroup(b.expert, p.T, E, p.top_k, b.offsets, b.row_of, b.token_of, stream));
  if (w.int8 && w.dtype != DType::kBF16) {  // the int8 GEMM takes bf16 activations
    GatherRowsToBf16Kernel<<<ElemGrid(R * H), 256, 0, stream>>>(p.x, b.token_of, R, H,
                                                                static_cast<__nv_bfloat16*>(b.xg));
  } else if (w.dtype == DType::kBF16) {
    GatherRowsKernel<<<ElemGrid(R * H), 256, 0, stream>>>(static_cast<const __nv_bfloat16*>(p.x_w),
                                                          b.token_of, R, H,
                                                          static_cast<__nv_bfloat16*>(b.xg));
  } else {
    GatherRowsKernel<<<ElemGrid(R * H), 256, 0, stream>>>(
        static_cast<const float*>(p.x_w), b.token_of, R, H, static_cast<float*>(b.xg));
  }
  FOLIO_RETURN_IF_ERROR(LaunchStatus("moe gather kernel"));
  if (w.int8) return GroupedInt8Experts(p, w, b, stream);
  // The one host sync: cuBLAS GEMM shapes need the per-expert row counts.
  std::vector<int32_t> offsets(static_cast<size_t>(E + 1));
  FOLIO_RETURN_IF_ERROR(
      CudaStatus(cudaMemcpyAsync(offsets.data(), b.offsets, sizeof(int32_t) * offsets.size(),
                                 cudaMemcpyDeviceToHost, stream),
                 "moe: reading expert counts"));
  FOLIO_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream), "moe: waiting for routing"));
  FOLIO_RETURN_IF_ERROR(PerExpertGemm(offsets, w.gate, w.dtype, b.xg, H, b.g, I, gemm));
  FOLIO_RETURN_IF_ERROR(PerExpertGemm(offsets, w.up, w.dtype, b.xg, H, b.u, I, gemm));
  SwiGLUParams sw;
  sw.rows = R;
  sw.cols = I;
  sw.gate = b.g;
  sw.up = b.u;
  sw.in_stride = I;
  if (w.dtype == DType::kBF16) {
    sw.out_bf16 = static_cast<uint16_t*>(b.act);
  } else {
    sw.out = static_cast<float*>(b.act);
  }
  FOLIO_RETURN_IF_ERROR(SwiGLU(sw, stream));
  FOLIO_RETURN_IF_ERROR(PerExpertGemm(offsets, w.down, w.dtype, b.act, I, b.yg, H, gemm));
  MoeCombineKernel<<<ElemGrid(p.T * H), 256, 0, stream>>>(
      b.yg, b.row_of, b.weight, p.T, static_cast<int>(p.top_k), H, p.out, p.accumulate);
  return LaunchStatus("moe combine kernel");
}

// Launch heuristics (GEMV): 4 warps per block, a warp per output row; grid.y is the
// assignment (gate/up) or token (down), so T * k must stay under 65536. No host sync and
// no host value that changes per step: capturable in a CUDA graph.
Status MoeForwardGemv(const MoeForwardParams& p, const MoeWeights& w, GemmRunner& gemm) {
  FOLIO_RETURN_IF_ERROR(Validate(p, w));
  if (!w.device_ptrs) return InvalidArgument("moe gemv: device expert pointers are required");
  if (p.T * p.top_k > 65535)
    return InvalidArgument("moe gemv: T * k above 65535 (use the grouped path)");
  Stream stream = gemm.stream();
  MoeBuffers b;
  CarveMoe(p.workspace, p.T, w, p.top_k, &b);
  FOLIO_RETURN_IF_ERROR(RouteAll(p, w, gemm, b));
  const int64_t H = w.hidden, I = w.intermediate;
  const int E = static_cast<int>(w.n_experts), k = static_cast<int>(p.top_k);
  const dim3 g1(static_cast<unsigned>(CeilDiv<int64_t>(I, kGemvWarps)),
                static_cast<unsigned>(p.T * k));
  const dim3 g2(static_cast<unsigned>(CeilDiv<int64_t>(H, kGemvWarps)), static_cast<unsigned>(p.T));
  const size_t es = w.int8 ? 1 : DTypeSize(w.dtype);
  // x rows (H floats) and act rows (I floats) are 16-byte aligned whenever the weight rows
  // are (H, I multiples of 4); x itself must start aligned.
  const bool vec_up = RowsAligned16(w.gate, H, es) && RowsAligned16(w.up, H, es) &&
                      reinterpret_cast<uintptr_t>(p.x) % 16 == 0;
  const bool vec_down = RowsAligned16(w.down, I, es);  // act: 256-byte-aligned workspace
  auto launch = [&]<typename W>(const float* const* scales) {
    MoeGateUpGemvKernel<W><<<g1, kGemvWarps * 32, 0, stream>>>(
        p.x, H, I, k, b.expert, w.device_ptrs, scales, E, vec_up, b.g);
    MoeDownGemvKernel<W><<<g2, kGemvWarps * 32, 0, stream>>>(
        b.g, H, I, k, b.expert, b.weight, w.device_ptrs, scales, E, vec_down, p.out, p.accumulate);
  };
  if (w.int8) {
    launch.template operator()<int8_t>(w.device_scales);
  } else if (w.dtype == DType::kBF16) {
    launch.template operator()<__nv_bfloat16>(nullptr);
  } else {
    launch.template operator()<float>(nullptr);
  }
  return LaunchStatus("moe gemv kernels");
}

}  // namespace folio::kernels
