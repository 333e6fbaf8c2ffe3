// Causal GQA attention on the GPU, no positional encoding (Jamba). T new queries attend
// over a K/V cache holding `past` earlier positions plus the T new ones (the caller has
// appended them). Same maths as folio::ref::Attention (engine/ops.h):
//   out[t, h] = softmax_j(scale * q[t, h] . k[j, g]) v[j, g],  j <= past + t,
//   g = h / (n_heads / n_kv_heads)
// Kernels:
//   AttentionPrefill   flash-attention style online softmax for long prompts, two forms
//                      (AttentionParams::impl picks; auto by default):
//     tensor cores     (impl 2; attention_tc.cu) bf16 K/V cache, head_dim 64 or 128, k/v
//                      16-byte aligned, kv_stride a multiple of 8: a block per (64 queries,
//                      head), S = Q K^T and O += P V on bf16 WMMA with float32
//                      accumulation. q is rounded to bf16 (after * scale) and so are the
//                      softmax weights P: expect ~1e-3 relative error, not float32's 1e-6.
//     float32 tiled    (impl 1) any cache dtype and head_dim, exact up to float32
//                      rounding; a block per (16 queries, head) on the CUDA cores.
//   AttentionSplitK    flash-decoding: the keys of each (query, head) are split across
//                      blocks, each keeps a partial (max, sum, accumulator), a combine
//                      kernel merges them; so one token at 140K context fills the GPU.
//                      Correct for any T; chosen for decode (T small).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/status.h"
#include "engine/tensor.h"
#include "kernels/device.h"

namespace folio::kernels {

struct AttentionParams {
  int64_t T = 0;             // new queries (>= 1)
  int64_t past = 0;          // cached positions before them (>= 0)
  int64_t n_heads = 0;       // query heads
  int64_t n_kv_heads = 0;    // K/V heads; n_heads % n_kv_heads == 0
  int64_t head_dim = 0;      // 1..256
  const float* q = nullptr;  // [T, n_heads * head_dim] float32, rows q_stride apart
  int64_t q_stride = 0;
  const void* k = nullptr;  // [past + T, n_kv_heads * head_dim] of kv_dtype, rows kv_stride apart
  const void* v = nullptr;  // same layout as k
  int64_t kv_stride = 0;
  DType kv_dtype = DType::kBF16;  // kBF16 or kF32
  float* out = nullptr;           // [T, n_heads * head_dim] float32, rows out_stride apart
  int64_t out_stride = 0;
  float scale = 0.0f;  // 0: 1/sqrt(head_dim)
  // CUDA graphs (decode replayed at any position): when set, AttentionSplitK reads `past`
  // from this device int instead (the host value is ignored) and must be given n_splits
  // explicitly, chosen for max_past; splits past the keys that exist do nothing (a past
  // above max_past stays exact: the last split runs to the end). AttentionPrefill reads it
  // too (its grid depends only on T).
  const int32_t* d_past = nullptr;
  int64_t max_past = 0;
  // AttentionPrefill's kernel: 0 auto (tensor cores whenever the shape and cache fit, see
  // AttentionPrefillImpl), 1 the float32 tiled kernel, 2 tensor cores (an error when the
  // shape does not fit). For tests and benchmarks; AttentionSplitK ignores it.
  int impl = 0;
};

// Fills q/kv/out strides for contiguous tensors and scale when 0.
void SetContiguousStrides(AttentionParams* p);

Status AttentionPrefill(const AttentionParams& p, Stream stream);
// The kernel AttentionPrefill runs for p: 1 (float32 tiled) or 2 (tensor cores); p.impl
// 0 resolves to 2 when detail::AttentionTensorCoreUnfit(p) finds nothing against it.
int AttentionPrefillImpl(const AttentionParams& p);

// Workspace the split-K path needs for `n_splits` splits, in bytes.
size_t AttentionSplitKWorkspaceBytes(const AttentionParams& p, int n_splits);
// The number of splits the heuristic picks for this shape on a GPU with `sm_count` SMs.
int AttentionSplitKChooseSplits(const AttentionParams& p, int sm_count);
// Runs with n_splits (0: AttentionSplitKChooseSplits with the current device's SM count),
// reduced if needed so that the workspace fits in workspace_bytes.
Status AttentionSplitK(const AttentionParams& p, void* workspace, size_t workspace_bytes,
                       int n_splits, Stream stream);

namespace detail {
// Why the tensor-core prefill cannot run p (a sentence for an error message), or nullptr.
const char* AttentionTensorCoreUnfit(const AttentionParams& p);
// The tensor-core prefill itself (attention_tc.cu); expects a p AttentionPrefill validated.
Status AttentionPrefillTensorCores(const AttentionParams& p, Stream stream);
}  // namespace detail

}  // namespace folio::kernels
