// Small elementwise kernels of the Jamba graph: SwiGLU, softplus with bias, embedding
// gather, float32 -> bf16 conversion. Device pointers; contiguous unless a stride is given.
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "engine/tensor.h"
#include "kernels/device.h"

namespace folio::kernels {

// out[r, i] = silu(gate[r, i]) * up[r, i] for i < cols, r < rows. gate/up rows are
// in_stride apart (so gate and up may be two halves of one [rows, 2*cols] buffer);
// out (float32; may alias gate when in_stride == cols) and/or out_bf16 are contiguous
// [rows, cols].
struct SwiGLUParams {
  int64_t rows = 0;
  int64_t cols = 0;
  const float* gate = nullptr;
  const float* up = nullptr;
  int64_t in_stride = 0;
  float* out = nullptr;
  uint16_t* out_bf16 = nullptr;
};
Status SwiGLU(const SwiGLUParams& p, Stream stream);

// x[r, i] = softplus(x[r, i] + bias[i]) in place; x rows stride apart; bias [cols] or nullptr.
Status AddBiasSoftplus(float* x, const float* bias, int64_t rows, int64_t cols, int64_t stride,
                       Stream stream);

// out[t, :] = table[ids[t], :] as float32. table [vocab, dim] of dtype (F32 or BF16);
// ids [T] int32 on the device, each already checked to lie in [0, vocab) by the caller
// (the kernel clamps anyway so a bad id cannot read out of bounds).
Status EmbeddingGather(const void* table, DType dtype, int64_t vocab, int64_t dim,
                       const int32_t* ids, int64_t T, float* out, Stream stream);

// out[i] = bf16(in[i]) (round to nearest even), n elements.
Status ConvertF32ToBf16(const float* in, uint16_t* out, int64_t n, Stream stream);

// Appends T rows of K or V to a cache: cache[(pos + t) * kvd + i] = src[t * kvd + i],
// converted to dtype (kBF16 or kF32). pos = *d_pos when d_pos is set (CUDA graphs: the
// position lives on the device), else `pos`.
Status AppendKvRows(const float* src, int64_t T, int64_t kvd, void* cache, DType dtype,
                    const int32_t* d_pos, int64_t pos, Stream stream);

// y[i] += x[i], n elements (residual adds the norm kernel cannot fuse).
Status AddInPlace(float* y, const float* x, int64_t n, Stream stream);

}  // namespace folio::kernels
