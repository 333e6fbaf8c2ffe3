// folio::cpu: the fast CPU path of every op (see ops.h). Threads come from one persistent
// ThreadPool; prefill GEMMs go to OpenBLAS sgemm on float32 row blocks of the weight that
// each worker converts from the stored dtype into its own scratch buffer (so weights stay
// bf16 in memory and OpenBLAS runs single-threaded inside our workers, never fighting
// them); decode (T < kGemmMinTokens) is a matvec that reads the stored dtype directly.
#include <cblas.h>
#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// The row scales of an int8 weight; a kI8 view without them is a bug upstream that would
// otherwise give silently wrong answers, so it stops the process.
const float* RowScales(const TensorView& W) {
  if (!W.row_scale) {
    std::fprintf(stderr, "folio: int8 weight %s has no row scales\n", W.name.c_str());
    std::abort();
  }
  return W.row_scale;
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
    case DType::kI8: {  // q * the scale of its row
      const float* scale = RowScales(W);
      const int64_t cols = W.numel() / W.dim(0);
      const auto* q = reinterpret_cast<const int8_t*>(p);
      for (int64_t i = 0; i < n;) {  // one row (or the part of it in range) at a time
        const int64_t row = (begin + i) / cols, end = std::min(n, (row + 1) * cols - begin);
        const float s = scale[row];
        for (; i < end; ++i) out[i] = static_cast<float>(q[i]) * s;
      }
      return;
    }
    case DType::kI64:
    case DType::kI32:
    case DType::kU8:
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

// AVX2 + FMA dot products of x[K] with a stored row (8 lanes, two accumulators), used when
// the CPU has them; the portable loops above are the fallback (the build targets x86-64-v2).
#define FOLIO_AVX2 __attribute__((target("avx2,fma,f16c")))

FOLIO_AVX2 float HorizontalSum(__m256 a, __m256 b) {
  const __m256 s = _mm256_add_ps(a, b);
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

FOLIO_AVX2 float DotF32Avx2(const float* x, const uint8_t* w, int64_t K) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(reinterpret_cast<const float*>(w + 4 * k)), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8),
                         _mm256_loadu_ps(reinterpret_cast<const float*>(w + 4 * k + 32)), a1);
  }
  float tail = 0;
  for (; k < K; ++k) {
    float f;
    std::memcpy(&f, w + 4 * k, 4);
    tail += x[k] * f;
  }
  return HorizontalSum(a0, a1) + tail;
}

FOLIO_AVX2 __m256 LoadBf16x8(const uint8_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

FOLIO_AVX2 __m256 LoadF16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

template <bool kBf16>
FOLIO_AVX2 float DotHalfAvx2(const float* x, const uint8_t* w, int64_t K) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m256 w0 = kBf16 ? LoadBf16x8(w + 2 * k) : LoadF16x8(w + 2 * k);
    const __m256 w1 = kBf16 ? LoadBf16x8(w + 2 * k + 16) : LoadF16x8(w + 2 * k + 16);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), w0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), w1, a1);
  }
  float tail = 0;
  for (; k < K; ++k) {
    uint16_t h;
    std::memcpy(&h, w + 2 * k, 2);
    tail += x[k] * (kBf16 ? Bf16ToF32(h) : F16ToF32(h));
  }
  return HorizontalSum(a0, a1) + tail;
}

// sum_k x[k] * q[k] over an int8 row (the caller applies the row's scale): 32 int8 per
// step in four accumulators, each 8 sign-extended straight from memory to int32 and
// converted to float (exact: |q| <= 127).
FOLIO_AVX2 __m256 LoadI8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

FOLIO_AVX2 float DotI8Avx2(const float* x, const uint8_t* w, int64_t K) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), LoadI8x8(w + k), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), LoadI8x8(w + k + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), LoadI8x8(w + k + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), LoadI8x8(w + k + 24), a3);
  }
  for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), LoadI8x8(w + k), a0);
  float tail = 0;
  for (; k < K; ++k) tail += x[k] * static_cast<float>(static_cast<int8_t>(w[k]));
  return HorizontalSum(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3)) + tail;
}

// FOLIO_CPU_NO_SIMD=1 forces the portable loops (tests run both paths on AVX2 machines).
// F16C is read from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports has no
// "f16c", and the sanitizer builds use clang.
bool CpuHasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}
const bool kHaveAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                       CpuHasF16c() && !std::getenv("FOLIO_CPU_NO_SIMD");

float DotRow(const float* x, int64_t K, const TensorView& W, int64_t row) {
  const size_t esize = DTypeSize(W.dtype);
  const uint8_t* p = W.data + static_cast<size_t>(row * K) * esize;
  if (kHaveAvx2) {
    switch (W.dtype) {
      case DType::kF32: return DotF32Avx2(x, p, K);
      case DType::kBF16: return DotHalfAvx2<true>(x, p, K);
      case DType::kF16: return DotHalfAvx2<false>(x, p, K);
      case DType::kI8: return DotI8Avx2(x, p, K) * RowScales(W)[row];
      default: break;
    }
  }
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
    case DType::kI8:
      return Dot(x, K, [p](int64_t k) {
               return static_cast<float>(static_cast<int8_t>(p[k]));
             }) *
             RowScales(W)[row];
    case DType::kI64:
    case DType::kI32:
    case DType::kU8:
      break;
  }
  return Dot(x, K, [&W, row, K](int64_t k) { return W.GetF32(row * K + k); });
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

// exp of 8 floats (Cephes polynomial, as in avx_mathfun): relative error about 1e-7 over
// [-88, 88]; inputs are clamped to that range (exp(-88) ~ 6e-39 stands in for 0).
FOLIO_AVX2 __m256 Exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)),
                    _mm256_set1_ps(88.3762626647949f));
  const __m256 fx = _mm256_floor_ps(
      _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i pow2 = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(pow2));
}

// Channels [d0, d1) of the selective scan, d_state a multiple of 8 (AVX2 + FMA).
FOLIO_AVX2 void ScanChannelsAvx2(const SelectiveScanParams& p, int64_t d0, int64_t d1) {
  const int64_t D = p.d_inner, N = p.d_state;
  for (int64_t d = d0; d < d1; ++d) {
    float* h = p.h + d * N;
    const float* A = p.A + d * N;
    for (int64_t t = 0; t < p.T; ++t) {
      const float dt = p.dt[t * D + d], x = p.x[t * D + d];
      const __m256 vdt = _mm256_set1_ps(dt), vdtx = _mm256_set1_ps(dt * x);
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      for (int64_t n = 0; n < N; n += 8) {
        const __m256 dA = Exp8(_mm256_mul_ps(vdt, _mm256_loadu_ps(A + n)));
        __m256 hn = _mm256_mul_ps(dA, _mm256_loadu_ps(h + n));
        hn = _mm256_fmadd_ps(vdtx, _mm256_loadu_ps(p.B + t * N + n), hn);
        _mm256_storeu_ps(h + n, hn);
        acc0 = _mm256_fmadd_ps(hn, _mm256_loadu_ps(p.C + t * N + n), acc0);
      }
      float y = HorizontalSum(acc0, acc1) + p.D[d] * x;
      if (p.z) y *= Silu(p.z[t * D + d]);
      p.y[t * D + d] = y;
    }
  }
}

// Parallel over channels: each channel's state row h[d, :] is independent.
void SelectiveScan(const SelectiveScanParams& p) {
  const int64_t D = p.d_inner, N = p.d_state;
  if (kHaveAvx2 && N % 8 == 0) {
    Pool().ParallelFor(D, 32, [&](int64_t d0, int64_t d1) { ScanChannelsAvx2(p, d0, d1); });
    return;
  }
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

// Decode (T = 1): the `group` query heads that share KV head `kvh` are contiguous in q, so
// one [group, hd] x [hd, seen] product reads that head's K and V once for all of them.
void DecodeAttentionGroup(const AttentionParams& p, int64_t kvh, float scale,
                          std::vector<float>& scores) {
  const int64_t hd = p.head_dim, group = p.n_heads / p.n_kv_heads;
  const int64_t kv_stride = p.n_kv_heads * hd, seen = p.past + 1;
  scores.resize(static_cast<size_t>(group * seen));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(group),
              static_cast<int>(seen), static_cast<int>(hd), scale, p.q + kvh * group * hd,
              static_cast<int>(hd), p.k + kvh * hd, static_cast<int>(kv_stride), 0.0f,
              scores.data(), static_cast<int>(seen));
  for (int64_t g = 0; g < group; ++g) {
    float* row = scores.data() + g * seen;
    float max_s = -INFINITY;
    for (int64_t s = 0; s < seen; ++s) max_s = std::max(max_s, row[s]);
    double sum = 0;
    for (int64_t s = 0; s < seen; ++s) sum += (row[s] = std::exp(row[s] - max_s));
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t s = 0; s < seen; ++s) row[s] *= inv;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(group),
              static_cast<int>(hd), static_cast<int>(seen), 1.0f, scores.data(),
              static_cast<int>(seen), p.v + kvh * hd, static_cast<int>(kv_stride), 0.0f,
              p.out + kvh * group * hd, static_cast<int>(hd));
}

// Parallel over (head, block of up to kQueryBlock queries). Per item, two sgemms over the
// keys that block can see: S = scale * Q_h K_h^T [rows, visible], a causal mask and row
// softmax, then O_h = P V_h. Scratch is rows x visible floats per thread (32 x 140K = 18 MB
// at the longest context), never T x context.
void Attention(const AttentionParams& p) {
  constexpr int64_t kQueryBlock = 32;
  const int64_t hd = p.head_dim, group = p.n_heads / p.n_kv_heads;
  const int64_t q_stride = p.n_heads * hd, kv_stride = p.n_kv_heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  if (p.T == 1) {
    Pool().ParallelFor(p.n_kv_heads, 1, [&](int64_t h0, int64_t h1) {
      thread_local std::vector<float> scores;
      for (int64_t kvh = h0; kvh < h1; ++kvh) DecodeAttentionGroup(p, kvh, scale, scores);
    });
    return;
  }
  const int64_t blocks = (p.T + kQueryBlock - 1) / kQueryBlock;
  Pool().ParallelFor(p.n_heads * blocks, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> scores;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t h = i / blocks, t0 = (i % blocks) * kQueryBlock;
      const int64_t rows = std::min(kQueryBlock, p.T - t0), kvh = h / group;
      const int64_t visible = p.past + t0 + rows;  // keys the last row of the block sees
      scores.resize(static_cast<size_t>(rows * visible));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                  static_cast<int>(visible), static_cast<int>(hd), scale,
                  p.q + t0 * q_stride + h * hd, static_cast<int>(q_stride), p.k + kvh * hd,
                  static_cast<int>(kv_stride), 0.0f, scores.data(), static_cast<int>(visible));
      for (int64_t r = 0; r < rows; ++r) {
        float* row = scores.data() + r * visible;
        const int64_t seen = p.past + t0 + r + 1;  // causal: keys [0, seen)
        float max_s = -INFINITY;
        for (int64_t s = 0; s < seen; ++s) max_s = std::max(max_s, row[s]);
        double sum = 0;
        for (int64_t s = 0; s < seen; ++s) sum += (row[s] = std::exp(row[s] - max_s));
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t s = 0; s < seen; ++s) row[s] *= inv;
        std::fill(row + seen, row + visible, 0.0f);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows),
                  static_cast<int>(hd), static_cast<int>(visible), 1.0f, scores.data(),
                  static_cast<int>(visible), p.v + kvh * hd, static_cast<int>(kv_stride), 0.0f,
                  p.out + t0 * q_stride + h * hd, static_cast<int>(q_stride));
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
