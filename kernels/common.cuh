// Device-side helpers shared by the kernel families: error checks, the runtime-flag ->
// template switch, element conversion, warp and block reductions. Included by .cu files
// only; the public headers (kernels/*.h) stay plain C++.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace folio::kernels {

// Turns a CUDA error into a Status naming the step that failed.
inline Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal(std::string(what) + ": " + cudaGetErrorString(err));
}

// The launch itself (bad configuration, too much shared memory) reports through
// cudaGetLastError; faults inside the kernel surface at the next synchronisation.
inline Status LaunchStatus(const char* kernel) {
  return CudaStatus(cudaGetLastError(), kernel);
}

// Host-side ceil division for grid sizes.
template <typename T>
inline T CeilDiv(T a, T b) {
  return (a + b - 1) / b;
}

// Runtime flag -> compile-time constant: FOLIO_BOOL_SWITCH(has_z, kHasZ, [&] { Launch<kHasZ>(); });
#define FOLIO_BOOL_SWITCH(cond, NAME, ...) \
  [&] {                                    \
    if (cond) {                            \
      constexpr bool NAME = true;          \
      return __VA_ARGS__();                \
    } else {                               \
      constexpr bool NAME = false;         \
      return __VA_ARGS__();                \
    }                                      \
  }()

// Element loads/stores: activations are float32; weights and the K/V cache may be bf16.
__device__ __forceinline__ float ToF32(float x) {
  return x;
}
__device__ __forceinline__ float ToF32(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
__device__ __forceinline__ float ToF32(int8_t x) {  // int8 expert weights, before the row scale
  return static_cast<float>(x);
}
template <typename T>
__device__ __forceinline__ T FromF32(float x);
template <>
__device__ __forceinline__ float FromF32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromF32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

__device__ __forceinline__ float DevSilu(float x) {
  return x / (1.0f + expf(-x));
}
// Same threshold as folio::Softplus (ops.h) so GPU and reference agree bit-for-bit in form.
__device__ __forceinline__ float DevSoftplus(float x) {
  return x > 20.0f ? x : log1pf(expf(x));
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Sum over the whole block; blockDim.x must be a multiple of 32 and at most 1024.
// `scratch` holds 32 floats. Every thread gets the result. Contains __syncthreads, so
// every thread of the block must call it.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n_warps = blockDim.x >> 5;
  v = WarpSum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.0f;
  return WarpSum(v);
}
__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n_warps = blockDim.x >> 5;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : -INFINITY;
  return WarpMax(v);
}

}  // namespace folio::kernels
