// What a Jamba forward pass must cost at the least, counted from the config (JAMBA.md,
// "Floors on one H200"): the bytes a decode step reads, the FLOPs a prefill does, the
// memory weights and caches take. Benchmarks print their figures next to these floors
// (bytes / bandwidth, FLOPs / peak), so speed is measured against the hardware, not
// asserted. Pure arithmetic: no backend needed.
#pragma once

#include <cstdint>
#include <string>

#include "engine/config.h"

namespace folio {

struct CostOptions {
  int weight_bytes = 2;       // per element of every weight (bf16)
  bool experts_int8 = false;  // experts 1 byte per element + a float32 scale per row
  int kv_bytes = 2;           // per K/V cache element (bf16)
};

// The measured ceilings a figure is compared with.
struct HardwareFloor {
  std::string name;
  double bandwidth = 0;  // bytes/s (a device-to-device copy)
  double flops = 0;      // FLOP/s (a large bf16 GEMM)
  // One H200 as measured in JAMBA.md: 4.3 TB/s copy, 790 TFLOP/s bf16 GEMM.
  static HardwareFloor H200();
};

struct ModelCost {
  // Weights as stored: all of them, and the MoE experts among them.
  uint64_t weight_bytes = 0;
  uint64_t expert_bytes = 0;
  // K/V of all attention layers for one token; Mamba conv + SSM state (float32) of one
  // sequence, whatever its length.
  uint64_t kv_bytes_per_token = 0;
  uint64_t mamba_state_bytes = 0;
};
ModelCost CountModelCost(const ModelConfig& c, const CostOptions& o = {});

// Bytes one decode step reads at batch 1 with `context` tokens cached: every weight a
// token touches (dense layers, the router, the top-k experts of each MoE layer, lm_head,
// one embedding row), the whole K/V cache of the attention layers, and the Mamba state
// (read and written). A decode step cannot be faster than this over the bandwidth.
double DecodeBytesPerToken(const ModelConfig& c, int64_t context, const CostOptions& o = {});

// FLOPs (2 per multiply-add) of running `tokens` new tokens after `past` cached ones:
// every projection a token touches (top-k experts, not all), causal attention scores and
// values, the selective scan, and lm_head for the last position only (what a prefill
// computes). Prefill cannot be faster than this over the peak.
double PrefillFlops(const ModelConfig& c, int64_t tokens, int64_t past = 0);

// Largest context whose cache fits in `budget_bytes` beside the weights and
// `reserve_bytes` (workspace, runtime): 0 when not even the weights fit.
int64_t LargestContext(const ModelConfig& c, uint64_t budget_bytes, uint64_t reserve_bytes,
                       const CostOptions& o = {});

// "1.23 GiB"
std::string FormatGiB(double bytes);

}  // namespace folio
