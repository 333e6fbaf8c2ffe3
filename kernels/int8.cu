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

struct GemmTileRegs {
  uint4 x;     // 8 bf16
  uint2 q[2];  // 2 x 8 int8
};

__device__ __forceinline__ void LoadTileGlobal(const Int8GemmArgs& a, int64_t m0, int64_t n0,
                                               int64_t k0, GemmTileRegs* r) {
  const int tid = threadIdx.x;
  {
    const int row = tid >> 2, chunk = tid & 3;
    const int64_t m = m0 + row, k = k0 + chunk * 8;
    r->x = make_uint4(0, 0, 0, 0);
    if (m < a.M && k < a.K) r->x = __ldg(reinterpret_cast<const uint4*>(a.x + m * a.ldx + k));
  }
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int idx = tid + j * kGemmThreads;
    const int row = idx >> 2, chunk = idx & 3;
    const int64_t n = n0 + row, k = k0 + chunk * 8;
    r->q[j] = make_uint2(0, 0);
    if (n < a.N && k < a.K) r->q[j] = __ldg(reinterpret_cast<const uint2*>(a.q + n * a.K + k));
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

__global__ void __launch_bounds__(kGemmThreads) Int8GemmKernel(Int8GemmArgs a) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800  // bf16 WMMA needs sm_80
  using namespace nvcuda;
  __shared__ __align__(128) unsigned char smem[kSmemBytes];
  __nv_bfloat16* stages = reinterpret_cast<__nv_bfloat16*>(smem);
  const int warp = threadIdx.x >> 5;
  const int wm = warp >> 2, wn = warp & 3;  // 2 x 4 warps
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kBM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const int64_t n_k = (a.K + kBK - 1) / kBK;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  GemmTileRegs regs;
  LoadTileGlobal(a, m0, n0, 0, &regs);
  StoreTileShared(regs, stages, stages + kBM * kLds);
  __syncthreads();
  for (int64_t kt = 0; kt < n_k; ++kt) {
    const bool more = kt + 1 < n_k;
    if (more) LoadTileGlobal(a, m0, n0, (kt + 1) * kBK, &regs);  // in flight during the MMAs
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
    const int64_t m = m0 + r, n = n0 + c;
    if (m >= a.M || n >= a.N) continue;
    const float v = sc[r * kLdc + c] * a.scale[n];
    float* out = a.y + m * a.ldy + n;
    *out = a.accumulate ? *out + v : v;
  }
#else
  __trap();
#endif
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
  if (a.M < 1 || a.N < 1 || a.K < 1 || !a.x || !a.q || !a.scale || !a.y)
    return InvalidArgument("int8 gemm: need M, N, K >= 1 and x, q, scale, y");
  if (a.ldx < a.K || a.ldy < a.N)
    return InvalidArgument("int8 gemm: a leading dimension is too small");
  if (a.K % 8 != 0 || a.ldx % 8 != 0)
    return InvalidArgument("int8 gemm: K (" + std::to_string(a.K) + ") and ldx (" +
                           std::to_string(a.ldx) + ") must be multiples of 8");
  if (reinterpret_cast<uintptr_t>(a.x) % 16 != 0 || reinterpret_cast<uintptr_t>(a.q) % 8 != 0)
    return InvalidArgument("int8 gemm: x must be 16-byte and q 8-byte aligned");
  if (CeilDiv<int64_t>(a.M, kBM) > 65535 || CeilDiv<int64_t>(a.N, kBN) > 0x7fffffff)
    return InvalidArgument("int8 gemm: M above " + std::to_string(65535 * kBM) + " rows");
  const dim3 grid(static_cast<unsigned>(CeilDiv<int64_t>(a.N, kBN)),
                  static_cast<unsigned>(CeilDiv<int64_t>(a.M, kBM)));
  Int8GemmKernel<<<grid, kGemmThreads, 0, stream>>>(a);
  return LaunchStatus("int8 gemm kernel");
}

}  // namespace folio::kernels
