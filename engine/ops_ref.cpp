// folio::ref: the plain-loop reference of every op (see ops.h). Written to be read and
// to be right, not fast: reductions accumulate in double so the reference sits closer
// to the float64 golden outputs than any fast path.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/ops.h"

namespace folio::ref {

namespace {

// Row n [K] of W as float32. An int8 row is dequantised: q[n, k] * row_scale[n].
void WeightRow(const TensorView& W, int64_t n, int64_t K, float* row) {
  if (W.dtype != DType::kI8) {
    W.ToF32(n * K, K, row);
    return;
  }
  if (!W.row_scale) {  // a kI8 view without scales would silently drop them
    std::fprintf(stderr, "folio: int8 weight %s has no row scales\n", W.name.c_str());
    std::abort();
  }
  const auto* q = reinterpret_cast<const int8_t*>(W.data) + n * K;
  for (int64_t k = 0; k < K; ++k) row[k] = static_cast<float>(q[k]) * W.row_scale[n];
}

}  // namespace

void MatMul(const float* x, int64_t T, int64_t K, const TensorView& W, const TensorView* bias,
            float* y) {
  const int64_t N = W.dim(0);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    WeightRow(W, n, K, row.data());
    const double b = bias ? bias->GetF32(n) : 0.0;
    for (int64_t t = 0; t < T; ++t) {
      double acc = b;
      for (int64_t k = 0; k < K; ++k) acc += double(x[t * K + k]) * row[static_cast<size_t>(k)];
      y[t * N + n] = static_cast<float>(acc);
    }
  }
}

void RmsNorm(const float* x, const TensorView& w, double eps, int64_t rows, int64_t dim,
             float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) {
      out[r * dim + i] = static_cast<float>(w.GetF32(i) * (x[r * dim + i] * inv));
    }
  }
}

void SwiGLU(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = Silu(gate[i]) * up[i];
}

// out[t, c] = bias[c] + sum_j w[c, j] * in(t - (K-1) + j), where in(s) for s < 0 comes
// from the carried state (oldest first).
void CausalConv1d(const CausalConv1dParams& p) {
  const int64_t C = p.channels, K = p.kernel, S = K - 1;
  auto input = [&](int64_t s, int64_t c) {
    return s >= 0 ? p.x[s * C + c] : p.state[c * S + (S + s)];
  };
  for (int64_t t = 0; t < p.T; ++t) {
    for (int64_t c = 0; c < C; ++c) {
      double acc = p.bias ? p.bias[c] : 0.0;
      for (int64_t j = 0; j < K; ++j) acc += double(p.weight[c * K + j]) * input(t - S + j, c);
      p.out[t * C + c] = static_cast<float>(acc);
    }
  }
  // New state: the last S inputs of (old state ++ x).
  std::vector<float> next(static_cast<size_t>(C * S));
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t j = 0; j < S; ++j) next[static_cast<size_t>(c * S + j)] = input(p.T - S + j, c);
  }
  for (size_t i = 0; i < next.size(); ++i) p.state[i] = next[i];
}

void SelectiveScan(const SelectiveScanParams& p) {
  const int64_t D = p.d_inner, N = p.d_state;
  for (int64_t t = 0; t < p.T; ++t) {
    for (int64_t d = 0; d < D; ++d) {
      const float dt = p.dt[t * D + d], x = p.x[t * D + d];
      double y = 0;
      for (int64_t n = 0; n < N; ++n) {
        float& h = p.h[d * N + n];
        h = std::exp(dt * p.A[d * N + n]) * h + dt * p.B[t * N + n] * x;
        y += double(h) * p.C[t * N + n];
      }
      y += double(p.D[d]) * x;
      if (p.z) y *= Silu(p.z[t * D + d]);
      p.y[t * D + d] = static_cast<float>(y);
    }
  }
}

void Attention(const AttentionParams& p) {
  const int64_t hd = p.head_dim, group = p.n_heads / p.n_kv_heads;
  const int64_t q_stride = p.n_heads * hd, kv_stride = p.n_kv_heads * hd;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  std::vector<double> score;
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t visible = p.past + t + 1;  // causal: keys 0..past+t
    for (int64_t h = 0; h < p.n_heads; ++h) {
      const float* q = p.q + t * q_stride + h * hd;
      const int64_t kvh = h / group;
      score.assign(static_cast<size_t>(visible), 0.0);
      double max_s = -INFINITY;
      for (int64_t s = 0; s < visible; ++s) {
        const float* k = p.k + s * kv_stride + kvh * hd;
        double dot = 0;
        for (int64_t i = 0; i < hd; ++i) dot += double(q[i]) * k[i];
        score[static_cast<size_t>(s)] = dot * scale;
        max_s = std::max(max_s, dot * scale);
      }
      double sum = 0;
      for (double& s : score) sum += (s = std::exp(s - max_s));
      float* o = p.out + t * q_stride + h * hd;
      for (int64_t i = 0; i < hd; ++i) {
        double acc = 0;
        for (int64_t s = 0; s < visible; ++s) {
          acc += score[static_cast<size_t>(s)] * p.v[s * kv_stride + kvh * hd + i];
        }
        o[i] = static_cast<float>(acc / sum);
      }
    }
  }
}

void Softmax(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    double max_v = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; ++i) max_v = std::max(max_v, double(row[i]));
    for (int64_t i = 0; i < n; ++i) sum += std::exp(row[i] - max_v);
    for (int64_t i = 0; i < n; ++i) row[i] = static_cast<float>(std::exp(row[i] - max_v) / sum);
  }
}

}  // namespace folio::ref

namespace folio {

const OpTable& RefOps() {
  static const OpTable table = {"ref",        ref::MatMul,        ref::RmsNorm,
                                ref::SwiGLU,  ref::CausalConv1d,  ref::SelectiveScan,
                                ref::Attention, ref::Softmax};
  return table;
}

}  // namespace folio
