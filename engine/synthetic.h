// Synthetic models for benchmarks: the published shapes with seeded random weights and no
// files (`folio-cli bench --synthetic jamba-1.5-mini`). The checkpoint lives in memory;
// tensors the engine reads on the host (norm weights, Mamba A_log / conv1d / D / dt bias)
// are always materialised there, larger ones only when asked, else left with data ==
// nullptr and a SyntheticFill that the CUDA backend evaluates on the GPU. Host and device
// compute the same values (synthetic_fill.h), so a materialised copy on the CPU is the
// reference for the GPU's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/status.h"

namespace folio {

// "jamba-1.5-mini" (JAMBA.md's table: 52B parameters), "jamba-tiny" (the shape of the
// fixture tests/fixtures/jamba-tiny, bf16).
std::vector<std::string> SyntheticModelNames();
Result<ModelConfig> SyntheticConfig(std::string_view name);

// How tensor `name` (of `shape`) is filled for `seed`: its key and uniform range (scaled
// so activations stay O(1) through the layers: 1/sqrt(fan_in) for matrices, 1 +- 0.1 for
// norm weights, Mamba-like A_log, dt bias and D).
SyntheticFill SyntheticFillFor(const std::string& name, const std::vector<int64_t>& shape,
                               uint64_t seed);

struct SyntheticOptions {
  uint64_t seed = 1;
  // Tensors of at least this many elements stay unmaterialised (data == nullptr) unless
  // the engine reads them on the host; INT64_MAX materialises everything (the CPU backend).
  int64_t materialize_below = INT64_MAX;
};

// The checkpoint of `config` in the published layout (JAMBA.md names), bf16.
Result<std::unique_ptr<Checkpoint>> MakeSyntheticCheckpoint(const ModelConfig& config,
                                                            const SyntheticOptions& options);

}  // namespace folio
