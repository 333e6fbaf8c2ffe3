// What the kernels' host API needs from the CUDA runtime, without CUDA headers: the
// stream handle type and a device query that never fails loudly.
#pragma once

#include <cstddef>
#include <string>

struct CUstream_st;  // cudaStream_t is CUstream_st*; nullptr is the default stream

namespace folio::kernels {

using Stream = CUstream_st*;

// Number of usable CUDA devices; 0 when there is no driver, no device, or the runtime
// reports any error (so callers can fall back to the CPU). `why` gets the runtime's reason.
int CudaDeviceCount(std::string* why = nullptr);

// Multiprocessor count of the current device (launch heuristics); 0 on error.
int CudaSmCount();

// Free and total bytes of the current device; false on error.
bool CudaMemInfo(size_t* free_bytes, size_t* total_bytes);

}  // namespace folio::kernels
