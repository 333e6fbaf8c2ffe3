// Flash-attention prefill on the tensor cores (bf16 K/V cache, head_dim 64 or 128); see
// attention.h for the maths and the Params contract. AttentionPrefill dispatches here.
//
// Numerics. q * scale * log2(e) is rounded to bf16 once (the only rounding of an input:
// K/V are bf16 already); S = Q K^T accumulates in float32 on the tensor cores; the online
// softmax runs in float32 in the log2 domain (exp2f); the probabilities P are rounded to
// bf16 for O += P V (float32 accumulation), and the row sum adds the same rounded values,
// so the weights that multiply V sum exactly to the divisor. Expected error: a few 1e-3
// of max |v| (bf16 has 8 significant bits: relative 2^-9 per rounding).
#include <mma.h>

#include <algorithm>
#include <string>

#include "kernels/attention.h"
#include "kernels/common.cuh"

namespace folio::kernels {
namespace {

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;

// ---- Tiles and shared memory ----------------------------------------------------------
// A block of 4 warps owns kTQ = 64 consecutive queries of one head; warp w owns query rows
// [16w, 16w + 16) of the tile. Keys are walked in tiles of kTK = 64, staged by cp.async in
// two shared-memory stages (the next tile loads while the tensor cores work on this one).
// Shared memory (bf16 rows padded by 8 elements = 16 bytes, so the 8 row addresses of an
// ldmatrix phase fall on distinct bank quads; float rows padded by 4):
//   stages   2 x { sK [kTK][kHD + 8], sV [kTK][kHD + 8] }  bf16
//            after the loop: sO [4 warps][16][kHD + 4] float (the output, before 1/l)
//   sQS      sQ [kTQ][kHD + 8] bf16 at the start (Q staging), then
//            sS [4 warps][16][kLdS] float (this warp's scores of the current tile)
//   sP       [4 warps][16][kLdP] bf16 (probabilities of the current tile)
//   sCorr    [4 warps][16] float (per-row correction exp2(m_old - m_new); 1/l at the end)
// Every WMMA pointer is a multiple of 32 bytes from its region's start (regions are 128-byte
// aligned): row offsets are multiples of 16 rows and column offsets multiples of 16 elements.
constexpr int kTQ = 64;
constexpr int kTK = 64;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kLdS = kTK + 4;  // floats
constexpr int kLdP = kTK + 8;  // bf16
static_assert(kTQ == 16 * kWarps, "one 16-row WMMA strip per warp");
static_assert(kTK == 64, "the softmax gives each lane 32 of a row's 64 keys");

template <int kHD>
struct TcLayout {
  static constexpr int kLdKV = kHD + 8;  // bf16
  static constexpr int kLdO = kHD + 4;   // float
  static constexpr size_t kStageBytes = 2 * size_t{kTK} * kLdKV * sizeof(bf16);
  static constexpr size_t kStagesBytes = 2 * kStageBytes;
  static constexpr size_t kQSBytes =
      std::max(size_t{kTQ} * kLdKV * sizeof(bf16), size_t{kWarps} * 16 * kLdS * sizeof(float));
  static constexpr size_t kPBytes = size_t{kWarps} * 16 * kLdP * sizeof(bf16);
  static constexpr size_t kCorrBytes = size_t{kWarps} * 16 * sizeof(float);
  static constexpr size_t kQSOffset = kStagesBytes;
  static constexpr size_t kPOffset = kQSOffset + kQSBytes;
  static constexpr size_t kCorrOffset = kPOffset + kPBytes;
  static constexpr size_t kBytes = kCorrOffset + kCorrBytes;
  static_assert(kStageBytes % 128 == 0 && kQSBytes % 128 == 0 && kPBytes % 128 == 0,
                "regions stay 128-byte aligned");
  static_assert(size_t{kWarps} * 16 * kLdO * sizeof(float) <= kStagesBytes,
                "the output staging fits in the K/V stages");
};

// ---- cp.async (sm_80+): 16 bytes global -> shared, zero-filled when !valid ------------
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? 16 : 0;  // 0: nothing is read, the 16 bytes become zeros
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem),
               "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Keys [k0, k0 + kTK) of one KV head into a stage; rows at or past `total` become zeros
// (never read from global). K and V point at column 0 of this KV head.
template <int kHD>
__device__ __forceinline__ void LoadKvTile(const bf16* K, const bf16* V, int64_t stride, int64_t k0,
                                           int64_t total, bf16* sK, bf16* sV) {
  constexpr int kChunks = kHD / 8;  // 16-byte chunks per row
  constexpr int kLd = TcLayout<kHD>::kLdKV;
  static_assert((kTK * kChunks) % kThreads == 0, "whole chunks per thread");
#pragma unroll
  for (int n = 0; n < kTK * kChunks / kThreads; ++n) {
    const int i = threadIdx.x + n * kThreads;
    const int r = i / kChunks, c = i % kChunks;  // a warp covers whole rows: coalesced
    const int64_t j = k0 + r;
    const bool ok = j < total;
    const int64_t off = ok ? j * stride + c * 8 : 0;  // a valid address even when unused
    CpAsync16(sK + r * kLd + c * 8, K + off, ok);
    CpAsync16(sV + r * kLd + c * 8, V + off, ok);
  }
}

template <int kHD>
struct WarpState {
  static constexpr int kDC = kHD / 16;  // 16-column chunks of head_dim
  using QFrag = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
  using AccFrag = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
  QFrag q[kDC];                       // this warp's 16 query rows, pre-scaled, bf16
  AccFrag o[kDC];                     // unnormalised output, 16 x kHD
  int row_of[AccFrag::num_elements];  // accumulator element -> its row in the 16 x 16 tile
  float m = -INFINITY;                // running max (log2 domain) of this lane's row
  float l = 0.0f;                     // running sum of this lane's row
};

// The accumulator fragment's element -> row mapping is unspecified by the WMMA API but the
// same for every fragment of a type; read it once by loading a tile whose entries are their
// row numbers. `scratch` is this warp's 16 x kLdS float area (32-byte aligned).
template <int kHD>
__device__ __forceinline__ void DiscoverRows(WarpState<kHD>& st, float* scratch) {
  const int lane = threadIdx.x & 31;
  for (int i = lane; i < 16 * 16; i += 32) scratch[(i / 16) * kLdS + i % 16] = float(i / 16);
  __syncwarp();
  typename WarpState<kHD>::AccFrag f;
  wmma::load_matrix_sync(f, scratch, kLdS, wmma::mem_row_major);
#pragma unroll
  for (int e = 0; e < f.num_elements; ++e) st.row_of[e] = static_cast<int>(f.x[e]);
  __syncwarp();
}

// One key tile for one warp: S = Q K^T, online softmax of its 16 rows, O = corr * O + P V.
// Lane `lane` handles row r = lane % 16, columns 32h .. 32h + 31 (h = lane / 16), visited in
// the rotated order (i + lane) % 32 so that a warp's 32 float reads of sS fall on 32
// distinct banks (bank = (5r + 16h + i) % 32 with kLdS = 68).
// limit0: the last key visible to row 0 of this warp (row r sees keys <= limit0 + r).
template <int kHD>
__device__ __forceinline__ void WarpTile(WarpState<kHD>& st, const bf16* sK, const bf16* sV,
                                         float* sS, bf16* sP, float* sCorr, int64_t k0,
                                         int64_t limit0) {
  constexpr int kDC = WarpState<kHD>::kDC;
  constexpr int kLd = TcLayout<kHD>::kLdKV;
  const int lane = threadIdx.x & 31, r = lane & 15, h = lane >> 4;

  // S [16][64]: 4 accumulators, B = K^T read column-major from sK rows.
  {
    typename WarpState<kHD>::AccFrag s[kTK / 16];
#pragma unroll
    for (int n = 0; n < kTK / 16; ++n) wmma::fill_fragment(s[n], 0.0f);
#pragma unroll
    for (int dc = 0; dc < kDC; ++dc) {
#pragma unroll
      for (int n = 0; n < kTK / 16; ++n) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, sK + n * 16 * kLd + dc * 16, kLd);
        wmma::mma_sync(s[n], st.q[dc], kf, s[n]);
      }
    }
#pragma unroll
    for (int n = 0; n < kTK / 16; ++n)
      wmma::store_matrix_sync(sS + n * 16, s[n], kLdS, wmma::mem_row_major);
  }
  __syncwarp();

  // Online softmax, float32, two lanes per row (partner lane ^ 16).
  const int64_t limit = limit0 + r;
  const float* srow = sS + r * kLdS + 32 * h;
  bf16* prow = sP + r * kLdP + 32 * h;
  float sv[32];
  float mx = -INFINITY;
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    const int c = (i + lane) & 31;
    sv[i] = k0 + 32 * h + c <= limit ? srow[c] : -INFINITY;  // causal mask
    mx = fmaxf(mx, sv[i]);
  }
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 16));
  const float m_new = fmaxf(st.m, mx);
  const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // no visible key yet: p = 0
  const float corr = exp2f(st.m - m_use);                 // 0 on the first tile
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    const int c = (i + lane) & 31;
    const bf16 pb = __float2bfloat16_rn(exp2f(sv[i] - m_use));  // exp2(-inf) = 0
    prow[c] = pb;
    sum += __bfloat162float(pb);
  }
  sum += __shfl_xor_sync(0xffffffffu, sum, 16);
  st.l = st.l * corr + sum;
  st.m = m_new;
  if (h == 0) sCorr[r] = corr;
  __syncwarp();

  // O = corr * O + P V.
  float c_e[WarpState<kHD>::AccFrag::num_elements];
#pragma unroll
  for (int e = 0; e < st.o[0].num_elements; ++e) c_e[e] = sCorr[st.row_of[e]];
#pragma unroll
  for (int n = 0; n < kDC; ++n) {
#pragma unroll
    for (int e = 0; e < st.o[n].num_elements; ++e) st.o[n].x[e] *= c_e[e];
  }
#pragma unroll
  for (int kc = 0; kc < kTK / 16; ++kc) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pf;
    wmma::load_matrix_sync(pf, sP + kc * 16, kLdP);
#pragma unroll
    for (int n = 0; n < kDC; ++n) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vf;
      wmma::load_matrix_sync(vf, sV + kc * 16 * kLd + n * 16, kLd);
      wmma::mma_sync(st.o[n], pf, vf, st.o[n]);
    }
  }
  // The next tile's writes of sS, sP and sCorr follow this warp's __syncwarp in WarpTile,
  // after every lane's reads above.
}

__device__ __forceinline__ int64_t TcPastOf(const AttentionParams& p) {
  return p.d_past ? static_cast<int64_t>(*p.d_past) : p.past;
}

// Grid (n_heads, ceil(T / 64)), 128 threads, TcLayout<kHD>::kBytes of dynamic shared memory.
// blockIdx.x is the head so that the heads sharing a KV head run side by side (their K/V
// tiles hit L2); query tiles are taken last-first because the late ones see the most keys.
template <int kHD>
__global__ void __launch_bounds__(kThreads, 2) AttentionPrefillTcKernel(AttentionParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // bf16 WMMA and cp.async need sm_80; the host side never launches this there
#else
  using L = TcLayout<kHD>;
  extern __shared__ __align__(128) unsigned char smem[];
  // Stage s: K at StageK(s), V right after it (computed, not a pointer array: `it & 1` is a
  // run-time index and would move an array to local memory).
  auto StageK = [&](int64_t s) { return reinterpret_cast<bf16*>(smem + s * L::kStageBytes); };
  auto StageV = [&](int64_t s) { return StageK(s) + kTK * L::kLdKV; };
  bf16* sQ = reinterpret_cast<bf16*>(smem + L::kQSOffset);
  float* sS_all = reinterpret_cast<float*>(smem + L::kQSOffset);
  bf16* sP_all = reinterpret_cast<bf16*>(smem + L::kPOffset);
  float* sCorr_all = reinterpret_cast<float*>(smem + L::kCorrOffset);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t head = blockIdx.x;
  const int64_t q0 = static_cast<int64_t>(gridDim.y - 1 - blockIdx.y) * kTQ;
  const int64_t kv_head = head / (p.n_heads / p.n_kv_heads);
  const bf16* K = static_cast<const bf16*>(p.k) + kv_head * kHD;
  const bf16* V = static_cast<const bf16*>(p.v) + kv_head * kHD;
  const int64_t past = TcPastOf(p);
  const int64_t total = past + p.T;                  // rows in the cache
  const int64_t n_keys = past + min(p.T, q0 + kTQ);  // keys the block's last query sees
  const int64_t n_tiles = (n_keys + kTK - 1) / kTK;  // >= 1

  LoadKvTile<kHD>(K, V, p.kv_stride, 0, total, StageK(0), StageV(0));
  CpAsyncCommit();

  float* sS = sS_all + warp * 16 * kLdS;
  bf16* sP = sP_all + warp * 16 * kLdP;
  float* sCorr = sCorr_all + warp * 16;
  WarpState<kHD> st;
  DiscoverRows<kHD>(st, sS);
  __syncthreads();  // sS (aliasing sQ) is free for the Q staging

  // Q tile: float32 -> * scale * log2(e) -> bf16; rows past T are zeros.
  const float qscale = p.scale * 1.4426950408889634f;
  for (int i = threadIdx.x; i < kTQ * kHD; i += kThreads) {
    const int r = i / kHD, d = i % kHD;
    const int64_t t = q0 + r;
    const float x = t < p.T ? p.q[t * p.q_stride + head * kHD + d] * qscale : 0.0f;
    sQ[r * L::kLdKV + d] = __float2bfloat16_rn(x);
  }
  __syncthreads();
#pragma unroll
  for (int dc = 0; dc < WarpState<kHD>::kDC; ++dc) {
    wmma::load_matrix_sync(st.q[dc], sQ + warp * 16 * L::kLdKV + dc * 16, L::kLdKV);
    wmma::fill_fragment(st.o[dc], 0.0f);
  }
  __syncthreads();  // sQ read by every warp before sS overwrites it

  const int64_t limit0 = past + q0 + 16 * warp;  // last key row 0 of this warp sees
  for (int64_t it = 0; it < n_tiles; ++it) {
    if (it + 1 < n_tiles) {  // stage (it+1)&1 was last read in iteration it-1, before its
                             // closing barrier
      const int64_t nx = (it + 1) & 1;
      LoadKvTile<kHD>(K, V, p.kv_stride, (it + 1) * kTK, total, StageK(nx), StageV(nx));
    }
    CpAsyncCommit();   // possibly empty: keeps the group count uniform
    CpAsyncWait<1>();  // this thread's copies of tile `it` have landed
    __syncthreads();   // ... and everyone else's
    const int64_t k0 = it * kTK;
    // Tiles wholly above this warp's 16 rows (causal) contribute nothing: skip (warp-uniform).
    if (k0 <= limit0 + 15) {
      WarpTile<kHD>(st, StageK(it & 1), StageV(it & 1), sS, sP, sCorr, k0, limit0);
    }
    __syncthreads();  // the stage is read by all warps before it is refilled
  }
  CpAsyncWait<0>();
  __syncthreads();  // (the loop's last barrier already separates; kept for the empty groups)

  // Epilogue: O through shared memory (reusing the stages), divided by l, rows < T written.
  float* sO = reinterpret_cast<float*>(smem) + warp * 16 * L::kLdO;
#pragma unroll
  for (int n = 0; n < WarpState<kHD>::kDC; ++n)
    wmma::store_matrix_sync(sO + n * 16, st.o[n], L::kLdO, wmma::mem_row_major);
  // l >= 1 for every row: key 0 is visible to all rows and the row max contributes exp2(0).
  if (lane < 16) sCorr[lane] = 1.0f / st.l;
  __syncwarp();
  for (int r = 0; r < 16; ++r) {
    const int64_t t = q0 + 16 * warp + r;
    if (t >= p.T) break;  // warp-uniform
    const float inv = sCorr[r];
    float* dst = p.out + t * p.out_stride + head * kHD;
#pragma unroll
    for (int d = lane; d < kHD; d += 32) dst[d] = sO[r * L::kLdO + d] * inv;
  }
#endif
}

template <int kHD>
Status LaunchTc(const AttentionParams& p, Stream stream) {
  using L = TcLayout<kHD>;
  auto kernel = AttentionPrefillTcKernel<kHD>;
  // Prefill is never captured in a CUDA graph (the captured decode step uses split-K), so
  // setting the attribute here, on every call, is safe; it costs a few microseconds.
  FOLIO_RETURN_IF_ERROR(
      CudaStatus(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(L::kBytes)),
                 "attention prefill (tensor cores): raising the shared-memory limit"));
  const dim3 grid(static_cast<unsigned>(p.n_heads),
                  static_cast<unsigned>(CeilDiv<int64_t>(p.T, kTQ)));
  kernel<<<grid, kThreads, L::kBytes, stream>>>(p);
  return LaunchStatus("attention prefill kernel (tensor cores)");
}

bool DeviceHasBf16TensorCores() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
    return false;
  return major >= 8;
}

}  // namespace

namespace detail {

const char* AttentionTensorCoreUnfit(const AttentionParams& p) {
  if (p.kv_dtype != DType::kBF16) return "the K/V cache is not bf16";
  if (p.head_dim != 64 && p.head_dim != 128) return "head_dim is not 64 or 128";
  if (reinterpret_cast<uintptr_t>(p.k) % 16 != 0 || reinterpret_cast<uintptr_t>(p.v) % 16 != 0)
    return "k or v is not 16-byte aligned";
  if (p.kv_stride % 8 != 0) return "kv_stride is not a multiple of 8 elements (16 bytes)";
  if (p.T > int64_t{65535} * kTQ) return "T is above 65535 * 64";
  if (!DeviceHasBf16TensorCores()) return "the GPU has no bf16 tensor cores (needs sm_80+)";
  return nullptr;
}

Status AttentionPrefillTensorCores(const AttentionParams& p, Stream stream) {
  if (const char* why = AttentionTensorCoreUnfit(p))
    return Unsupported(std::string("attention prefill on tensor cores: ") + why);
  if (p.head_dim == 64) return LaunchTc<64>(p, stream);
  return LaunchTc<128>(p, stream);
}

}  // namespace detail
}  // namespace folio::kernels
