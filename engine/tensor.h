// Element types and non-owning tensor views over memory-mapped checkpoint data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/synthetic_fill.h"

namespace folio {

// kI8 is only made in memory (int8 expert weights, engine/quant.h): element [r, c] is
// q[r, c] * row_scale[r]. Checkpoint files never hold it (the loader does not parse "I8").
enum class DType : uint8_t { kF32, kF16, kBF16, kI64, kI32, kU8, kI8 };

// Bytes per element.
size_t DTypeSize(DType t);
// The safetensors spelling: "F32", "F16", "BF16", "I64", "I32", "U8".
std::string_view DTypeName(DType t);
// Parses a safetensors dtype name; false when it is not one we support.
bool ParseDType(std::string_view name, DType* out);

// bf16 <-> f32: bf16 is the top half of an IEEE float32 (round to nearest even on the way in).
inline float Bf16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t F32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

// A read-only view of one tensor: row-major, contiguous. `data` may be unaligned
// (safetensors does not align tensor data), so read elements through memcpy or the
// helpers below, never by casting to float*.
struct TensorView {
  std::string name;           // checkpoint name, e.g. "model.layers.3.mamba.A_log"
  DType dtype = DType::kF32;  // stored element type
  std::vector<int64_t> shape; // e.g. [d_inner, d_state]
  const uint8_t* data = nullptr;  // first byte; valid while the owning file stays mapped
  size_t nbytes = 0;              // = numel * DTypeSize(dtype), checked at load
  // kI8 only: the float32 scale of each row [dim(0)] (element = q * row_scale[row]).
  const float* row_scale = nullptr;
  // Synthetic tensors (bench --synthetic) that were not materialised on the host have
  // data == nullptr and say here how the backend must fill them (synthetic_fill.h).
  SyntheticFill synthetic;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t dim(size_t i) const { return shape.at(i); }
  size_t rank() const { return shape.size(); }
  // Element i converted to float32 (F32, F16, BF16, I64, I32, U8).
  float GetF32(int64_t i) const;
  // Copies elements [begin, begin+n) converted to float32 into out.
  void ToF32(int64_t begin, int64_t n, float* out) const;
  std::string ShapeString() const;  // "[128, 8]"
};

}  // namespace folio
