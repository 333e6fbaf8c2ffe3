// Fills a device buffer with the seeded synthetic values of engine/synthetic_fill.h, so the
// benchmark makes 52B parameters directly on the GPU with no files. Element i gets exactly
// the value the host computes (SyntheticValue), rounded to `dtype` (kBF16: to nearest even;
// kF32: as is).
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "engine/synthetic_fill.h"
#include "engine/tensor.h"
#include "kernels/device.h"

namespace folio::kernels {

Status FillSynthetic(const SyntheticFill& fill, int64_t n, DType dtype, void* dst, Stream stream);

}  // namespace folio::kernels
