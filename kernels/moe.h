// Mixture-of-experts MLP on the GPU (JAMBA.md, "MoE"):
//   probs = softmax(router(x)) over E experts, float32
//   top-k probabilities as weights, NOT renormalised (Jamba; Mixtral would renormalise)
//   out = sum over the chosen experts of weight * down(silu(gate(x)) * up(x))
// Two paths, same result up to float32 rounding:
//   MoeForwardGrouped  tokens grouped by expert (deterministic order: by token, then
//                      slot), each expert one set of cuBLAS GEMMs over its gathered rows,
//                      then a weighted combine. For prefill. One host sync (expert counts)
//                      for bf16/f32 experts; none for int8 experts (one grouped Int8Gemm
//                      launch per matrix reads the expert row ranges on the device).
//   MoeForwardGemv     a warp per output row reading only the experts each token chose,
//                      expert weights picked on the device: no host sync. For decode
//                      (T = 1 reads just the two chosen experts), correct for any T.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"
#include "kernels/device.h"
#include "kernels/gemm.h"

namespace folio::kernels {

// The weights of one MoE layer, already on the device.
struct MoeWeights {
  int64_t n_experts = 0;
  int64_t hidden = 0;             // H
  int64_t intermediate = 0;       // I
  DType dtype = DType::kBF16;     // of every matrix below: kBF16 or kF32
  const void* router = nullptr;   // [E, H]
  std::vector<const void*> gate;  // E device pointers, each [I, H]
  std::vector<const void*> up;    // E device pointers, each [I, H]
  std::vector<const void*> down;  // E device pointers, each [H, I]
  // The same pointers in device memory, [3, E] (gate row, up row, down row), for the
  // GEMV path, which picks experts on the device.
  const void* const* device_ptrs = nullptr;
  // Int8 experts (kernels/int8.h, --experts-int8): gate/up/down then point at int8
  // matrices and these hold each matrix's row scales (float32, [rows]); `dtype` stays the
  // router's and the activations' dtype (kBF16). device_scales is [3, E] like device_ptrs;
  // both paths need device_ptrs and device_scales for int8, and the int8 matrices 16-byte
  // aligned.
  bool int8 = false;
  std::vector<const float*> gate_scale, up_scale, down_scale;
  const float* const* device_scales = nullptr;
};

struct MoeForwardParams {
  int64_t T = 0;              // tokens
  int64_t top_k = 0;          // experts per token, 1..min(E, 8)
  bool renormalize = false;   // Mixtral-style; Jamba: false
  const float* x = nullptr;   // [T, H] float32, normed input
  const void* x_w = nullptr;  // [T, H] the same in the weights' dtype (== x for f32 weights)
  float* out = nullptr;       // [T, H] float32
  bool accumulate = false;    // out += moe(x) (fuses the residual add)
  void* workspace = nullptr;  // MoeWorkspaceBytes(T, ...) bytes, 256-byte aligned
  size_t workspace_bytes = 0;
};

// Workspace both paths need for T tokens.
size_t MoeWorkspaceBytes(int64_t T, const MoeWeights& w, int64_t top_k);

Status MoeForwardGrouped(const MoeForwardParams& p, const MoeWeights& w, GemmRunner& gemm);
Status MoeForwardGemv(const MoeForwardParams& p, const MoeWeights& w, GemmRunner& gemm);

// The pieces, exposed for tests. All device pointers.
// probs/top-k: expert [T, k] int32, weight [T, k] float32 from logits [T, E].
Status MoeRoute(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
                int32_t* expert, float* weight, Stream stream);
// Groups the T*k assignments by expert: offsets [E+1] (exclusive prefix of counts),
// row_of [T*k] (gathered row of assignment t*k+s), token_of [T*k] (token of each row).
// Rows of one expert are in token order.
Status MoeGroup(const int32_t* expert, int64_t T, int64_t E, int64_t k, int32_t* offsets,
                int32_t* row_of, int32_t* token_of, Stream stream);

}  // namespace folio::kernels
