// The boundary between the engine and the separately loaded CUDA module
// (libfolio_cuda.so): four C entry points, looked up with dlsym. Both sides are built
// from this tree with the same compiler, so C++ types may cross; kCudaModuleAbi and the
// options' size guard against a module from another build.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/cuda_backend.h"

namespace folio {

inline constexpr int kCudaModuleAbi = 2;  // 2: folio_cuda_open_checkpoint
inline constexpr const char* kCudaModuleName = "libfolio_cuda.so";

}  // namespace folio

extern "C" {
// Returns kCudaModuleAbi * 1000003 + sizeof(folio::CudaBackendOptions).
using FolioCudaAbiFn = long (*)();
// Writes "" to *why when a usable device is there, else the reason.
using FolioCudaUnavailableFn = void (*)(std::string* why);
// Opens the checkpoint in `dir` on the GPU: 0 and *out on success (the caller owns it),
// else non-zero and *status.
using FolioCudaOpenFn = int (*)(const char* dir, const folio::CudaBackendOptions* options,
                                folio::Backend** out, folio::Status* status);
// The same over a checkpoint already open or made in memory (bench --synthetic).
using FolioCudaOpenCheckpointFn =
    int (*)(const std::shared_ptr<const folio::Checkpoint>* checkpoint,
            const folio::CudaBackendOptions* options, folio::Backend** out, folio::Status* status);
}
