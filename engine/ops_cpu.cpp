// folio::cpu: the fast CPU path of every op (see ops.h). Threads come from one persistent
// ThreadPool; prefill GEMMs go to OpenBLAS sgemm on float32 row blocks of the weight that
// each worker converts from the stored dtype into its own scratch buffer (so weights stay
// bf16 in memory and OpenBLAS runs single-threaded inside our workers, never fighting
// them); decode (T < kGemmMinTokens) is a matvec that reads the stored dtype directly.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/ops.h"
#include "engine/thread_pool.h"

namespace folio::cpu {
namespace {

constexpr int64_t kGemmMinTokens = 4;       // below this a matvec per token is cheaper
constexpr int64_t kGemmBlockFloats = 1 << 20;  // weight rows converted per sgemm call (4 MB)

std::mutex g_pool_mu;
std::unique_ptr<ThreadPool> g_pool;

int DefaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

ThreadPool& Pool() {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (!g_pool) {
    g_pool = std::make_unique<ThreadPool>(DefaultThreads());
    openblas_set_num_threads(1);  // each of our workers calls sgemm on its own block
  }
  return *g_pool;
}

// f16 -> f32 through a 64K-entry table (F16ToF32 is exact but slow).
const float* F16Table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) t[i] = F16ToF32(static_cast<uint16_t>(i));
    return t;
  }();
  return table.data();
}

// Converts n elements starting at element `begin` of W to float32.
void ToF32Fast(const TensorView& W, int64_t begin, int64_t n, float* out) {
  const uint8_t* p = W.data + static_cast<size_t>(begin) * DTypeSize(W.dtype);
  switch (W.dtype) {
    case DType::kF32:
      std::memcpy(out, p, static_cast<size_t>(n) * 4);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        const uint32_t u = static_cast<uint32_t>(h) << 16;
        std::memcpy(out + i, &u, 4);
      }
      return;
    case DType::kF16: {
      const float* table = F16Table();
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = table[h];
      }
      return;
    }
    default:
      W.ToF32(begin, n, out);
  }
}

// Dot product of x[K] with one stored row; eight partial sums so the loop vectorises.
template <typename Load>
float Dot(const float* x, int64_t K, Load load) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += x[k + j] * load(k + j);
  }
  float tail = 0;
  for (; k < K; ++k) tail += x[k] * load(k);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

float DotRow(const float* x, int64_t K, const TensorView& W, int64_t row) {
  const size_t esize = DTypeSize(W.dtype);
  const uint8_t* p = W.data + static_cast<size_t>(row * K) * esize;
  switch (W.dtype) {
    case DType::kF32:
      return Dot(x, K, [p](int64_t k) {
        float f;
        std::memcpy(&f, p + 4 * k, 4);
        return f;
      });
    case DType::kBF16:
      return Dot(x, K, [p](int64_t k) {
        uint16_t h;
        std::memcpy(&h, p + 2 * k, 2);
        const uint32_t u = static_cast<uint32_t>(h) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
      });
    case DType::kF16: {
      const float* table = F16Table();
      return Dot(x, K, [p, table](int64_t k) {
        uint16_t h;
        std::memcpy(&h, p + 2 * k, 2);
        return table[h];
      });
    }
    default:
      return Dot(x, K, [&W, row, K](int64_t k) { return W.GetF32(row * K + k); });
  }
}

void MatVec(const float* x, int64_t T, int64_t K, const TensorView& W, const TensorView* bias,
            float* y) {
  const int64_t N = W.dim(0);
  Pool().ParallelFor(N, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float b = bias ? bias->GetF32(n) : 0.0f;
      for (int64_t t = 0; t < T; ++t) y[t * N + n] = DotRow(x + t * K, K, W, n) + b;
    }
  });
}

// Rows of W per sgemm block: about kGemmBlockFloats, a multiple of 16, and small enough
// that every thread gets a few blocks.
int64_t GemmBlockRows(int64_t N, int64_t K, int threads) {
  int64_t rows = std::max<int64_t>(16, kGemmBlockFloats / std::max<int64_t>(K, 1));
  const int64_t per_thread = (N + threads * 2 - 1) / (threads * 2);
  rows = std::min(rows, std::max<int64_t>(16, (per_thread + 15) / 16 * 16));
  return std::min(rows, N);
}

void Gemm(const float* x, int64_t T, int64_t K, const TensorView& W, const TensorView* bias,
          float* y) {
  const int64_t N = W.dim(0);
  ThreadPool& pool = Pool();
  const int64_t rows = GemmBlockRows(N, K, pool.size());
  const int64_t blocks = (N + rows - 1) / rows;
  const bool direct =
      W.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(W.data) % alignof(float) == 0;
  pool.ParallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> scratch;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n0 = b * rows, nb = std::min(rows, N - n0);
      const float* wb;
      if (direct) {
        wb = reinterpret_cast<const float*>(W.data) + n0 * K;
      } else {
        scratch.resize(static_cast<size_t>(nb * K));
        ToF32Fast(W, n0 * K, nb * K, scratch.data());
        wb = scratch.data();
      }
      // y[:, n0:n0+nb] = x[T, K] @ wb[nb, K]^T
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(T),
                  static_cast<int>(nb), static_cast<int>(K), 1.0f, x, static_cast<int>(K), wb,
                  static_cast<int>(K), 0.0f, y + n0, static_cast<int>(N));
      if (bias) {
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t n = n0; n < n0 + nb; ++n) y[t * N + n] += bias->GetF32(n);
        }
      }
    }
  });
}

}  // namespace

void SetNumThreads(int n) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  g_pool = std::make_unique<ThreadPool>(n > 0 ? n : DefaultThreads());
  openblas_set_num_threads(1);
}

int NumThreads() { return Pool().size(); }

void MatMul(const float* x, int64_t T, int64_t K, const TensorView& W, const TensorView* bias,
            float* y) {
  if (T < kGemmMinTokens) {
    MatVec(x, T, K, W, bias, y);
  } else {
    Gemm(x, T, K, W, bias, y);
  }
}

void RmsNorm(const float* x, const TensorView& w, double eps, int64_t rows, int64_t dim,
             float* out) {
  std::vector<float> wf(static_cast<size_t>(dim));
  ToF32Fast(w, 0, dim, wf.data());
  const int64_t min_rows = std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1));
  Pool().ParallelFor(rows, min_rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(xr[i]) * xr[i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
      float* o = out + r * dim;
      for (int64_t i = 0; i < dim; ++i) o[i] = wf[static_cast<size_t>(i)] * (xr[i] * inv);
    }
  });
}

void SwiGLU(const float* gate, const float* up, int64_t n, float* out) {
  Pool().ParallelFor(n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = Silu(gate[i]) * up[i];
  });
}

// Parallel over channels; each channel walks its T outputs with a K-long window.
void CausalConv1d(const CausalConv1dParams& p) {
  const int64_t C = p.channels, K = p.kernel, S = K - 1, T = p.T;
  Pool().ParallelFor(C, 64, [&](int64_t c0, int64_t c1) {
    std::vector<float> window(static_cast<size_t>(S + T));  // state ++ x for one channel
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t j = 0; j < S; ++j) window[static_cast<size_t>(j)] = p.state[c * S + j];
      for (int64_t t = 0; t < T; ++t) window[static_cast<size_t>(S + t)] = p.x[t * C + c];
      const float* w = p.weight + c * K;
      const float b = p.bias ? p.bias[c] : 0.0f;
      for (int64_t t = 0; t < T; ++t) {
        float acc = b;
        for (int64_t j = 0; j < K; ++j) acc += w[j] * window[static_cast<size_t>(t + j)];
        p.out[t * C + c] = acc;
      }
      for (int64_t j = 0; j < S; ++j) p.state[c * S + j] = window[static_cast<size_t>(T + j)];
    }
  });
}

// Parallel over channels: each channel's state row h[d, :] is independent.
void SelectiveScan(const SelectiveScanParams& p) {
  const int64_t D = p.d_inner, N = p.d_state;
  Pool().ParallelFor(D, 32, [&](int64_t d0, int64_t d1) {
    for (int64_t d = d0; d < d1; ++d) {
      float* h = p.h + d * N;
      const float* A = p.A + d * N;
      for (int64_t t = 0; t < p.T; ++t) {
        const float dt = p.dt[t * D + d], x = p.x[t * D + d];
        const float* B = p.B + t * N;
        const float* C = p.C + t * N;
        const float dtx = dt * x;
        float y = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(dt * A[n]) * h[n] + dtx * B[n];
          y += h[n] * C[n];
        }
        y += p.D[d] * x;
        if (p.z) y *= Silu(p.z[t * D + d]);
        p.y[t * D + d] = y;
      }
    }
  });
}

// Parallel over (query token, head) pairs; each item owns its score buffer.
void Attention(const AttentionParams& p) {
  const int64_t hd = p.head_dim, group = p.n_heads / p.n_kv_heads;
  const int64_t q_stride = p.n_heads * hd, kv_stride = p.n_kv_heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  Pool().ParallelFor(p.T * p.n_heads, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> score;
    std::vector<float> acc(static_cast<size_t>(hd));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / p.n_heads, h = i % p.n_heads, kvh = h / group;
      const int64_t visible = p.past + t + 1;
      const float* q = p.q + t * q_stride + h * hd;
      score.resize(static_cast<size_t>(visible));
      float max_s = -INFINITY;
      for (int64_t s = 0; s < visible; ++s) {
        const float* k = p.k + s * kv_stride + kvh * hd;
        float dot = 0;
        for (int64_t j = 0; j < hd; ++j) dot += q[j] * k[j];
        score[static_cast<size_t>(s)] = dot * scale;
        max_s = std::max(max_s, dot * scale);
      }
      float sum = 0;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t s = 0; s < visible; ++s) {
        const float e = std::exp(score[static_cast<size_t>(s)] - max_s);
        sum += e;
        const float* v = p.v + s * kv_stride + kvh * hd;
        for (int64_t j = 0; j < hd; ++j) acc[static_cast<size_t>(j)] += e * v[j];
      }
      float* o = p.out + t * q_stride + h * hd;
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < hd; ++j) o[j] = acc[static_cast<size_t>(j)] * inv;
    }
  });
}

void Softmax(float* x, int64_t rows, int64_t n) {
  Pool().ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)),
                     [&](int64_t r0, int64_t r1) {
                       for (int64_t r = r0; r < r1; ++r) {
                         float* row = x + r * n;
                         float max_v = -INFINITY;
                         for (int64_t i = 0; i < n; ++i) max_v = std::max(max_v, row[i]);
                         double sum = 0;
                         for (int64_t i = 0; i < n; ++i) sum += (row[i] = std::exp(row[i] - max_v));
                         const float inv = static_cast<float>(1.0 / sum);
                         for (int64_t i = 0; i < n; ++i) row[i] *= inv;
                       }
                     });
}

}  // namespace folio::cpu

namespace folio {

const OpTable& CpuOps() {
  static const OpTable table = {"cpu",        cpu::MatMul,        cpu::RmsNorm,
                                cpu::SwiGLU,  cpu::CausalConv1d,  cpu::SelectiveScan,
                                cpu::Attention, cpu::Softmax};
  return table;
}

}  // namespace folio
