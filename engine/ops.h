// The engine's operators, float32 compute. Two implementations with identical signatures:
//   folio::ref  plain loops, one function per op, written to be read (ops_ref.cpp);
//   folio::cpu  the fast CPU path: threads, OpenBLAS for prefill GEMMs and attention,
//               AVX2/FMA kernels chosen at run time for decode matvecs and the selective
//               scan, portable loops otherwise (ops_cpu.cpp).
// Every cpu:: op is tested against its ref:: twin on seeded random inputs, and the CUDA
// kernels (kernels/) are tested against ref:: too.
//
// Conventions: row-major, shapes in comments as [rows, cols]; T = tokens in this call.
// Weights are TensorViews in their stored dtype (F32, BF16 or F16) and may be unaligned;
// activations are float32 and contiguous.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace folio {

// Shapes of one Mamba mixer call (see JAMBA.md, "Mamba mixer").
struct SelectiveScanParams {
  int64_t T = 0;        // tokens in this call
  int64_t d_inner = 0;  // channels
  int64_t d_state = 0;  // state size per channel
  // Inputs, float32:
  const float* x = nullptr;      // [T, d_inner]  conv+silu output
  const float* dt = nullptr;     // [T, d_inner]  after dt_proj + bias + softplus
  const float* B = nullptr;      // [T, d_state]
  const float* C = nullptr;      // [T, d_state]
  const float* z = nullptr;      // [T, d_inner]  gate (silu applied inside); nullptr: no gate
  const float* A = nullptr;      // [d_inner, d_state]  = -exp(A_log), precomputed
  const float* D = nullptr;      // [d_inner]  skip
  // State, float32, in/out: h before the first token on entry, after the last on return.
  float* h = nullptr;            // [d_inner, d_state]
  // Output:
  float* y = nullptr;            // [T, d_inner]  = (<h_t, C_t> + D * x_t) * silu(z_t)
};

// Causal depthwise conv1d over T tokens with a carried state (the last K-1 inputs).
struct CausalConv1dParams {
  int64_t T = 0;
  int64_t channels = 0;  // d_inner
  int64_t kernel = 0;    // d_conv (K)
  const float* x = nullptr;     // [T, channels]
  const float* weight = nullptr;  // [channels, K]  (conv1d.weight [C,1,K] squeezed, float32)
  const float* bias = nullptr;    // [channels] or nullptr
  float* state = nullptr;  // [channels, K-1] inputs before x[0] (oldest first); updated in place
  float* out = nullptr;    // [T, channels]  conv output, no activation
};

// Causal attention of T new queries over a cache holding `past` earlier positions plus
// the T new ones (the caller appends K/V first). GQA: query head h reads KV head
// h / (n_heads / n_kv_heads). No positional encoding. Scale 1/sqrt(head_dim).
struct AttentionParams {
  int64_t T = 0;          // new query tokens
  int64_t past = 0;       // cached positions before them
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  const float* q = nullptr;  // [T, n_heads * head_dim]
  const float* k = nullptr;  // [past + T, n_kv_heads * head_dim]
  const float* v = nullptr;  // [past + T, n_kv_heads * head_dim]
  float* out = nullptr;      // [T, n_heads * head_dim]
};

#define FOLIO_DECLARE_OPS                                                                   \
  /* y[T, N] = x[T, K] @ W^T (+ bias), W: [N, K] any float dtype; bias [N] or nullptr */    \
  void MatMul(const float* x, int64_t T, int64_t K, const TensorView& W,                   \
              const TensorView* bias, float* y);                                          \
  /* out[r, :] = w * x[r, :] / sqrt(mean(x[r,:]^2) + eps); out may alias x */              \
  void RmsNorm(const float* x, const TensorView& w, double eps, int64_t rows, int64_t dim,   \
               float* out);                                                               \
  /* out[n] = silu(gate[n]) * up[n], n = T * I elements; out may alias gate */                      \
  void SwiGLU(const float* gate, const float* up, int64_t n, float* out);                  \
  void CausalConv1d(const CausalConv1dParams& p);                                          \
  void SelectiveScan(const SelectiveScanParams& p);                                        \
  void Attention(const AttentionParams& p);                                                \
  /* row-wise softmax of x[rows, n] in place */                                            \
  void Softmax(float* x, int64_t rows, int64_t n);

namespace ref {
FOLIO_DECLARE_OPS
}  // namespace ref

namespace cpu {
FOLIO_DECLARE_OPS
// Worker threads the cpu:: ops use (default: hardware concurrency). Thread-safe to set
// between calls, not during.
void SetNumThreads(int n);
int NumThreads();
}  // namespace cpu

#undef FOLIO_DECLARE_OPS

// The ops of one path as a table, so a backend can run on either (the golden tests run
// the whole model on ref:: and on cpu:: and compare).
struct OpTable {
  const char* name;  // "ref" or "cpu"
  void (*MatMul)(const float*, int64_t, int64_t, const TensorView&, const TensorView*, float*);
  void (*RmsNorm)(const float*, const TensorView&, double, int64_t, int64_t, float*);
  void (*SwiGLU)(const float*, const float*, int64_t, float*);
  void (*CausalConv1d)(const CausalConv1dParams&);
  void (*SelectiveScan)(const SelectiveScanParams&);
  void (*Attention)(const AttentionParams&);
  void (*Softmax)(float*, int64_t, int64_t);
};
const OpTable& RefOps();
const OpTable& CpuOps();

// Small scalar helpers shared by both paths.
inline float Silu(float x) { return x / (1.0f + __builtin_expf(-x)); }
inline float Softplus(float x) { return x > 20.0f ? x : __builtin_log1pf(__builtin_expf(x)); }

}  // namespace folio
