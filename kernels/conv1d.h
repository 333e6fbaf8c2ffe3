// Causal depthwise conv1d on the GPU (the Mamba mixer's short convolution): prefill over
// T tokens starting from a carried state, and one decode step. Same maths as
// folio::ref::CausalConv1d (engine/ops.h), with an optional fused silu.
//
//   out[t, c] = bias[c] + sum_k weight[c, k] * in(t - (K-1) + k)
//   in(j) = x[j, c] for j >= 0, state[c, K-1+j] for -(K-1) <= j < 0
// On return state[c, :] holds the last K-1 inputs (oldest first).
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "kernels/device.h"

namespace folio::kernels {

struct CausalConv1dParams {
  int64_t T = 0;             // tokens (>= 1)
  int64_t channels = 0;      // d_inner
  int64_t kernel = 0;        // K = d_conv, 1..8
  const float* x = nullptr;  // [T, channels] rows x_stride apart (in_proj's first half)
  int64_t x_stride = 0;
  const float* weight = nullptr;  // [channels, K] float32
  const float* bias = nullptr;    // [channels] or nullptr
  float* state = nullptr;         // [channels, K-1] in/out (unused when K == 1)
  float* out = nullptr;           // [T, channels] rows out_stride apart; must not alias x
  int64_t out_stride = 0;
  bool silu = false;  // out = silu(conv) (what the Mamba mixer wants)
};

// Prefill: a thread per channel slides a register window over its block's tokens;
// a second small kernel then rolls the state forward (it must run after every read of
// the old state, which only the first token block makes).
Status CausalConv1d(const CausalConv1dParams& p, Stream stream);

// One token (T must be 1): read window, write output, shift state, one kernel.
Status CausalConv1dStep(const CausalConv1dParams& p, Stream stream);

}  // namespace folio::kernels
