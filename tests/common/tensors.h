// Small tensors made by tests: seeded random values and TensorViews over bytes the test
// owns, in F32, BF16 or F16, optionally one byte off alignment (safetensors does not align
// tensor data, so the ops must read unaligned weights).
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace folio::testing {

inline std::vector<float> RandomVec(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = u(rng);
  return v;
}

// Owns the bytes behind a TensorView.
struct OwnedTensor {
  std::vector<uint8_t> storage;
  TensorView view;
};

inline OwnedTensor MakeTensor(const std::vector<float>& values, std::vector<int64_t> shape,
                              DType dtype = DType::kF32, bool misalign = false,
                              const std::string& name = "test") {
  OwnedTensor t;
  const size_t es = DTypeSize(dtype), off = misalign ? 1 : 0;
  t.storage.resize(values.size() * es + off);
  for (size_t i = 0; i < values.size(); ++i) {
    uint8_t* p = t.storage.data() + off + i * es;
    if (dtype == DType::kF32) {
      std::memcpy(p, &values[i], 4);
    } else {
      const uint16_t h = dtype == DType::kBF16 ? F32ToBf16(values[i]) : F32ToF16(values[i]);
      std::memcpy(p, &h, 2);
    }
  }
  t.view.name = name;
  t.view.dtype = dtype;
  t.view.shape = std::move(shape);
  t.view.data = t.storage.data() + off;
  t.view.nbytes = values.size() * es;
  return t;
}

}  // namespace folio::testing
