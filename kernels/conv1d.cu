// Causal depthwise conv1d kernels; see conv1d.h for the maths and the Params contract.
#include "kernels/common.cuh"
#include "kernels/conv1d.h"

namespace folio::kernels {
namespace {

constexpr int kMaxKernel = 8;
constexpr int kConvBlock = 128;      // channels per block (coalesced rows)
constexpr int kTokensPerBlock = 64;  // tokens per block in prefill (grid.y)

// Input at position j (may be negative: then it comes from the carried state).
__device__ __forceinline__ float ConvInput(const CausalConv1dParams& p, int64_t j, int64_t c,
                                           int km1) {
  if (j >= 0) return p.x[j * p.x_stride + c];
  if (j >= -km1) return p.state[c * km1 + km1 + j];
  return 0.0f;  // beyond the kernel's reach: multiplied by a zero weight
}

// Window and weights are right-aligned in kMaxKernel registers: win[kMaxKernel-1] is the
// newest input, wr[kMaxKernel-K .. kMaxKernel-1] = weight[c, 0 .. K-1], zeros before, so
// every register index is a compile-time constant.
template <bool kSilu>
__global__ void CausalConv1dKernel(CausalConv1dParams p) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= p.channels) return;  // no barriers in this kernel
  const int K = static_cast<int>(p.kernel), km1 = K - 1;
  const int64_t t_begin = static_cast<int64_t>(blockIdx.y) * kTokensPerBlock;
  const int64_t t_end = min(p.T, t_begin + kTokensPerBlock);
  float wr[kMaxKernel], win[kMaxKernel];
#pragma unroll
  for (int j = 0; j < kMaxKernel; ++j) {
    const int k = j - (kMaxKernel - K);
    wr[j] = k >= 0 ? p.weight[c * K + k] : 0.0f;
    win[j] = j < kMaxKernel - 1 ? ConvInput(p, t_begin - (kMaxKernel - 1 - j), c, km1) : 0.0f;
  }
  const float bias = p.bias ? p.bias[c] : 0.0f;
  for (int64_t t = t_begin; t < t_end; ++t) {
    win[kMaxKernel - 1] = p.x[t * p.x_stride + c];
    float acc = bias;
#pragma unroll
    for (int j = 0; j < kMaxKernel; ++j) acc += wr[j] * win[j];
    p.out[t * p.out_stride + c] = kSilu ? DevSilu(acc) : acc;
#pragma unroll
    for (int j = 0; j < kMaxKernel - 1; ++j) win[j] = win[j + 1];
  }
}

// state[c, i] <- in(T - (K-1) + i). In place: reading index i + T (> i) while writing i in
// ascending order never reads a slot already overwritten.
__global__ void RollConvStateKernel(CausalConv1dParams p) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= p.channels) return;
  const int km1 = static_cast<int>(p.kernel) - 1;
  for (int i = 0; i < km1; ++i) {
    const float v = ConvInput(p, p.T - km1 + i, c, km1);
    p.state[c * km1 + i] = v;
  }
}

template <bool kSilu>
__global__ void CausalConv1dStepKernel(CausalConv1dParams p) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= p.channels) return;
  const int K = static_cast<int>(p.kernel), km1 = K - 1;
  const float* w = p.weight + c * K;
  const float x = p.x[c];
  float acc = p.bias ? p.bias[c] : 0.0f;
  if (km1 > 0) {  // state is nullptr when K == 1
    float* st = p.state + c * km1;
    for (int k = 0; k < km1; ++k) acc += w[k] * st[k];
    for (int k = 0; k + 1 < km1; ++k) st[k] = st[k + 1];
    st[km1 - 1] = x;
  }
  acc += w[km1] * x;
  p.out[c] = kSilu ? DevSilu(acc) : acc;
}

Status Validate(const CausalConv1dParams& p) {
  if (p.T < 1 || p.channels < 1 || p.kernel < 1 || p.kernel > kMaxKernel)
    return InvalidArgument("causal conv1d: need T >= 1, channels >= 1, 1 <= kernel <= 8 (got T=" +
                           std::to_string(p.T) + ", channels=" + std::to_string(p.channels) +
                           ", kernel=" + std::to_string(p.kernel) + ")");
  if (!p.x || !p.weight || !p.out || (p.kernel > 1 && !p.state))
    return InvalidArgument(
        "causal conv1d: x, weight, out (and state when kernel > 1) are required");
  if (p.x_stride < p.channels || p.out_stride < p.channels)
    return InvalidArgument("causal conv1d: a row stride is smaller than its row");
  if (p.T > int64_t{kTokensPerBlock} * 65535)  // grid.y limit
    return InvalidArgument("causal conv1d: T above " + std::to_string(kTokensPerBlock * 65535) +
                           " per call");
  return Status::Ok();
}

}  // namespace

// Launch heuristics: 128 channels per block (one warp reads 128 contiguous bytes of a
// row), 64 tokens per block along y; at d_inner 8192 and T 4096 that is 64 x 64 blocks.
// No shared memory; 2 * kMaxKernel registers of window and weights per thread.
Status CausalConv1d(const CausalConv1dParams& p, Stream stream) {
  FOLIO_RETURN_IF_ERROR(Validate(p));
  const unsigned gx = static_cast<unsigned>(CeilDiv<int64_t>(p.channels, kConvBlock));
  const dim3 grid(gx, static_cast<unsigned>(CeilDiv<int64_t>(p.T, kTokensPerBlock)));
  FOLIO_BOOL_SWITCH(p.silu, kSilu,
                    [&] { CausalConv1dKernel<kSilu><<<grid, kConvBlock, 0, stream>>>(p); });
  FOLIO_RETURN_IF_ERROR(LaunchStatus("causal conv1d kernel"));
  if (p.kernel == 1) return Status::Ok();
  RollConvStateKernel<<<gx, kConvBlock, 0, stream>>>(p);
  return LaunchStatus("conv state roll kernel");
}

Status CausalConv1dStep(const CausalConv1dParams& p, Stream stream) {
  FOLIO_RETURN_IF_ERROR(Validate(p));
  if (p.T != 1) return InvalidArgument("causal conv1d step: T must be 1 (use CausalConv1d)");
  const unsigned gx = static_cast<unsigned>(CeilDiv<int64_t>(p.channels, kConvBlock));
  FOLIO_BOOL_SWITCH(p.silu, kSilu,
                    [&] { CausalConv1dStepKernel<kSilu><<<gx, kConvBlock, 0, stream>>>(p); });
  return LaunchStatus("causal conv1d step kernel");
}

}  // namespace folio::kernels
