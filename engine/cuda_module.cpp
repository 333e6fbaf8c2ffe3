// libfolio_cuda.so: the CUDA backend behind four C entry points (engine/cuda_module.h),
// so that folio-cli and the app link no CUDA library and run where none is installed.
#include "engine/cuda_module.h"

#define FOLIO_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

FOLIO_CUDA_EXPORT long folio_cuda_abi() {
  return folio::kCudaModuleAbi * 1000003L + static_cast<long>(sizeof(folio::CudaBackendOptions));
}

FOLIO_CUDA_EXPORT void folio_cuda_unavailable_reason(std::string* why) {
  *why = folio::CudaUnavailableReason();
}

FOLIO_CUDA_EXPORT int folio_cuda_open(const char* dir, const folio::CudaBackendOptions* options,
                                      folio::Backend** out, folio::Status* status) {
  auto backend = folio::CudaBackend::Open(dir, *options);
  if (!backend.ok()) {
    *status = backend.status();
    return 1;
  }
  *out = std::move(backend).value().release();
  return 0;
}

FOLIO_CUDA_EXPORT int folio_cuda_open_checkpoint(
    const std::shared_ptr<const folio::Checkpoint>* checkpoint,
    const folio::CudaBackendOptions* options, folio::Backend** out, folio::Status* status) {
  auto backend = folio::CudaBackend::Create(*checkpoint, *options);
  if (!backend.ok()) {
    *status = backend.status();
    return 1;
  }
  *out = std::move(backend).value().release();
  return 0;
}
