// Selective scan (Mamba-1) on the GPU: prefill over T tokens and the one-token decode
// update. Same maths as folio::ref::SelectiveScan (engine/ops.h), with two fusions the
// reference leaves to its caller: dt = softplus(dt_raw + dt_bias) and the silu(z) gate.
//
//   h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * x_t        per channel d, state n
//   y_t = (<h_t, C_t> + D * x_t) * silu(z_t)
//
// All pointers are device pointers to float32; strides are in elements, so x and z can
// be the two halves of in_proj's output and B, C slices of x_proj's output.
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "kernels/device.h"

namespace folio::kernels {

struct SelectiveScanParams {
  int64_t T = 0;             // tokens in this call (>= 1)
  int64_t d_inner = 0;       // channels
  int64_t d_state = 0;       // states per channel, 1..64
  const float* x = nullptr;  // [T, d_inner] rows x_stride apart
  int64_t x_stride = 0;
  const float* dt = nullptr;  // [T, d_inner] rows dt_stride apart; raw when dt_softplus
  int64_t dt_stride = 0;
  const float* B = nullptr;  // [T, d_state] rows B_stride apart
  int64_t B_stride = 0;
  const float* C = nullptr;  // [T, d_state] rows C_stride apart
  int64_t C_stride = 0;
  const float* z = nullptr;  // [T, d_inner] rows z_stride apart, or nullptr: no gate
  int64_t z_stride = 0;
  const float* A = nullptr;        // [d_inner, d_state] = -exp(A_log)
  const float* D = nullptr;        // [d_inner] skip, or nullptr: no skip
  const float* dt_bias = nullptr;  // [d_inner] added before softplus, or nullptr
  bool dt_softplus = false;        // dt = softplus(dt + dt_bias) inside the kernel
  float* h = nullptr;  // [d_inner, d_state] in/out: state before token 0, after token T-1
  float* y = nullptr;  // [T, d_inner] rows y_stride apart; may not alias x, dt, B, C or z
  int64_t y_stride = 0;
};

// Fills the strides of a params struct whose tensors are contiguous.
void SetContiguousStrides(SelectiveScanParams* p);

// Prefill: chunks of T pass through shared memory (B, C) while each thread keeps its
// channel's state in registers; the [T, d_inner, d_state] expansion never reaches device
// memory. Works for any T >= 1.
Status SelectiveScan(const SelectiveScanParams& p, Stream stream);

// Decode: one token (T must be 1), one thread per (channel, state) and a shuffle
// reduction over the state. Needs d_state <= 32; larger states use SelectiveScan.
Status SelectiveStateUpdate(const SelectiveScanParams& p, Stream stream);

}  // namespace folio::kernels
