#include "engine/tensor.h"

#include <cmath>
#include <sstream>

namespace folio {

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI64: return 8;
    case DType::kI32: return 4;
    case DType::kU8: return 1;
    case DType::kI8: return 1;
  }
  return 0;
}

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
  }
  return "?";
}

bool ParseDType(std::string_view name, DType* out) {
  static constexpr struct { std::string_view n; DType t; } kTable[] = {
      {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16},
      {"I64", DType::kI64}, {"I32", DType::kI32}, {"U8", DType::kU8}};
  for (const auto& e : kTable) {
    if (e.n == name) {
      *out = e.t;
      return true;
    }
  }
  return false;
}

float F16ToF32(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);  // subnormal (or zero)
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  }
  return sign ? -v : v;
}

uint16_t F32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {  // subnormal half or zero: round to nearest even multiple of 2^-24
    float a;
    std::memcpy(&a, &absx, 4);
    const float scaled = a * 16777216.0f;  // 2^24
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  uint32_t m = absx + 0xc8000fffu + ((absx >> 13) & 1u);  // rebias exponent and round
  return static_cast<uint16_t>(sign | (m >> 13));
}

float TensorView::GetF32(int64_t i) const {
  const uint8_t* p = data + static_cast<size_t>(i) * DTypeSize(dtype);
  switch (dtype) {
    case DType::kF32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::kF16: { uint16_t v; std::memcpy(&v, p, 2); return F16ToF32(v); }
    case DType::kBF16: { uint16_t v; std::memcpy(&v, p, 2); return Bf16ToF32(v); }
    case DType::kI64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<float>(v); }
    case DType::kI32: { int32_t v; std::memcpy(&v, p, 4); return static_cast<float>(v); }
    case DType::kU8: return static_cast<float>(*p);
    case DType::kI8: {  // q * the scale of its row
      const int64_t cols = shape.empty() ? 1 : numel() / shape[0];
      const float q = static_cast<float>(static_cast<int8_t>(*p));
      return row_scale ? q * row_scale[i / cols] : q;
    }
  }
  return 0.0f;
}

void TensorView::ToF32(int64_t begin, int64_t n, float* out) const {
  if (dtype == DType::kF32) {
    std::memcpy(out, data + static_cast<size_t>(begin) * 4, static_cast<size_t>(n) * 4);
    return;
  }
  if (dtype == DType::kBF16) {
    const uint8_t* p = data + static_cast<size_t>(begin) * 2;
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = Bf16ToF32(h);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = GetF32(begin + i);
}

std::string TensorView::ShapeString() const {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

}  // namespace folio
