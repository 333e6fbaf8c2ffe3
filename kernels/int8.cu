// Int8 expert weights: per-row quantisation and the int8-weight GEMM; see int8.h.
//
// Numerics. The quantiser uses __fdiv_rn (IEEE division, round to nearest) and rintf (round
// half to even) explicitly, so it matches the CPU rule bit for bit whatever division flags
// the kernels are built with. The GEMM converts q to bf16 (exact: |q| <= 127 needs 7 bits),
// multiplies bf16 x bf16 on the tensor cores with float32 accumulation, and applies the
// row scale once to the accumulated sum: y[m, n] = scale[n] * sum_k x[m, k] q[n, k].
#include <mma.h>

#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/int8.h"

namespace folio::kernels {
namespace {

// ---- Quantisation ------------------------------------------------------------------
// One block of 256 threads per row: a block-wide max of |w|, then every element divided by
// the row's scale. Reads the row twice (the second time mostly from L2); load-time only.
constexpr int kQuantThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kQuantThreads)
    QuantizeRowsKernel(const T* w, int64_t K, int8_t* q, float* scale) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* wr = w + row * K;
  float amax = 0.0f;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) amax = fmaxf(amax, fabsf(ToF32(wr[k])));
  amax = BlockMax(amax, scratch);
  const float s = amax == 0.0f ? 1.0f : __fdiv_rn(amax, 127.0f);
  int8_t* qr = q + row * K;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
    // As on the CPU: when amax / 127 underflows to 0 (|W| < 2e-43), +-inf clamps and a zero
    // element (0 / 0 = NaN) becomes 0.
    const float r = rintf(__fdiv_rn(ToF32(wr[k]), s));
    qr[k] = isnan(r) ? int8_t{0} : static_cast<int8_t>(fminf(fmaxf(r, -127.0f), 127.0f));
  }
  if (threadIdx.x == 0) scale[row] = s;
}

// ---- GEMM --------------------------------------------------------------------------
// Block tile kBM x kBN of y, walking K in steps of kBK = 32. 8 warps in a 2 (M) x 4 (N)
// grid, each owning 32 x 32 of y as 2 x 2 WMMA accumulators (bf16 16x16x16, float32).
// Staging, two shared-memory stages (register prefetch of the next tile while the tensor
// cores work on the current one, one barrier per K step):
//   sX [kBM][kLds] bf16   x rows, copied as 16-byte vectors (8 bf16 per thread)
//   sW [kBN][kLds] bf16   q rows, loaded as 8-byte vectors (8 int8) and converted to bf16
// kLds = 40 elements (80 bytes): the 8 row addresses of an ldmatrix phase fall on distinct
// bank quads. sW[n][k] is B = W^T in column-major order (element (k, n) at n * kLds + k).
// Epilogue: the accumulators go through shared memory (reusing the stages, kLdc floats a
// row) so that y is written coalesced, bounds-checked, times scale[n], (+ y).
// Edges: rows m >= M and n >= N and K chunks >= K load as zeros (K % 8 == 0, so a chunk of
// 8 is wholly inside or wholly outside).
constexpr int kBM = 64;
constexpr int kBN = 128;
constexpr int kBK = 32;
constexpr int kGemmThreads = 256;
constexpr int kLds = kBK + 8;
constexpr int kLdc = kBN + 4;
constexpr int kStageElems = (kBM + kBN) * kLds;  // bf16 elements per stage
constexpr size_t kSmemBytes =
    std::max<size_t>(2 * kStageElems * sizeof(uint16_t), size_t{kBM} * kLdc * sizeof(float));
static_assert(kBM * (kBK / 8) == kGemmThreads, "one 16-byte x chunk per thread");
static_assert(kBN * (kBK / 8) == 2 * kGemmThreads, "two 8-byte q chunks per thread");
static_assert(kSmemBytes <= 48 * 1024, "static shared memory limit");

// What one block multiplies: its rows [m0, m_end) of x and y (m_end bounds the tile), the
// int8 matrix and its row scales. Plain GEMM: m_end = M; grouped: the group's last row.
struct BlockTask {
  int64_t m0, m_end;
  const int8_t* q;
  const float* scale;
};

// Both launch forms in one parameter block. Grouped: rows [offsets[g], offsets[g+1]) use
// q_ptrs[g] / scale_ptrs[g]; plain: q / scale for all M rows.
struct GemmParams {
  int64_t M, N, K;
  const uint16_t* x;
  int64_t ldx;
  float* y;
  int64_t ldy;
  bool accumulate;
  const int8_t* q;
  const float* scale;
  const int32_t* offsets;
  int groups;
  const int8_t* const* q_ptrs;
  const float* const* scale_ptrs;
};

// Grouped: blockIdx.y counts the row tiles of group 0, then group 1, ...; a block past the
// last tile (the grid is sized for the worst case) gets m0 >= m_end and does nothing.
// Every thread computes the same task, so the early return is block-uniform.
template <bool kGrouped>
__device__ __forceinline__ BlockTask FindTask(const GemmParams& a) {
  if constexpr (!kGrouped) {
    return {static_cast<int64_t>(blockIdx.y) * kBM, a.M, a.q, a.scale};
  } else {
    int64_t tile = blockIdx.y;
    for (int g = 0; g < a.groups; ++g) {
      const int64_t begin = a.offsets[g], end = a.offsets[g + 1];
      const int64_t tiles = (end - begin + kBM - 1) / kBM;
      if (tile < tiles) return {begin + tile * kBM, end, a.q_ptrs[g], a.scale_ptrs[g]};
      tile -= tiles;
    }
    return {0, 0, nullptr, nullptr};
  }
}

struct GemmTileRegs {
  uint4 x;     // 8 bf16
  uint2 q[2];  // 2 x 8 int8
};

__device__ __forceinline__ void LoadTileGlobal(const GemmParams& a, const BlockTask& task,
                                               int64_t n0, int64_t k0, GemmTileRegs* r) {
  const int tid = threadIdx.x;
  {
    const int row = tid >> 2, chunk = tid & 3;
    const int64_t m = task.m0 + row, k = k0 + chunk * 8;
    r->x = make_uint4(0, 0, 0, 0);
    if (m < task.m_end && k < a.K)
      r->x = __ldg(reinterpret_cast<const uint4*>(a.x + m * a.ldx + k));
  }
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int idx = tid + j * kGemmThreads;
    const int row = idx >> 2, chunk = idx & 3;
    const int64_t n = n0 + row, k = k0 + chunk * 8;
    r->q[j] = make_uint2(0, 0);
    if (n < a.N && k < a.K) r->q[j] = __ldg(reinterpret_cast<const uint2*>(task.q + n * a.K + k));
  }
}

// Four int8 (one 32-bit word, little-endian) -> four bf16 in two 32-bit words. Exact.
__device__ __forceinline__ uint2 Int8x4ToBf16x4(uint32_t w) {
  const float f0 = static_cast<float>(static_cast<int8_t>(w & 0xff));
  const float f1 = static_cast<float>(static_cast<int8_t>((w >> 8) & 0xff));
  const float f2 = static_cast<float>(static_cast<int8_t>((w >> 16) & 0xff));
  const float f3 = static_cast<float>(static_cast<int8_t>(w >> 24));
  const __nv_bfloat162 lo = __floats2bfloat162_rn(f0, f1);  // .x = f0 (lower address)
  const __nv_bfloat162 hi = __floats2bfloat162_rn(f2, f3);
  return make_uint2(*reinterpret_cast<const uint32_t*>(&lo),
                    *reinterpret_cast<const uint32_t*>(&hi));
}

__device__ __forceinline__ void StoreTileShared(const GemmTileRegs& r, __nv_bfloat16* sx,
                                                __nv_bfloat16* sw) {
  const int tid = threadIdx.x;
  {
    const int row = tid >> 2, chunk = tid & 3;
    *reinterpret_cast<uint4*>(sx + row * kLds + chunk * 8) = r.x;
  }
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int idx = tid + j * kGemmThreads;
    const int row = idx >> 2, chunk = idx & 3;
    const uint2 lo = Int8x4ToBf16x4(r.q[j].x), hi = Int8x4ToBf16x4(r.q[j].y);
    *reinterpret_cast<uint4*>(sw + row * kLds + chunk * 8) = make_uint4(lo.x, lo.y, hi.x, hi.y);
  }
}

template <bool kGrouped>
__global__ void __launch_bounds__(kGemmThreads) Int8GemmKernel(GemmParams a) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800  // bf16 WMMA needs sm_80
  using namespace nvcuda;
  __shared__ __align__(128) unsigned char smem[kSmemBytes];
  const BlockTask task = FindTask<kGrouped>(a);
  if (task.m0 >= task.m_end) return;  // grouped: a spare block
  __nv_bfloat16* stages = reinterpret_cast<__nv_bfloat16*>(smem);
  const int warp = threadIdx.x >> 5;
  const int wm = warp >> 2, wn = warp & 3;  // 2 x 4 warps
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const int64_t n_k = (a.K + kBK - 1) / kBK;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  GemmTileRegs regs;
  LoadTileGlobal(a, task, n0, 0, &regs);
  StoreTileShared(regs, stages, stages + kBM * kLds);
  __syncthreads();
  for (int64_t kt = 0; kt < n_k; ++kt) {
    const bool more = kt + 1 < n_k;
    if (more) LoadTileGlobal(a, task, n0, (kt + 1) * kBK, &regs);  // in flight during the MMAs
    const __nv_bfloat16* sx = stages + (kt & 1) * kStageElems;
    const __nv_bfloat16* sw = sx + kBM * kLds;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
        wmma::load_matrix_sync(fa[i], sx + (wm * 32 + i * 16) * kLds + kk, kLds);
#pragma unroll
      for (int j = 0; j < 2; ++j)
        wmma::load_matrix_sync(fb[j], sw + (wn * 32 + j * 16) * kLds + kk, kLds);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    if (more) {
      // The other stage was last read in step kt - 1, before the barrier that ended it.
      __nv_bfloat16* nx = stages + ((kt + 1) & 1) * kStageElems;
      StoreTileShared(regs, nx, nx + kBM * kLds);
    }
    __syncthreads();
  }

  // Epilogue: the stages are free (the loop ended with a barrier).
  float* sc = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(sc + (wm * 32 + i * 16) * kLdc + wn * 32 + j * 16, acc[i][j], kLdc,
                              wmma::mem_row_major);
  __syncthreads();
  for (int idx = threadIdx.x; idx < kBM * kBN; idx += kGemmThreads) {
    const int r = idx / kBN, c = idx - r * kBN;
    const int64_t m = task.m0 + r, n = n0 + c;
    if (m >= task.m_end || n >= a.N) continue;
    const float v = sc[r * kLdc + c] * task.scale[n];
    float* out = a.y + m * a.ldy + n;
    *out = a.accumulate ? *out + v : v;
  }
#else
  __trap();
#endif
}

// The checks both launch forms share: shapes, leading dimensions, the vector loads' needs.
Status CheckGemmShape(int64_t M, int64_t N, int64_t K, const void* x, int64_t ldx, int64_t ldy,
                      const char* what) {
  const std::string w(what);
  if (M < 1 || N < 1 || K < 1) return InvalidArgument(w + ": need M, N, K >= 1");
  if (ldx < K || ldy < N) return InvalidArgument(w + ": a leading dimension is too small");
  if (K % 8 != 0 || ldx % 8 != 0)
    return InvalidArgument(w + ": K (" + std::to_string(K) + ") and ldx (" + std::to_string(ldx) +
                           ") must be multiples of 8");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0)
    return InvalidArgument(w + ": x must be 16-byte aligned");
  if (CeilDiv<int64_t>(N, kBN) > 0x7fffffff) return InvalidArgument(w + ": N above the grid limit");
  return Status::Ok();
}

}  // namespace

Status QuantizeRowsInt8(const void* w, DType dtype, int64_t N, int64_t K, int8_t* q, float* scale,
                        Stream stream) {
  if (!w || !q || !scale || N < 1 || K < 1)
    return InvalidArgument("int8 quantise: need w, q, scale and N, K >= 1");
  if (N > 0x7fffffff) return InvalidArgument("int8 quantise: more than 2^31 rows");
  const unsigned grid = static_cast<unsigned>(N);
  if (dtype == DType::kBF16) {
    QuantizeRowsKernel<<<grid, kQuantThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(w), K,
                                                           q, scale);
  } else if (dtype == DType::kF32) {
    QuantizeRowsKernel<<<grid, kQuantThreads, 0, stream>>>(static_cast<const float*>(w), K, q,
                                                           scale);
  } else {
    return Unsupported("int8 quantise: weights must be bf16 or f32");
  }
  return LaunchStatus("int8 quantise kernel");
}

// Launch: grid (ceil(N / 128), ceil(M / 64)), 256 threads, 33 KiB static shared memory.
// Needs K and ldx multiples of 8 with x 16-byte and q 8-byte aligned (the vector loads);
// Jamba's K (4096, 14336) and cudaMalloc'ed / 256-byte-carved buffers satisfy that.
Status Int8Gemm(const Int8GemmArgs& a, Stream stream) {
  if (!a.x || !a.q || !a.scale || !a.y) return InvalidArgument("int8 gemm: need x, q, scale and y");
  FOLIO_RETURN_IF_ERROR(CheckGemmShape(a.M, a.N, a.K, a.x, a.ldx, a.ldy, "int8 gemm"));
  if (reinterpret_cast<uintptr_t>(a.q) % 8 != 0)
    return InvalidArgument("int8 gemm: q must be 8-byte aligned");
  if (CeilDiv<int64_t>(a.M, kBM) > 65535)
    return InvalidArgument("int8 gemm: M above " + std::to_string(65535 * kBM) + " rows");
  const GemmParams g{a.M,          a.N, a.K,     a.x,     a.ldx, a.y,     a.ldy,
                     a.accumulate, a.q, a.scale, nullptr, 0,     nullptr, nullptr};
  const dim3 grid(static_cast<unsigned>(CeilDiv<int64_t>(a.N, kBN)),
                  static_cast<unsigned>(CeilDiv<int64_t>(a.M, kBM)));
  Int8GemmKernel<false><<<grid, kGemmThreads, 0, stream>>>(g);
  return LaunchStatus("int8 gemm kernel");
}

// Launch: grid (ceil(N / 128), ceil(R / 64) + groups): the row tiles of all groups together
// never exceed that (each group rounds up by less than one tile); spare blocks exit at once.
Status Int8GemmGrouped(const Int8GroupedGemmArgs& a, Stream stream) {
  if (!a.offsets || !a.x || !a.q || !a.scale || !a.y || a.groups < 1 || a.groups > 1024)
    return InvalidArgument("int8 grouped gemm: need offsets, x, q, scale, y and 1..1024 groups");
  FOLIO_RETURN_IF_ERROR(CheckGemmShape(a.R, a.N, a.K, a.x, a.ldx, a.ldy, "int8 grouped gemm"));
  const int64_t tiles = CeilDiv<int64_t>(a.R, kBM) + a.groups;
  if (tiles > 65535)
    return InvalidArgument("int8 grouped gemm: " + std::to_string(a.R) + " rows exceed the grid");
  const GemmParams g{a.R,   a.N,          a.K,     a.x,     a.ldx,     a.y,
                     a.ldy, a.accumulate, nullptr, nullptr, a.offsets, static_cast<int>(a.groups),
                     a.q,   a.scale};
  const dim3 grid(static_cast<unsigned>(CeilDiv<int64_t>(a.N, kBN)), static_cast<unsigned>(tiles));
  Int8GemmKernel<true><<<grid, kGemmThreads, 0, stream>>>(g);
  return LaunchStatus("int8 grouped gemm kernel");
}

}  // namespace folio::kernels
