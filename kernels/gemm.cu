// cuBLAS GEMM wrapper; see gemm.h. Row-major y = x W^T is column-major y^T = W x^T:
// W [N, K] row-major is a column-major K x N matrix (ld K), used transposed; x [M, K]
// row-major is column-major K x M (ld ldx); y [M, N] row-major is column-major N x M.
#include <cublas_v2.h>

#include <climits>
#include <utility>

#include "kernels/common.cuh"
#include "kernels/gemm.h"

namespace folio::kernels {
namespace {

Status CublasStatus(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Internal(std::string(what) + ": cuBLAS error " + cublasGetStatusString(s));
}

}  // namespace

Result<std::unique_ptr<GemmRunner>> GemmRunner::Create(Stream stream) {
  std::unique_ptr<GemmRunner> r(new GemmRunner());
  cublasHandle_t h = nullptr;
  FOLIO_RETURN_IF_ERROR(CublasStatus(cublasCreate(&h), "creating the cuBLAS handle"));
  r->handle_ = h;
  r->stream_ = stream;
  FOLIO_RETURN_IF_ERROR(CublasStatus(cublasSetStream(h, stream), "binding cuBLAS to the stream"));
  // A user workspace: with it cuBLAS allocates nothing itself, which graph capture needs
  // (cublasSetStream resets the workspace to the default, so set it after the stream).
  FOLIO_RETURN_IF_ERROR(CudaStatus(cudaMalloc(&r->workspace_, kWorkspaceBytes),
                                   "allocating the cuBLAS workspace (32 MiB)"));
  FOLIO_RETURN_IF_ERROR(CublasStatus(cublasSetWorkspace(h, r->workspace_, kWorkspaceBytes),
                                     "setting the cuBLAS workspace"));
  // Default math: float32 GEMMs stay float32 (no TF32 unless asked), bf16 uses tensor cores.
  FOLIO_RETURN_IF_ERROR(
      CublasStatus(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cuBLAS math mode"));
  return Result<std::unique_ptr<GemmRunner>>(std::move(r));
}

GemmRunner::~GemmRunner() {
  if (handle_) cublasDestroy(static_cast<cublasHandle_t>(handle_));
  if (workspace_) cudaFree(workspace_);  // after the handle: its work may still use it
}

Status GemmRunner::Run(const GemmArgs& a) {
  if (a.M < 1 || a.N < 1 || a.K < 1 || !a.x || !a.W || !a.y)
    return InvalidArgument("gemm: need M, N, K >= 1 and x, W, y");
  if (a.ldx < a.K || a.ldy < a.N) return InvalidArgument("gemm: a leading dimension is too small");
  if (a.M > INT_MAX || a.N > INT_MAX || a.K > INT_MAX || a.ldx > INT_MAX || a.ldy > INT_MAX)
    return InvalidArgument("gemm: a dimension exceeds 2^31");
  cudaDataType_t in_type;
  if (a.dtype == DType::kBF16) {
    in_type = CUDA_R_16BF;
  } else if (a.dtype == DType::kF32) {
    in_type = CUDA_R_32F;
  } else {
    return Unsupported("gemm: inputs must be bf16 or f32");
  }
  const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
  return CublasStatus(
      cublasGemmEx(static_cast<cublasHandle_t>(handle_), CUBLAS_OP_T, CUBLAS_OP_N,
                   static_cast<int>(a.N), static_cast<int>(a.M), static_cast<int>(a.K), &alpha, a.W,
                   in_type, static_cast<int>(a.K), a.x, in_type, static_cast<int>(a.ldx), &beta,
                   a.y, CUDA_R_32F, static_cast<int>(a.ldy), CUBLAS_COMPUTE_32F,
                   CUBLAS_GEMM_DEFAULT),
      "gemm");
}

}  // namespace folio::kernels
