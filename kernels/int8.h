// Int8 expert weights (the Jamba-1.5 paper's ExpertsInt8): each expert matrix W [N, K] is
// kept as q [N, K] int8 with one float32 scale per output row, W[n, k] ~= q[n, k] *
// scale[n]; activations stay bf16/float32 and the weights are dequantised inside the
// expert GEMM / GEMV, never written back to memory as bf16.
//
// Quantisation rule (identical to folio::QuantizeInt8Rows on the CPU, engine/quant.h, so
// the two produce the same bytes):
//   amax = max_k |W[n, k]| (as float32);  scale[n] = amax / 127 (1 when amax == 0)
//   q[n, k] = clamp(nearbyint(W[n, k] / scale[n]), -127, 127)   (round half to even)
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "engine/tensor.h"
#include "kernels/device.h"

namespace folio::kernels {

// w [N, K] of dtype (kBF16 or kF32) -> q [N, K] int8 and scale [N] float32. Device pointers.
Status QuantizeRowsInt8(const void* w, DType dtype, int64_t N, int64_t K, int8_t* q, float* scale,
                        Stream stream);

// y[M, N] (float32, rows ldy apart) (+)= x[M, K] @ (q * scale)^T, x bf16 [M, K] rows ldx
// apart, q int8 [N, K], scale [N]. Tensor cores (bf16 mma, float32 accumulate); the int8
// values (|q| <= 127) are exact in bf16, the scale is applied to the float32 accumulator.
// Any M >= 1 and N; K and ldx must be multiples of 8, x 16-byte and q 8-byte aligned (the
// vector loads), else InvalidArgument. The MoE uses the grouped form below.
struct Int8GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const uint16_t* x = nullptr;  // bf16
  int64_t ldx = 0;
  const int8_t* q = nullptr;
  const float* scale = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
  bool accumulate = false;
};
Status Int8Gemm(const Int8GemmArgs& a, Stream stream);

// The grouped form, for the MoE prefill without a host sync: the R rows of x are split into
// `groups` consecutive ranges by offsets [groups + 1] (device memory, as MoeGroup writes
// them; offsets[0] = 0, offsets[groups] = R) and rows [offsets[g], offsets[g+1]) use matrix
// g: y[r] (+)= x[r] @ (q[g] * scale[g])^T. q and scale are device arrays of `groups` device
// pointers (q[g] [N, K] int8, 8-byte aligned; scale[g] [N]). One launch for all groups;
// empty groups cost nothing. K and ldx multiples of 8, x 16-byte aligned, as above.
struct Int8GroupedGemmArgs {
  int64_t R = 0, N = 0, K = 0;
  int64_t groups = 0;
  const int32_t* offsets = nullptr;
  const uint16_t* x = nullptr;  // bf16 [R, K]
  int64_t ldx = 0;
  const int8_t* const* q = nullptr;
  const float* const* scale = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
  bool accumulate = false;
};
Status Int8GemmGrouped(const Int8GroupedGemmArgs& a, Stream stream);

}  // namespace folio::kernels
