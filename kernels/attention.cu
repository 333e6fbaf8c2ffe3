// Attention kernels; see attention.h for the maths and the Params contract.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/common.cuh"

namespace folio::kernels {
namespace {

// Cached positions before the new queries: from the device when the decode step is a
// replayed CUDA graph (d_pos lives on the device), else the host value.
__device__ __forceinline__ int64_t PastOf(const AttentionParams& p) {
  return p.d_past ? static_cast<int64_t>(*p.d_past) : p.past;
}

// ---- Prefill: tiled online softmax ---------------------------------------------------
// A block of kWarps warps owns kBQ consecutive queries of one head (kBQ / kWarps per
// warp). It walks the keys in tiles of kBK = 32 (one key per lane for the scores), staged
// in shared memory as float32:
//   sK [kBK][hd + 1]  padded so lane j reading row j, column d hits bank (j + d) % 32
//   sV [kBK][hd]      lanes read consecutive columns of one row: conflict-free
//   sQ [kBQ][hd]      pre-scaled by `scale`; read as a broadcast
// Each lane keeps, per query, the output columns lane, lane+32, ... (kMaxHD / 32 floats).
constexpr int kBQ = 16;
constexpr int kBK = 32;
constexpr int kWarps = 4;
constexpr int kQPerWarp = kBQ / kWarps;

size_t PrefillSmemBytes(int64_t hd) {
  return sizeof(float) * static_cast<size_t>(kBK * (hd + 1) + kBK * hd + kBQ * hd);
}

template <int kMaxHD, typename KV>
__global__ void __launch_bounds__(kWarps * 32) AttentionPrefillKernel(AttentionParams p) {
  extern __shared__ float smem[];
  constexpr int kPerLane = kMaxHD / 32;
  const int hd = static_cast<int>(p.head_dim), ks = hd + 1;
  float* sK = smem;
  float* sV = sK + kBK * ks;
  float* sQ = sV + kBK * hd;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kBQ;
  const int64_t head = blockIdx.y;
  const int64_t kv_head = head / (p.n_heads / p.n_kv_heads);
  const KV* K = static_cast<const KV*>(p.k) + kv_head * hd;
  const KV* V = static_cast<const KV*>(p.v) + kv_head * hd;

  for (int i = threadIdx.x; i < kBQ * hd; i += blockDim.x) {
    const int r = i / hd, d = i - r * hd;
    const int64_t t = q0 + r;
    sQ[i] = t < p.T ? p.q[t * p.q_stride + head * hd + d] * p.scale : 0.0f;
  }
  float m[kQPerWarp], l[kQPerWarp], acc[kQPerWarp][kPerLane];
#pragma unroll
  for (int qi = 0; qi < kQPerWarp; ++qi) {
    m[qi] = -INFINITY;
    l[qi] = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) acc[qi][i] = 0.0f;
  }
  // Keys visible to the last query of this block: [0, past + q_last].
  const int64_t past = PastOf(p);
  const int64_t n_keys = past + min(p.T, q0 + kBQ);
  for (int64_t k0 = 0; k0 < n_keys; k0 += kBK) {
    __syncthreads();  // sQ staged / the previous tile fully read
    for (int i = threadIdx.x; i < kBK * hd; i += blockDim.x) {
      const int r = i / hd, d = i - r * hd;
      const int64_t j = k0 + r;
      float kv = 0.0f, vv = 0.0f;
      if (j < n_keys) {
        kv = ToF32(K[j * p.kv_stride + d]);
        vv = ToF32(V[j * p.kv_stride + d]);
      }
      sK[r * ks + d] = kv;
      sV[r * hd + d] = vv;
    }
    __syncthreads();
#pragma unroll
    for (int qi = 0; qi < kQPerWarp; ++qi) {
      const int r = warp * kQPerWarp + qi;
      const int64_t t = q0 + r;
      const int64_t limit = past + t;        // last key this query sees
      if (t >= p.T || k0 > limit) continue;  // uniform across the warp: shuffles stay safe
      const int64_t j = k0 + lane;
      const bool visible = j <= limit;  // implies j < n_keys: the tile row was loaded
      float s = -INFINITY;
      if (visible) {
        float dot = 0.0f;
        for (int d = 0; d < hd; ++d) dot += sQ[r * hd + d] * sK[lane * ks + d];
        s = dot;
      }
      // Lane 0's key is k0 <= limit, so the tile max and m_new are finite.
      const float m_new = fmaxf(m[qi], WarpMax(s));
      const float pr = visible ? expf(s - m_new) : 0.0f;
      const float corr = expf(m[qi] - m_new);  // 0 on the first tile (m = -inf)
      l[qi] = l[qi] * corr + WarpSum(pr);
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) acc[qi][i] *= corr;
#pragma unroll 4
      for (int jj = 0; jj < kBK; ++jj) {
        const float pj = __shfl_sync(0xffffffffu, pr, jj);
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
          const int d = lane + 32 * i;
          if (d < hd) acc[qi][i] += pj * sV[jj * hd + d];
        }
      }
      m[qi] = m_new;
    }
  }
#pragma unroll
  for (int qi = 0; qi < kQPerWarp; ++qi) {
    const int64_t t = q0 + warp * kQPerWarp + qi;
    if (t >= p.T) continue;
    const float inv = 1.0f / l[qi];  // l >= 1: the max term contributes exp(0)
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) p.out[t * p.out_stride + head * hd + d] = acc[qi][i] * inv;
    }
  }
}

// ---- Split-K (flash-decoding) --------------------------------------------------------
// Grid (n_splits, n_heads, T). The block for (split, head, t) covers keys
// [split * keys_per_split, min(past + t + 1, (split + 1) * keys_per_split)), the last split
// every key from its start to past + t (so a device-side past beyond the max_past the
// splits were sized for is still exact, only slower); its four warps
// take every fourth key, each lane holding q and the accumulator for columns
// lane, lane+32, ...; the warps merge in shared memory and the block writes one partial
// (max, sum, acc[hd]) to the workspace:
//   ws_m [P], ws_l [P], ws_acc [P, hd],  P = T * n_heads * n_splits,
//   partial index ((t * n_heads + head) * n_splits + split).
// An empty split writes max = -inf, sum = 0. Split 0 always holds key 0, so every
// (t, head) has at least one finite partial.
struct SplitWorkspace {
  float* m;
  float* l;
  float* acc;
};

SplitWorkspace CarveWorkspace(void* ws, const AttentionParams& p, int n_splits) {
  const size_t P = static_cast<size_t>(p.T * p.n_heads) * n_splits;
  float* base = static_cast<float*>(ws);
  return {base, base + P, base + 2 * P};
}

template <int kMaxHD, typename KV>
__global__ void __launch_bounds__(kWarps * 32)
    AttentionSplitKKernel(AttentionParams p, int n_splits, int64_t keys_per_split,
                          SplitWorkspace ws) {
  constexpr int kPerLane = kMaxHD / 32;
  __shared__ float s_m[kWarps], s_l[kWarps], s_acc[kWarps][kMaxHD];
  const int hd = static_cast<int>(p.head_dim);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int split = blockIdx.x;
  const int64_t head = blockIdx.y, t = blockIdx.z;
  const int64_t kv_head = head / (p.n_heads / p.n_kv_heads);
  const KV* K = static_cast<const KV*>(p.k) + kv_head * hd;
  const KV* V = static_cast<const KV*>(p.v) + kv_head * hd;
  const int64_t j_begin = split * keys_per_split;
  const int64_t n_keys = PastOf(p) + t + 1;
  const int64_t j_end = split == n_splits - 1 ? n_keys : min(n_keys, j_begin + keys_per_split);

  float qr[kPerLane], acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + 32 * i;
    qr[i] = d < hd ? p.q[t * p.q_stride + head * hd + d] * p.scale : 0.0f;
    acc[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = j_begin + warp; j < j_end; j += kWarps) {  // same trip count per lane
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) s += qr[i] * ToF32(K[j * p.kv_stride + d]);
    }
    s = WarpSum(s);
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new);
    const float pr = expf(s - m_new);
    l = l * corr + pr;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      acc[i] = acc[i] * corr + (d < hd ? pr * ToF32(V[j * p.kv_stride + d]) : 0.0f);
    }
    m = m_new;
  }
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) s_acc[warp][lane + 32 * i] = acc[i];
  __syncthreads();

  float M = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) M = fmaxf(M, s_m[w]);
  const size_t part = (static_cast<size_t>(t) * p.n_heads + head) * n_splits + split;
  float scale_w[kWarps];
  float L = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    scale_w[w] = M == -INFINITY ? 0.0f : expf(s_m[w] - M);  // empty warps weigh 0
    L += s_l[w] * scale_w[w];
  }
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) a += s_acc[w][d] * scale_w[w];
    ws.acc[part * hd + d] = a;
  }
  if (threadIdx.x == 0) {
    ws.m[part] = M;
    ws.l[part] = L;
  }
}

// Grid (n_heads, T); merges the n_splits partials of one (t, head). Empty splits (keys past
// the end when d_past is set) carry max = -inf and weigh exp(-inf) = 0; split 0 is never
// empty, so M is finite.
__global__ void AttentionSplitKCombineKernel(AttentionParams p, int n_splits, SplitWorkspace ws) {
  const int64_t head = blockIdx.x, t = blockIdx.y;
  const int hd = static_cast<int>(p.head_dim);
  const size_t base = (static_cast<size_t>(t) * p.n_heads + head) * n_splits;
  float M = -INFINITY;
  for (int s = 0; s < n_splits; ++s) M = fmaxf(M, ws.m[base + s]);
  float L = 0.0f;
  for (int s = 0; s < n_splits; ++s) L += ws.l[base + s] * expf(ws.m[base + s] - M);
  const float inv = 1.0f / L;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int s = 0; s < n_splits; ++s) o += ws.acc[(base + s) * hd + d] * expf(ws.m[base + s] - M);
    p.out[t * p.out_stride + head * hd + d] = o * inv;
  }
}

Status Validate(const AttentionParams& p) {
  if (p.T < 1 || (!p.d_past && p.past < 0) || (p.d_past && p.max_past < 0) || p.n_heads < 1 ||
      p.n_kv_heads < 1 || p.head_dim < 1 || p.head_dim > 256)
    return InvalidArgument(
        "attention: need T >= 1, past (or max_past with d_past) >= 0, heads >= 1, 1 <= "
        "head_dim <= 256");
  if (p.n_heads % p.n_kv_heads != 0)
    return InvalidArgument("attention: n_heads (" + std::to_string(p.n_heads) +
                           ") is not a multiple of n_kv_heads (" + std::to_string(p.n_kv_heads) +
                           ")");
  if (!p.q || !p.k || !p.v || !p.out)
    return InvalidArgument("attention: q, k, v and out are required");
  if (p.kv_dtype != DType::kBF16 && p.kv_dtype != DType::kF32)
    return Unsupported("attention: the K/V cache must be bf16 or f32");
  if (p.q_stride < p.n_heads * p.head_dim || p.out_stride < p.n_heads * p.head_dim ||
      p.kv_stride < p.n_kv_heads * p.head_dim)
    return InvalidArgument("attention: a row stride is smaller than its row");
  if (!(p.scale > 0.0f)) return InvalidArgument("attention: scale must be positive");
  if (p.T > 65535 * int64_t{kBQ} || p.n_heads > 65535)
    return InvalidArgument("attention: T or n_heads beyond the grid limits");
  return Status::Ok();
}

// Runtime head_dim and cache dtype -> template parameters.
template <typename F>
Status DispatchHeadDimDtype(const AttentionParams& p, F&& f) {
  auto by_dtype = [&](auto hd_tag) {
    constexpr int kHD = decltype(hd_tag)::value;
    if (p.kv_dtype == DType::kBF16) return f.template operator()<kHD, __nv_bfloat16>();
    return f.template operator()<kHD, float>();
  };
  if (p.head_dim <= 64) return by_dtype(std::integral_constant<int, 64>{});
  if (p.head_dim <= 128) return by_dtype(std::integral_constant<int, 128>{});
  return by_dtype(std::integral_constant<int, 256>{});
}

// Keys the host plans the split-K launch for: the largest past the graph may replay at when
// past lives on the device, else the actual past; plus the new queries.
int64_t PlannedKeys(const AttentionParams& p) {
  return (p.d_past ? p.max_past : p.past) + p.T;
}

}  // namespace

void SetContiguousStrides(AttentionParams* p) {
  p->q_stride = p->out_stride = p->n_heads * p->head_dim;
  p->kv_stride = p->n_kv_heads * p->head_dim;
  if (p->scale == 0.0f && p->head_dim > 0)
    p->scale = 1.0f / std::sqrt(static_cast<float>(p->head_dim));
}

int AttentionPrefillImpl(const AttentionParams& p) {
  if (p.impl == 1 || p.impl == 2) return p.impl;
  return detail::AttentionTensorCoreUnfit(p) ? 1 : 2;
}

// The tensor-core kernel when it fits (attention_tc.cu), else the float32 one.
// Launch heuristics (float32 prefill): grid (ceil(T / 16), n_heads), 128 threads. Shared
// memory is PrefillSmemBytes(head_dim): 41 KiB at head_dim 128 (fits the default 48 KiB: up
// to 5 blocks per SM on Hopper's 228 KiB), 82 KiB at 256 (needs the opt-in attribute).
// Registers: kQPerWarp * kMaxHD / 32 accumulators per thread (16 at head_dim 128).
Status AttentionPrefill(const AttentionParams& p, Stream stream) {
  FOLIO_RETURN_IF_ERROR(Validate(p));
  if (p.impl < 0 || p.impl > 2) {
    return InvalidArgument("attention prefill: impl " + std::to_string(p.impl) +
                           " is none of 0 (auto), 1 (float32), 2 (tensor cores)");
  }
  if (AttentionPrefillImpl(p) == 2) return detail::AttentionPrefillTensorCores(p, stream);
  const dim3 grid(static_cast<unsigned>(CeilDiv<int64_t>(p.T, kBQ)),
                  static_cast<unsigned>(p.n_heads));
  const size_t smem = PrefillSmemBytes(p.head_dim);
  return DispatchHeadDimDtype(p, [&]<int kHD, typename KV>() -> Status {
    auto kernel = AttentionPrefillKernel<kHD, KV>;
    if (smem > 48 * 1024) {
      FOLIO_RETURN_IF_ERROR(
          CudaStatus(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(smem)),
                     "attention prefill: raising the shared-memory limit"));
    }
    kernel<<<grid, kWarps * 32, smem, stream>>>(p);
    return LaunchStatus("attention prefill kernel");
  });
}

size_t AttentionSplitKWorkspaceBytes(const AttentionParams& p, int n_splits) {
  return sizeof(float) * static_cast<size_t>(p.T * p.n_heads) * n_splits * (p.head_dim + 2);
}

// Heuristic: at least two blocks per SM in all, and no split longer than 2048 keys (so a
// 140K-token decode spreads over ~70 splits per head); never shorter than 64 keys; at
// most 256 splits.
int AttentionSplitKChooseSplits(const AttentionParams& p, int sm_count) {
  const int64_t keys = PlannedKeys(p);
  const int64_t blocks_per_split = p.n_heads * p.T;
  int64_t n = CeilDiv<int64_t>(2 * std::max(sm_count, 1), blocks_per_split);
  n = std::max(n, CeilDiv<int64_t>(keys, 2048));
  n = std::min(n, CeilDiv<int64_t>(keys, 64));
  return static_cast<int>(std::clamp<int64_t>(n, 1, 256));
}

Status AttentionSplitK(const AttentionParams& p, void* workspace, size_t workspace_bytes,
                       int n_splits, Stream stream) {
  FOLIO_RETURN_IF_ERROR(Validate(p));
  if (p.T > 65535)
    return InvalidArgument("attention split-K: T above 65535 (use the prefill kernel)");
  if (p.d_past && n_splits <= 0)
    return InvalidArgument(
        "attention split-K: with d_past, pass n_splits (AttentionSplitKChooseSplits for max_past)");
  if (n_splits <= 0) n_splits = AttentionSplitKChooseSplits(p, CudaSmCount());
  // Nothing here may depend on the device-side past: the launch is replayed at any position.
  n_splits = static_cast<int>(std::min<int64_t>(n_splits, PlannedKeys(p)));
  while (n_splits > 1 && AttentionSplitKWorkspaceBytes(p, n_splits) > workspace_bytes)
    n_splits /= 2;
  if (!workspace || AttentionSplitKWorkspaceBytes(p, n_splits) > workspace_bytes)
    return ResourceExhausted("attention split-K: workspace of " + std::to_string(workspace_bytes) +
                             " bytes is smaller than the " +
                             std::to_string(AttentionSplitKWorkspaceBytes(p, 1)) + " needed");
  const int64_t keys_per_split = CeilDiv<int64_t>(PlannedKeys(p), n_splits);
  const SplitWorkspace ws = CarveWorkspace(workspace, p, n_splits);
  const dim3 grid(static_cast<unsigned>(n_splits), static_cast<unsigned>(p.n_heads),
                  static_cast<unsigned>(p.T));
  FOLIO_RETURN_IF_ERROR(DispatchHeadDimDtype(p, [&]<int kHD, typename KV>() -> Status {
    AttentionSplitKKernel<kHD, KV>
        <<<grid, kWarps * 32, 0, stream>>>(p, n_splits, keys_per_split, ws);
    return LaunchStatus("attention split-K kernel");
  }));
  const dim3 cgrid(static_cast<unsigned>(p.n_heads), static_cast<unsigned>(p.T));
  AttentionSplitKCombineKernel<<<cgrid, 128, 0, stream>>>(p, n_splits, ws);
  return LaunchStatus("attention split-K combine kernel");
}

}  // namespace folio::kernels
