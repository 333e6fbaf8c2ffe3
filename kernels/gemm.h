// Dense projections on the GPU through cuBLAS: y[M, N] (float32) = x[M, K] @ W[N, K]^T
// (+ y when accumulate), x and W both bf16 or both float32, float32 accumulation.
// bf16 is the production path (tensor cores); float32 keeps float32 checkpoints exact
// (CUBLAS_COMPUTE_32F without TF32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/status.h"
#include "engine/tensor.h"
#include "kernels/device.h"

namespace folio::kernels {

struct GemmArgs {
  int64_t M = 0;               // rows of x and y (tokens)
  int64_t N = 0;               // output features (rows of W)
  int64_t K = 0;               // input features
  DType dtype = DType::kBF16;  // of x and W: kBF16 or kF32
  const void* x = nullptr;     // [M, K] rows ldx apart (ldx >= K)
  int64_t ldx = 0;
  const void* W = nullptr;  // [N, K] contiguous (a checkpoint weight)
  float* y = nullptr;       // [M, N] rows ldy apart (ldy >= N)
  int64_t ldy = 0;
  bool accumulate = false;  // y += x W^T (fuses a residual add)
};

// Owns a cuBLAS handle bound to one stream, and the handle's workspace (kWorkspaceBytes of
// device memory allocated in Create), so cuBLAS never allocates while a CUDA graph is being
// captured on that stream. Not thread-safe: one per backend.
class GemmRunner {
 public:
  static constexpr size_t kWorkspaceBytes = size_t{32} << 20;

  static Result<std::unique_ptr<GemmRunner>> Create(Stream stream);
  ~GemmRunner();
  GemmRunner(const GemmRunner&) = delete;
  GemmRunner& operator=(const GemmRunner&) = delete;

  Status Run(const GemmArgs& a);
  Stream stream() const { return stream_; }

 private:
  GemmRunner() = default;
  void* handle_ = nullptr;  // cublasHandle_t
  Stream stream_ = nullptr;
  void* workspace_ = nullptr;  // kWorkspaceBytes, device
};

}  // namespace folio::kernels
