// RMSNorm fused with the residual add, on the GPU.
//   h = x + residual_in                         (residual_in optional)
//   residual_out = h                            (optional; the new residual stream)
//   out = weight * h / sqrt(mean(h^2) + eps)    float32 and/or bf16 (the next GEMM's input)
// Same maths as folio::ref::RmsNorm applied to h. Also used for Jamba's inner dt/B/C
// norms on strided slices of x_proj's output (rows x_stride apart, in place).
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "kernels/device.h"

namespace folio::kernels {

struct RmsNormParams {
  int64_t rows = 0;          // tokens
  int64_t dim = 0;           // elements normalised together
  const float* x = nullptr;  // [rows, dim] rows x_stride apart
  int64_t x_stride = 0;
  const float* residual_in = nullptr;  // [rows, dim] contiguous, or nullptr
  float* residual_out = nullptr;  // [rows, dim] contiguous, or nullptr; may alias residual_in,
                                  // or x when x_stride == dim
  const float* weight = nullptr;  // [dim] float32
  float eps = 1e-6f;
  float* out = nullptr;  // [rows, dim] rows out_stride apart, or nullptr; may alias x
                         // when out_stride == x_stride
  int64_t out_stride = 0;
  uint16_t* out_bf16 = nullptr;  // [rows, dim] contiguous bf16, or nullptr
};

// One block per row; every thread reads and writes only its own columns, which is what
// makes the documented aliasing safe.
Status RmsNorm(const RmsNormParams& p, Stream stream);

}  // namespace folio::kernels
