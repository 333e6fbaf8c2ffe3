// Sampling kernels; see sampling.h.
#include "kernels/common.cuh"
#include "kernels/sampling.h"

namespace folio::kernels {
namespace {

constexpr int kThreads = 1024;  // one block per row; 32 warps

// (value, index) max with ties to the lower index; NaN loses to everything.
__device__ __forceinline__ void ArgMaxMerge(float& v, int& i, float ov, int oi) {
  const bool better = (ov > v) || (ov == v && oi < i) || (isnan(v) && !isnan(ov));
  if (better) {
    v = ov;
    i = oi;
  }
}

__global__ void ArgmaxKernel(const float* logits, int64_t vocab, int32_t* out) {
  __shared__ float s_v[32];
  __shared__ int s_i[32];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  float v = NAN;
  int idx = 0x7fffffff;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x)
    ArgMaxMerge(v, idx, row[j], static_cast<int>(j));
#pragma unroll
  for (int off = 16; off > 0; off >>= 1)
    ArgMaxMerge(v, idx, __shfl_xor_sync(0xffffffffu, v, off),
                __shfl_xor_sync(0xffffffffu, idx, off));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    s_v[warp] = v;
    s_i[warp] = idx;
  }
  __syncthreads();
  if (warp != 0) return;
  v = lane < (blockDim.x >> 5) ? s_v[lane] : NAN;
  idx = lane < (blockDim.x >> 5) ? s_i[lane] : 0x7fffffff;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1)
    ArgMaxMerge(v, idx, __shfl_xor_sync(0xffffffffu, v, off),
                __shfl_xor_sync(0xffffffffu, idx, off));
  if (lane == 0) out[blockIdx.x] = idx == 0x7fffffff ? 0 : idx;
}

// One block. Probabilities are recomputed from the logits on each pass (no scratch):
//  1. max and sum of exp((l - max) / temperature)
//  2. tau by bisection on the float bit pattern (positive floats order like their bits):
//     largest tau with mass(p >= tau) >= top_p; 32 block reductions.
//  3. each thread takes a contiguous slice of the vocabulary, sums its kept mass, a block
//     exclusive scan places the slices, and the thread whose slice holds u * kept walks it.
__device__ __forceinline__ float Prob(const float* l, int64_t j, float mx, float inv_t,
                                      float inv_sum) {
  return expf((l[j] - mx) * inv_t) * inv_sum;
}

__global__ void TopPKernel(const float* logits, int64_t vocab, float temperature, float top_p,
                           float u, int32_t* out) {
  __shared__ float scratch[32];
  __shared__ float s_prefix[kThreads];
  __shared__ int s_pick;
  const float inv_t = 1.0f / temperature;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) mx = fmaxf(mx, logits[j]);
  mx = BlockMax(mx, scratch);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) s += expf((logits[j] - mx) * inv_t);
  const float inv_sum = 1.0f / BlockSum(s, scratch);

  // mass(tau) is non-increasing in tau; mass(0) = 1 >= top_p up to rounding, so lo = 0
  // is kept as the fallback. The max token has p = 1/sum > 0.
  uint32_t lo = 0, hi = __float_as_uint(inv_sum) + 1;  // mass(hi) = 0 < top_p
  while (hi - lo > 1) {
    const uint32_t mid = lo + (hi - lo) / 2;
    const float tau = __uint_as_float(mid);
    float m = 0.0f;
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
      const float pj = Prob(logits, j, mx, inv_t, inv_sum);
      m += pj >= tau ? pj : 0.0f;
    }
    m = BlockSum(m, scratch);  // identical on every thread: the loop stays uniform
    if (m >= top_p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const float tau = __uint_as_float(lo);

  const int64_t per = (vocab + blockDim.x - 1) / blockDim.x;
  const int64_t begin = threadIdx.x * per, end = min(vocab, begin + per);
  float mine = 0.0f;
  for (int64_t j = begin; j < end; ++j) {
    const float pj = Prob(logits, j, mx, inv_t, inv_sum);
    mine += pj >= tau ? pj : 0.0f;
  }
  s_prefix[threadIdx.x] = mine;
  if (threadIdx.x == 0) s_pick = -1;
  __syncthreads();
  if (threadIdx.x == 0) {  // serial scan over 1024 slice sums: simple and exact in order
    float acc = 0.0f;
    for (int i = 0; i < static_cast<int>(blockDim.x); ++i) {
      const float v = s_prefix[i];
      s_prefix[i] = acc;
      acc += v;
    }
    scratch[0] = acc;
  }
  __syncthreads();
  const float target = u * scratch[0];
  const float start = s_prefix[threadIdx.x];
  if (mine > 0.0f && target >= start && target < start + mine) {
    float acc = start;
    int pick = -1;
    for (int64_t j = begin; j < end; ++j) {
      const float pj = Prob(logits, j, mx, inv_t, inv_sum);
      if (pj < tau) continue;
      pick = static_cast<int>(j);  // the last kept token so far: covers rounding at the end
      acc += pj;
      if (target < acc) break;
    }
    atomicMax(&s_pick, pick);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int pick = s_pick;
    if (pick < 0) {  // target fell past the total by rounding: take the last kept token
      for (int64_t j = vocab - 1; j >= 0; --j) {
        if (Prob(logits, j, mx, inv_t, inv_sum) >= tau) {
          pick = static_cast<int>(j);
          break;
        }
      }
    }
    out[0] = pick < 0 ? 0 : pick;
  }
}

}  // namespace

Status ArgmaxRows(const float* logits, int64_t rows, int64_t vocab, int32_t* out, Stream stream) {
  if (!logits || !out || rows < 1 || vocab < 1 || vocab > 0x7ffffffe || rows > 0x7fffffff)
    return InvalidArgument("argmax: need logits, out, rows >= 1 and 1 <= vocab < 2^31");
  ArgmaxKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, vocab, out);
  return LaunchStatus("argmax kernel");
}

Status TopPSample(const float* logits, int64_t vocab, float temperature, float top_p, float u,
                  int32_t* out, Stream stream) {
  if (!logits || !out || vocab < 1 || vocab > 0x7ffffffe)
    return InvalidArgument("top-p: need logits, out and 1 <= vocab < 2^31");
  if (!(temperature > 0.0f) || !(top_p > 0.0f && top_p <= 1.0f) || !(u >= 0.0f && u < 1.0f))
    return InvalidArgument("top-p: need temperature > 0, top_p in (0, 1], u in [0, 1)");
  TopPKernel<<<1, kThreads, 0, stream>>>(logits, vocab, temperature, top_p, u, out);
  return LaunchStatus("top-p kernel");
}

}  // namespace folio::kernels
