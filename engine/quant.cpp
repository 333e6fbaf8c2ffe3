#include "engine/quant.h"

#include <algorithm>
#include <cmath>

namespace folio {

TensorView Int8Matrix::view() const {
  TensorView v;
  v.name = name;
  v.dtype = DType::kI8;
  v.shape = shape;
  v.data = reinterpret_cast<const uint8_t*>(q.data());
  v.nbytes = q.size();
  v.row_scale = scale.data();
  return v;
}

namespace {

// One row: w [K] float32 -> q [K], returns scale; false when a value is not finite.
bool QuantizeRow(const float* w, int64_t K, int8_t* q, float* scale) {
  float amax = 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const float a = std::fabs(w[k]);
    if (!std::isfinite(a)) return false;
    amax = std::max(amax, a);
  }
  const float s = amax == 0.0f ? 1.0f : amax / 127.0f;
  for (int64_t k = 0; k < K; ++k) {
    // nearbyint rounds half to even in the default rounding mode; the division is exact
    // IEEE float32, as on the GPU. s > 0 here except when amax / 127 underflows to 0
    // (|W| < 2e-43): r is then +-inf (clamped) or NaN for a zero element (taken as 0).
    const float r = std::nearbyint(w[k] / s);
    q[k] = std::isnan(r) ? int8_t{0} : static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
  *scale = s;
  return true;
}

}  // namespace

Result<Int8Matrix> QuantizeInt8Rows(const TensorView& w) {
  if (w.rank() != 2) {
    return InvalidArgument("cannot quantise " + w.name + " to int8: shape " + w.ShapeString() +
                           " is not a 2-D matrix");
  }
  if (w.dtype != DType::kF32 && w.dtype != DType::kBF16 && w.dtype != DType::kF16) {
    return Unsupported("cannot quantise " + w.name + " to int8: dtype " +
                       std::string(DTypeName(w.dtype)) + " (need F32, BF16 or F16)");
  }
  const int64_t N = w.dim(0), K = w.dim(1);
  if (N * K > 0 && w.data == nullptr) {
    return InvalidArgument("cannot quantise " + w.name +
                           " to int8: its data is not in host memory");
  }
  Int8Matrix m;
  m.name = w.name;
  m.shape = {N, K};
  m.q.resize(static_cast<size_t>(N * K));
  m.scale.resize(static_cast<size_t>(N));
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    w.ToF32(n * K, K, row.data());
    if (!QuantizeRow(row.data(), K, m.q.data() + n * K, m.scale.data() + n)) {
      return InvalidArgument("cannot quantise " + w.name + " to int8: row " + std::to_string(n) +
                             " holds a value that is not finite");
    }
  }
  return m;
}

}  // namespace folio
