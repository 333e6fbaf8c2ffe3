// Shared helpers for the GPU suites: a main() that skips (exit 77) without a device,
// RAII device buffers, seeded random inputs, and error measures against the reference.
#pragma once

#include <QtTest>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/device.h"

namespace folio::gputest {

// Exit code ctest reads as "skipped" (folio_add_test sets SKIP_RETURN_CODE 77).
inline constexpr int kSkip = 77;

#define FOLIO_GPU_TEST_MAIN(TestClass)                         \
  int main(int argc, char** argv) {                            \
    std::string why;                                           \
    if (folio::kernels::CudaDeviceCount(&why) == 0) {          \
      std::printf("SKIP: no CUDA device (%s)\n", why.c_str()); \
      return folio::gputest::kSkip;                            \
    }                                                          \
    QCoreApplication app(argc, argv);                          \
    TestClass tc;                                              \
    return QTest::qExec(&tc, argc, argv);                      \
  }

// A device allocation of n elements of T; copies to and from std::vector.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(T)) != cudaSuccess) p_ = nullptr;
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { Upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }
  void Upload(const std::vector<T>& host) {
    if (p_ && !host.empty())
      cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  std::vector<T> Download() const {
    std::vector<T> host(n_);
    if (p_ && n_) cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
    return host;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// Waits for the device and turns any asynchronous fault into a test failure message.
inline std::string SyncError() {
  const cudaError_t e = cudaDeviceSynchronize();
  return e == cudaSuccess ? std::string() : std::string(cudaGetErrorString(e));
}

inline std::vector<float> Normal(size_t n, uint32_t seed, float stddev = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}
inline std::vector<float> Uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// bf16 storage of v, and v rounded through bf16 (what the GPU sees).
inline std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = F32ToBf16(v[i]);
  return out;
}
inline std::vector<float> RoundBf16(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = Bf16ToF32(F32ToBf16(v[i]));
  return out;
}

// A TensorView over host float32 or bf16 data (for the ref:: ops).
inline TensorView HostView(const void* data, DType dtype, std::vector<int64_t> shape) {
  TensorView v;
  v.name = "test";
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.data = static_cast<const uint8_t*>(data);
  v.nbytes = static_cast<size_t>(v.numel()) * DTypeSize(dtype);
  return v;
}

// max |got - want| / max(1, max |want|): a scale-aware error for one tensor.
inline double RelError(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double err = 0, scale = 1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - want[i]);
    err = std::isnan(d) ? INFINITY : std::max(err, d);
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return err / scale;
}

inline QString Describe(const char* what, double err, double tol) {
  return QString("%1: error %2 above tolerance %3").arg(what).arg(err).arg(tol);
}

}  // namespace folio::gputest

// QVERIFY2 for an error-vs-tolerance check, naming what was compared.
#define FOLIO_EXPECT_CLOSE(what, got, want, tol)                                 \
  do {                                                                           \
    const double folio_err_ = ::folio::gputest::RelError((got), (want));         \
    QVERIFY2(folio_err_ <= (tol),                                                \
             qPrintable(::folio::gputest::Describe((what), folio_err_, (tol)))); \
  } while (0)

#define FOLIO_EXPECT_OK(status_expr)                               \
  do {                                                             \
    const ::folio::Status folio_st_ = (status_expr);               \
    QVERIFY2(folio_st_.ok(), folio_st_.message().c_str());         \
    const std::string folio_sync_ = ::folio::gputest::SyncError(); \
    QVERIFY2(folio_sync_.empty(), folio_sync_.c_str());            \
  } while (0)
