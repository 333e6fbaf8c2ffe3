// Synthetic weights on the device; see synthetic.h. Element i is SyntheticValue(key, offset,
// scale, i) from engine/synthetic_fill.h, the function the host uses too (same integer
// hash, same exact 2u - 1, one fused multiply-add with round to nearest), so the values are
// bit-identical to the host's; bf16 then rounds to nearest even like folio::F32ToBf16.
//
// Launch: grid-stride loop with 64-bit indices (a 14336 x 4096 x 16 expert stack is 9.4e8
// elements), 256 threads, at most 65535 * 8 blocks. Each thread handles kPerThread
// consecutive elements and stores them as one vector (16 bytes for bf16), so a fill of the
// 52B-parameter model writes at close to copy bandwidth; the hash is integer work that
// hides behind the stores.
#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/synthetic.h"

namespace folio::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 8;  // 8 bf16 = 16 bytes, 8 float = two 16-byte stores

template <typename T>
__device__ __forceinline__ void StoreGroup(T* dst, const float (&v)[kPerThread]);

template <>
__device__ __forceinline__ void StoreGroup<__nv_bfloat16>(__nv_bfloat16* dst,
                                                          const float (&v)[kPerThread]) {
  uint4 packed;
  uint32_t* w = reinterpret_cast<uint32_t*>(&packed);
#pragma unroll
  for (int j = 0; j < kPerThread / 2; ++j) {
    const uint32_t lo = __bfloat16_as_ushort(__float2bfloat16_rn(v[2 * j]));
    const uint32_t hi = __bfloat16_as_ushort(__float2bfloat16_rn(v[2 * j + 1]));
    w[j] = lo | (hi << 16);
  }
  *reinterpret_cast<uint4*>(dst) = packed;
}

template <>
__device__ __forceinline__ void StoreGroup<float>(float* dst, const float (&v)[kPerThread]) {
  reinterpret_cast<float4*>(dst)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(dst)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

// Groups of kPerThread elements stored as vectors when `dst` is 16-byte aligned (cudaMalloc
// memory always is); the ragged tail, and everything when the pointer is not aligned, one
// element at a time.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    FillSyntheticKernel(uint64_t key, float offset, float scale, int64_t n, bool vec, T* dst) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t tid = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  const int64_t groups = vec ? n / kPerThread : 0;
  for (int64_t g = tid; g < groups; g += stride) {
    float v[kPerThread];
    const int64_t i0 = g * kPerThread;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j)
      v[j] = SyntheticValue(key, offset, scale, static_cast<uint64_t>(i0 + j));
    StoreGroup<T>(dst + i0, v);
  }
  for (int64_t i = groups * kPerThread + tid; i < n; i += stride)
    dst[i] = FromF32<T>(SyntheticValue(key, offset, scale, static_cast<uint64_t>(i)));
}

unsigned GridFor(int64_t n) {
  return static_cast<unsigned>(
      std::clamp<int64_t>(CeilDiv<int64_t>(n, int64_t{kThreads} * kPerThread), 1, 65535 * 8));
}

}  // namespace

Status FillSynthetic(const SyntheticFill& fill, int64_t n, DType dtype, void* dst, Stream stream) {
  if (n < 0 || (n > 0 && !dst))
    return InvalidArgument("synthetic fill: need n >= 0 and a destination");
  if (!fill.active())
    return InvalidArgument("synthetic fill: the fill has scale 0 (not a synthetic tensor)");
  if (n == 0) return Status::Ok();
  const bool vec = reinterpret_cast<uintptr_t>(dst) % 16 == 0;
  if (dtype == DType::kBF16) {
    FillSyntheticKernel<<<GridFor(n), kThreads, 0, stream>>>(fill.key, fill.offset, fill.scale, n,
                                                             vec, static_cast<__nv_bfloat16*>(dst));
  } else if (dtype == DType::kF32) {
    FillSyntheticKernel<<<GridFor(n), kThreads, 0, stream>>>(fill.key, fill.offset, fill.scale, n,
                                                             vec, static_cast<float*>(dst));
  } else {
    return Unsupported("synthetic fill: dtype must be bf16 or f32");
  }
  return LaunchStatus("synthetic fill kernel");
}

}  // namespace folio::kernels
