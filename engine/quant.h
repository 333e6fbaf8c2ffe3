// Int8 expert weights (the Jamba-1.5 paper's ExpertsInt8) on the host: a weight W [N, K]
// kept as q [N, K] int8 with one float32 scale per output row, W[n, k] ~= q[n, k] *
// scale[n]. The CPU backend quantises MoE experts with this at load (CpuBackendOptions::
// experts_int8); the CUDA kernel kernels::QuantizeRowsInt8 follows the same rule so both
// produce the same bytes:
//   amax = max_k |W[n, k]| (float32);  scale[n] = amax / 127 (1 when amax == 0)
//   q[n, k] = clamp(nearbyint(W[n, k] / scale[n]), -127, 127)   (round half to even,
//   a true float32 division, never a multiply by the reciprocal)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace folio {

// One quantised matrix, owning its bytes. view() points into q and scale, which keep their
// heap buffers when the Int8Matrix (or a vector of them) is moved.
struct Int8Matrix {
  std::vector<int8_t> q;       // [N, K] row-major
  std::vector<float> scale;    // [N]
  std::vector<int64_t> shape;  // {N, K}
  std::string name;            // the source tensor's name

  // dtype kI8, row_scale = scale.data(), nbytes = numel (1 byte per element).
  TensorView view() const;
  // Bytes held: numel + 4 per row.
  uint64_t bytes() const { return q.size() + 4 * scale.size(); }
};

// Quantises a 2-D F32, BF16 or F16 weight by the rule above. Errors name the tensor: not
// 2-D, another dtype, no host data (a synthetic tensor left to the device), or a value that
// is not finite (int8 cannot stand for it).
Result<Int8Matrix> QuantizeInt8Rows(const TensorView& w);
// The same with the portable loops only (QuantizeInt8Rows uses AVX2 where the CPU has it);
// tests check that both give the same bytes.
Result<Int8Matrix> QuantizeInt8RowsPortable(const TensorView& w);

}  // namespace folio
