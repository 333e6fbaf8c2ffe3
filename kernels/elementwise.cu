// Elementwise kernels; see elementwise.h. Grid-stride loops, 256 threads, at most 65535
// x 8 blocks: memory-bound, so any grid that covers the SMs a few times is as fast.
#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/elementwise.h"

namespace folio::kernels {
namespace {

constexpr int kThreads = 256;

unsigned GridFor(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>(CeilDiv<int64_t>(n, kThreads), 1, 65535 * 8));
}

__global__ void SwiGLUKernel(SwiGLUParams p) {
  const int64_t n = p.rows * p.cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / p.cols, c = i - r * p.cols;
    const float y = DevSilu(p.gate[r * p.in_stride + c]) * p.up[r * p.in_stride + c];
    if (p.out) p.out[i] = y;
    if (p.out_bf16) reinterpret_cast<__nv_bfloat16*>(p.out_bf16)[i] = __float2bfloat16_rn(y);
  }
}

__global__ void AddBiasSoftplusKernel(float* x, const float* bias, int64_t rows, int64_t cols,
                                      int64_t stride) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    float* v = x + r * stride + c;
    *v = DevSoftplus(*v + (bias ? bias[c] : 0.0f));
  }
}

template <typename T>
__global__ void EmbeddingGatherKernel(const T* table, int64_t vocab, int64_t dim,
                                      const int32_t* ids, int64_t rows, float* out) {
  const int64_t n = rows * dim;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / dim, c = i - t * dim;
    const int64_t id = min(max(static_cast<int64_t>(ids[t]), int64_t{0}), vocab - 1);
    out[i] = ToF32(table[id * dim + c]);
  }
}

__global__ void ConvertKernel(const float* in, __nv_bfloat16* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    out[i] = __float2bfloat16_rn(in[i]);
}

// pos is read once per thread from the device when d_pos is set, so a captured graph
// appends at whatever position the device int holds at replay.
template <typename T>
__global__ void AppendKvRowsKernel(const float* src, int64_t T_rows, int64_t kvd, T* cache,
                                   const int32_t* d_pos, int64_t pos) {
  const int64_t base = (d_pos ? static_cast<int64_t>(*d_pos) : pos) * kvd;
  const int64_t n = T_rows * kvd;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    cache[base + i] = FromF32<T>(src[i]);
}

__global__ void AddKernel(float* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    y[i] += x[i];
}

}  // namespace

Status SwiGLU(const SwiGLUParams& p, Stream stream) {
  if (p.rows < 1 || p.cols < 1 || !p.gate || !p.up || (!p.out && !p.out_bf16) ||
      p.in_stride < p.cols)
    return InvalidArgument(
        "swiglu: need rows, cols >= 1, gate, up, an output and in_stride >= cols");
  // In place is safe only element for element: with wider input rows, out[r * cols + c]
  // lands on an input another thread may not have read yet.
  if ((p.out == p.gate || p.out == p.up) && p.in_stride != p.cols)
    return InvalidArgument("swiglu: out may alias gate only when in_stride == cols");
  SwiGLUKernel<<<GridFor(p.rows * p.cols), kThreads, 0, stream>>>(p);
  return LaunchStatus("swiglu kernel");
}

Status AddBiasSoftplus(float* x, const float* bias, int64_t rows, int64_t cols, int64_t stride,
                       Stream stream) {
  if (!x || rows < 1 || cols < 1 || stride < cols)
    return InvalidArgument("softplus: need x, rows, cols >= 1 and stride >= cols");
  AddBiasSoftplusKernel<<<GridFor(rows * cols), kThreads, 0, stream>>>(x, bias, rows, cols, stride);
  return LaunchStatus("softplus kernel");
}

Status EmbeddingGather(const void* table, DType dtype, int64_t vocab, int64_t dim,
                       const int32_t* ids, int64_t T, float* out, Stream stream) {
  if (!table || !ids || !out || vocab < 1 || dim < 1 || T < 1)
    return InvalidArgument("embedding gather: need table, ids, out and positive sizes");
  if (dtype == DType::kBF16) {
    EmbeddingGatherKernel<<<GridFor(T * dim), kThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16*>(table), vocab, dim, ids, T, out);
  } else if (dtype == DType::kF32) {
    EmbeddingGatherKernel<<<GridFor(T * dim), kThreads, 0, stream>>>(
        static_cast<const float*>(table), vocab, dim, ids, T, out);
  } else {
    return Unsupported("embedding gather: table must be bf16 or f32");
  }
  return LaunchStatus("embedding gather kernel");
}

Status ConvertF32ToBf16(const float* in, uint16_t* out, int64_t n, Stream stream) {
  if (!in || !out || n < 1) return InvalidArgument("bf16 convert: need in, out and n >= 1");
  ConvertKernel<<<GridFor(n), kThreads, 0, stream>>>(in, reinterpret_cast<__nv_bfloat16*>(out), n);
  return LaunchStatus("bf16 convert kernel");
}

Status AppendKvRows(const float* src, int64_t T, int64_t kvd, void* cache, DType dtype,
                    const int32_t* d_pos, int64_t pos, Stream stream) {
  if (!src || !cache || T < 1 || kvd < 1 || (!d_pos && pos < 0))
    return InvalidArgument("append kv: need src, cache, T, kvd >= 1 and a position >= 0");
  if (dtype == DType::kBF16) {
    AppendKvRowsKernel<<<GridFor(T * kvd), kThreads, 0, stream>>>(
        src, T, kvd, static_cast<__nv_bfloat16*>(cache), d_pos, pos);
  } else if (dtype == DType::kF32) {
    AppendKvRowsKernel<<<GridFor(T * kvd), kThreads, 0, stream>>>(
        src, T, kvd, static_cast<float*>(cache), d_pos, pos);
  } else {
    return Unsupported("append kv: the cache must be bf16 or f32");
  }
  return LaunchStatus("append kv kernel");
}

Status AddInPlace(float* y, const float* x, int64_t n, Stream stream) {
  if (!y || !x || n < 1) return InvalidArgument("add: need y, x and n >= 1");
  AddKernel<<<GridFor(n), kThreads, 0, stream>>>(y, x, n);
  return LaunchStatus("add kernel");
}

}  // namespace folio::kernels
