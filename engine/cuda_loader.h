// Finds and loads the CUDA module (libfolio_cuda.so) at run time, so the engine runs on the
// GPU where the module, the CUDA runtime and a device are all present, and everything
// else still works where they are not. No CUDA header or library is needed to build this.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/cuda_backend.h"
#include "engine/status.h"

namespace folio {

// "" when the module loads and sees a device; otherwise why not, ending in
// "use --device cpu" (for example "no CUDA device found (...); use --device cpu").
std::string CudaUnavailable();

// The CUDA backend over the checkpoint in `dir`: Unsupported (with CudaUnavailable()'s
// reason) when the module or the device is missing, the backend's own error otherwise
// (for example ResourceExhausted with the memory plan when the model does not fit).
Result<std::unique_ptr<Backend>> OpenCudaBackend(const std::string& dir,
                                                 const CudaBackendOptions& options);

// The same over a checkpoint already open (or made in memory: bench --synthetic, whose
// large tensors have no host data and are filled on the GPU).
Result<std::unique_ptr<Backend>> OpenCudaBackendFor(std::shared_ptr<const Checkpoint> checkpoint,
                                                    const CudaBackendOptions& options);

}  // namespace folio
