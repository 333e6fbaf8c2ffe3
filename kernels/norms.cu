// RMSNorm (+ residual) kernel; see norms.h.
#include "kernels/common.cuh"
#include "kernels/norms.h"

namespace folio::kernels {
namespace {

// Pass 1: h = x + r for this thread's columns (written to residual_out when asked),
// sum of squares reduced over the block. Pass 2 re-reads h from residual_out when it
// exists (residual_out may have overwritten residual_in) or recomputes it otherwise.
template <bool kHasResidual>
__global__ void RmsNormKernel(RmsNormParams p) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const float* x = p.x + row * p.x_stride;
  const float* r = kHasResidual ? p.residual_in + row * p.dim : nullptr;
  float* ro = p.residual_out ? p.residual_out + row * p.dim : nullptr;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < p.dim; i += blockDim.x) {
    float h = x[i];
    if constexpr (kHasResidual) h += r[i];
    if (ro) ro[i] = h;
    ss += h * h;
  }
  ss = BlockSum(ss, scratch);
  const float inv = rsqrtf(ss / static_cast<float>(p.dim) + p.eps);
  for (int64_t i = threadIdx.x; i < p.dim; i += blockDim.x) {
    float h;
    if (ro) {
      h = ro[i];
    } else {
      h = x[i];
      if constexpr (kHasResidual) h += r[i];
    }
    const float y = p.weight[i] * (h * inv);
    if (p.out) p.out[row * p.out_stride + i] = y;
    if (p.out_bf16)
      reinterpret_cast<__nv_bfloat16*>(p.out_bf16)[row * p.dim + i] = __float2bfloat16_rn(y);
  }
}

}  // namespace

// Launch heuristics: one block per row; 32..256 threads (a multiple of 32, BlockSum's
// requirement), enough for 16 columns per thread at hidden 4096; 128 B of shared memory.
Status RmsNorm(const RmsNormParams& p, Stream stream) {
  if (p.rows < 1 || p.dim < 1 || !p.x || !p.weight || (!p.out && !p.out_bf16 && !p.residual_out))
    return InvalidArgument("rmsnorm: need rows >= 1, dim >= 1, x, weight and an output");
  if (p.x_stride < p.dim || (p.out && p.out_stride < p.dim))
    return InvalidArgument("rmsnorm: a row stride is smaller than its row");
  if (p.rows > 0x7fffffff) return InvalidArgument("rmsnorm: too many rows");
  // Aliasing is safe only when both sides address an element alike (each thread then reads
  // before it writes the same element); otherwise a block writes another row's input.
  if ((p.out && p.out == p.x && p.out_stride != p.x_stride) ||
      (p.residual_out && p.residual_out == p.x && p.x_stride != p.dim))
    return InvalidArgument("rmsnorm: an output aliases x with a different row stride");
  const int threads = static_cast<int>(std::min<int64_t>(256, CeilDiv<int64_t>(p.dim, 32) * 32));
  const unsigned grid = static_cast<unsigned>(p.rows);
  FOLIO_BOOL_SWITCH(p.residual_in != nullptr, kHasResidual,
                    [&] { RmsNormKernel<kHasResidual><<<grid, threads, 0, stream>>>(p); });
  return LaunchStatus("rmsnorm kernel");
}

}  // namespace folio::kernels
