// Seeded random tensor values for benchmarks (`folio-cli bench --synthetic`), computed the
// same way, bit for bit, on the host (engine/synthetic.cpp) and on the GPU
// (kernels/synthetic.cu): element i of a tensor is
//   u = (SplitMix64(key + i * kGolden) >> 40) * 2^-24          uniform in [0, 1), exact
//   v = fmaf(scale, 2u - 1, offset)                            uniform in [offset +- scale)
// then rounded to the stored dtype (bf16: round to nearest even). 2u - 1 is exact in float
// and fmaf rounds once, so host and device agree exactly; a test checks it on the GPU.
// Never zeros: scale > 0 for every synthetic tensor (engine/synthetic.cpp picks them).
//
// Plain header usable from C++ and CUDA (FOLIO_HD marks functions for both).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FOLIO_HD __host__ __device__ __forceinline__
#else
#define FOLIO_HD inline
#include <cmath>
#endif

namespace folio {

// How one synthetic tensor is filled. scale == 0 means "not synthetic" (real data).
struct SyntheticFill {
  uint64_t key = 0;     // from the run's seed and the tensor's name (synthetic.cpp)
  float offset = 0.0f;  // centre of the uniform range
  float scale = 0.0f;   // half-width; > 0 for every synthetic tensor
  bool active() const { return scale != 0.0f; }
};

FOLIO_HD uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

FOLIO_HD float SyntheticValue(uint64_t key, float offset, float scale, uint64_t i) {
  const uint64_t r = SplitMix64(key + i * 0x9e3779b97f4a7c15ull);
  const float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(scale, 2.0f * u - 1.0f, offset);
#else
  return std::fma(scale, 2.0f * u - 1.0f, offset);
#endif
}

}  // namespace folio
