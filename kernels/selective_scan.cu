// Selective scan kernels; see selective_scan.h for the maths and the Params contract.
#include "kernels/common.cuh"
#include "kernels/selective_scan.h"

namespace folio::kernels {
namespace {

// Tokens of B and C staged in shared memory per chunk: 64 tokens x 64 states x 2 x 4 B =
// 32 KiB at the largest supported state, inside the 48 KiB every block may use.
constexpr int kScanChunk = 64;
constexpr int kMaxState = 64;

__device__ __forceinline__ float LoadDt(const SelectiveScanParams& p, int64_t t, int64_t d,
                                        float bias, bool softplus) {
  const float raw = p.dt[t * p.dt_stride + d];
  return softplus ? DevSoftplus(raw + bias) : raw;
}

// One thread per channel; kStates >= d_state (register array indexed only by unrolled
// loop counters so it stays in registers). Grid: ceil(d_inner / blockDim.x) blocks.
// Shared memory: sB[kScanChunk][d_state], sC[kScanChunk][d_state] (dynamic).
template <int kStates, bool kHasZ, bool kSoftplus>
__global__ void SelectiveScanKernel(SelectiveScanParams p) {
  extern __shared__ float smem[];
  const int ds = static_cast<int>(p.d_state);
  float* sB = smem;
  float* sC = smem + kScanChunk * ds;
  const int64_t d = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = d < p.d_inner;

  float h[kStates], a[kStates];
#pragma unroll
  for (int n = 0; n < kStates; ++n) {
    const bool on = active && n < ds;
    h[n] = on ? p.h[d * ds + n] : 0.0f;
    a[n] = on ? p.A[d * ds + n] : 0.0f;
  }
  const float skip = (active && p.D) ? p.D[d] : 0.0f;
  const float bias = (active && p.dt_bias) ? p.dt_bias[d] : 0.0f;

  for (int64_t t0 = 0; t0 < p.T; t0 += kScanChunk) {
    const int len = static_cast<int>(min(static_cast<int64_t>(kScanChunk), p.T - t0));
    __syncthreads();  // every thread is done reading the previous chunk
    for (int i = threadIdx.x; i < len * ds; i += blockDim.x) {
      const int t = i / ds, n = i - t * ds;
      sB[i] = p.B[(t0 + t) * p.B_stride + n];
      sC[i] = p.C[(t0 + t) * p.C_stride + n];
    }
    __syncthreads();
    if (!active) continue;  // no barrier inside the loop below
    for (int t = 0; t < len; ++t) {
      const int64_t tt = t0 + t;
      const float x = p.x[tt * p.x_stride + d];
      const float dt = LoadDt(p, tt, d, bias, kSoftplus);
      const float dtx = dt * x;
      float acc = 0.0f;
#pragma unroll
      for (int n = 0; n < kStates; ++n) {
        if (n < ds) {
          h[n] = expf(dt * a[n]) * h[n] + dtx * sB[t * ds + n];
          acc += h[n] * sC[t * ds + n];
        }
      }
      float y = acc + skip * x;
      if constexpr (kHasZ) y *= DevSilu(p.z[tt * p.z_stride + d]);
      p.y[tt * p.y_stride + d] = y;
    }
  }
  if (!active) return;
#pragma unroll
  for (int n = 0; n < kStates; ++n) {
    if (n < ds) p.h[d * ds + n] = h[n];
  }
}

// One token. kWidth threads (a power of two >= d_state, <= 32) per channel, each owning
// one state; the <h, C> sum is a shuffle reduction inside the group. blockDim.x is a
// multiple of 32, so groups never straddle warps, and no thread returns before the
// shuffles (inactive ones contribute 0).
template <int kWidth, bool kHasZ, bool kSoftplus>
__global__ void SelectiveStateUpdateKernel(SelectiveScanParams p) {
  const int n = threadIdx.x % kWidth;
  const int64_t d = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWidth) + threadIdx.x / kWidth;
  const bool active = d < p.d_inner;
  const int ds = static_cast<int>(p.d_state);
  float x = 0.0f, dt = 0.0f, part = 0.0f;
  if (active) {
    x = p.x[d];
    dt = LoadDt(p, 0, d, p.dt_bias ? p.dt_bias[d] : 0.0f, kSoftplus);
    if (n < ds) {
      float* hp = p.h + d * ds + n;
      const float h = expf(dt * p.A[d * ds + n]) * *hp + dt * p.B[n] * x;
      *hp = h;
      part = h * p.C[n];
    }
  }
#pragma unroll
  for (int off = kWidth / 2; off > 0; off >>= 1)
    part += __shfl_xor_sync(0xffffffffu, part, off, kWidth);
  if (!active || n != 0) return;
  float y = part + (p.D ? p.D[d] * x : 0.0f);
  if constexpr (kHasZ) y *= DevSilu(p.z[d]);
  p.y[d] = y;
}

Status Validate(const SelectiveScanParams& p) {
  if (p.T < 1 || p.d_inner < 1 || p.d_state < 1 || p.d_state > kMaxState)
    return InvalidArgument("selective scan: need T >= 1, d_inner >= 1, 1 <= d_state <= 64 (got T=" +
                           std::to_string(p.T) + ", d_inner=" + std::to_string(p.d_inner) +
                           ", d_state=" + std::to_string(p.d_state) + ")");
  if (!p.x || !p.dt || !p.B || !p.C || !p.A || !p.h || !p.y)
    return InvalidArgument("selective scan: x, dt, B, C, A, h and y are required");
  if (p.x_stride < p.d_inner || p.dt_stride < p.d_inner || p.y_stride < p.d_inner ||
      p.B_stride < p.d_state || p.C_stride < p.d_state || (p.z && p.z_stride < p.d_inner))
    return InvalidArgument("selective scan: a row stride is smaller than its row");
  if (p.d_inner > (int64_t{1} << 30)) return InvalidArgument("selective scan: d_inner too large");
  return Status::Ok();
}

// Launch heuristics. Prefill: one thread per channel, so the grid is d_inner / block;
// 64-thread blocks give 128 blocks at d_inner 8192 (about one per SM on an H100/H200),
// 128-thread blocks once d_inner is large enough to fill the machine twice over.
// Registers: 2 * kStates floats per thread for h and A (128 at kStates 64), no spills
// expected at these block sizes. Shared memory: 2 * kScanChunk * d_state floats.
template <int kStates>
Status LaunchScan(const SelectiveScanParams& p, Stream stream) {
  const int block = p.d_inner >= 32768 ? 128 : 64;
  const dim3 grid(static_cast<unsigned>(CeilDiv<int64_t>(p.d_inner, block)));
  const size_t smem = sizeof(float) * 2 * kScanChunk * static_cast<size_t>(p.d_state);
  FOLIO_BOOL_SWITCH(p.z != nullptr, kHasZ, [&] {
    FOLIO_BOOL_SWITCH(p.dt_softplus, kSoftplus, [&] {
      SelectiveScanKernel<kStates, kHasZ, kSoftplus><<<grid, block, smem, stream>>>(p);
    });
  });
  return LaunchStatus("selective scan kernel");
}

template <int kWidth>
Status LaunchUpdate(const SelectiveScanParams& p, Stream stream) {
  constexpr int kBlock = 128;  // 128 / kWidth channels per block
  const dim3 grid(static_cast<unsigned>(CeilDiv<int64_t>(p.d_inner, kBlock / kWidth)));
  FOLIO_BOOL_SWITCH(p.z != nullptr, kHasZ, [&] {
    FOLIO_BOOL_SWITCH(p.dt_softplus, kSoftplus, [&] {
      SelectiveStateUpdateKernel<kWidth, kHasZ, kSoftplus><<<grid, kBlock, 0, stream>>>(p);
    });
  });
  return LaunchStatus("selective state update kernel");
}

}  // namespace

void SetContiguousStrides(SelectiveScanParams* p) {
  p->x_stride = p->dt_stride = p->z_stride = p->y_stride = p->d_inner;
  p->B_stride = p->C_stride = p->d_state;
}

Status SelectiveScan(const SelectiveScanParams& p, Stream stream) {
  FOLIO_RETURN_IF_ERROR(Validate(p));
  if (p.d_state <= 16) return LaunchScan<16>(p, stream);
  if (p.d_state <= 32) return LaunchScan<32>(p, stream);
  return LaunchScan<64>(p, stream);
}

Status SelectiveStateUpdate(const SelectiveScanParams& p, Stream stream) {
  FOLIO_RETURN_IF_ERROR(Validate(p));
  if (p.T != 1) return InvalidArgument("selective state update: T must be 1 (use SelectiveScan)");
  if (p.d_state <= 8) return LaunchUpdate<8>(p, stream);
  if (p.d_state <= 16) return LaunchUpdate<16>(p, stream);
  if (p.d_state <= 32) return LaunchUpdate<32>(p, stream);
  return SelectiveScan(p, stream);  // d_state 33..64: the scan kernel handles T = 1 too
}

}  // namespace folio::kernels
