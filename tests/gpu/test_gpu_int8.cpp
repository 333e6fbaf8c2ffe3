// The int8-expert kernels and the synthetic fill against host code: QuantizeRowsInt8 gives
// folio::QuantizeInt8Rows's bytes exactly (ties, zero rows, underflowing scales), Int8Gemm matches
// a float64 reference for M = 1, 3, 17, 300 and N, K off the tile sizes, and FillSynthetic
// reproduces engine/synthetic_fill.h bit for bit, including past index 2^31.
#include <cstring>
#include <memory>

#include "engine/quant.h"
#include "engine/synthetic_fill.h"
#include "gpu_test_util.h"
#include "kernels/int8.h"
#include "kernels/synthetic.h"

using namespace folio;
using namespace folio::gputest;

namespace {

// The CPU's quantisation (engine/quant.h, the rule kernels/int8.h promises to follow).
void HostQuantize(const std::vector<float>& w, int64_t N, int64_t K, std::vector<int8_t>* q,
                  std::vector<float>* scale) {
  Result<Int8Matrix> m = QuantizeInt8Rows(HostView(w.data(), DType::kF32, {N, K}));
  q->assign(static_cast<size_t>(N * K), 0);  // sized even on failure, so callers index safely
  scale->assign(static_cast<size_t>(N), 0.0f);
  QVERIFY2(m.ok(), m.status().message().c_str());
  *q = m.value().q;
  *scale = m.value().scale;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Rows that exercise the rule's corners, then random rows: exact ties (amax 127 makes the
// scale 1, so 2.5 -> 2 and -3.5 -> -4 under round-half-to-even), a zero row, a row whose
// scale underflows to 0 (f32 only), and rows of very different magnitudes.
std::vector<float> QuantInput(int64_t N, int64_t K, bool bf16, uint32_t seed) {
  std::vector<float> w = Normal(static_cast<size_t>(N * K), seed);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w[n * K + k] *= std::ldexp(1.0f, static_cast<int>(n % 9) - 4);
  if (N >= 3 && K >= 4) {
    const float ties[] = {127.0f, 2.5f, -3.5f, 0.5f};
    for (int64_t k = 0; k < K; ++k) w[k] = ties[k % 4];
    for (int64_t k = 0; k < K; ++k) w[K + k] = 0.0f;
    if (!bf16)
      for (int64_t k = 0; k < K; ++k) w[2 * K + k] = k % 3 == 0 ? 0.0f : (k % 2 ? 1e-44f : -3e-44f);
  }
  return bf16 ? RoundBf16(w) : w;
}

struct GemmCase {
  int64_t M, N, K;
  bool accumulate;
};

}  // namespace

class TestGpuInt8 : public QObject {
  Q_OBJECT
 private slots:
  void quantizeMatchesTheHostRuleBitForBit() {
    uint32_t seed = 1;
    for (auto [N, K] :
         {std::pair<int64_t, int64_t>{1, 1}, {3, 5}, {17, 300}, {5, 4096}, {130, 1000}}) {
      for (bool bf16 : {false, true}) {
        const std::vector<float> w = QuantInput(N, K, bf16, seed++);
        std::vector<int8_t> want_q;
        std::vector<float> want_s;
        HostQuantize(w, N, K, &want_q, &want_s);
        DeviceBuffer<float> dw32(bf16 ? std::vector<float>() : w);
        DeviceBuffer<uint16_t> dw16(bf16 ? ToBf16(w) : std::vector<uint16_t>());
        DeviceBuffer<int8_t> dq(static_cast<size_t>(N * K));
        DeviceBuffer<float> ds(static_cast<size_t>(N));
        const void* src = bf16 ? static_cast<const void*>(dw16.get()) : dw32.get();
        FOLIO_EXPECT_OK(kernels::QuantizeRowsInt8(src, bf16 ? DType::kBF16 : DType::kF32, N, K,
                                                  dq.get(), ds.get(), nullptr));
        const std::vector<int8_t> q = dq.Download();
        const std::vector<float> s = ds.Download();
        for (int64_t n = 0; n < N; ++n) {
          QVERIFY2(Bits(s[n]) == Bits(want_s[n]),
                   qPrintable(QString("scale of row %1 (%2x%3 %4): %5 vs %6")
                                  .arg(n)
                                  .arg(N)
                                  .arg(K)
                                  .arg(bf16 ? "bf16" : "f32")
                                  .arg(double(s[n]))
                                  .arg(double(want_s[n]))));
        }
        for (int64_t i = 0; i < N * K; ++i) {
          QVERIFY2(q[i] == want_q[i], qPrintable(QString("q[%1] (%2x%3 %4): %5 vs %6")
                                                     .arg(i)
                                                     .arg(N)
                                                     .arg(K)
                                                     .arg(bf16 ? "bf16" : "f32")
                                                     .arg(int(q[i]))
                                                     .arg(int(want_q[i]))));
        }
      }
    }
  }

  void int8GemmMatchesFloat64Reference() {
    const GemmCase cases[] = {
        {1, 7, 8, false},     {3, 130, 40, true},    {17, 129, 264, false},  {300, 200, 136, true},
        {64, 128, 32, false}, {65, 257, 1000, true}, {1, 4096, 4096, false}, {33, 96, 14336, true},
    };
    uint32_t seed = 100;
    for (const GemmCase& c : cases) {
      const int64_t ldx = c.K + 8, ldy = c.N + 3;
      const std::vector<float> x = RoundBf16(Normal(static_cast<size_t>(c.M * ldx), seed++));
      const std::vector<float> w = Normal(static_cast<size_t>(c.N * c.K), seed++, 0.05f);
      const std::vector<float> y0 = Normal(static_cast<size_t>(c.M * ldy), seed++);
      std::vector<int8_t> q;
      std::vector<float> scale;
      HostQuantize(w, c.N, c.K, &q, &scale);
      std::vector<float> want(y0);
      for (int64_t m = 0; m < c.M; ++m) {
        for (int64_t n = 0; n < c.N; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < c.K; ++k) acc += double(x[m * ldx + k]) * q[n * c.K + k];
          const double v = acc * scale[n];
          want[m * ldy + n] = static_cast<float>(c.accumulate ? y0[m * ldy + n] + v : v);
        }
      }
      DeviceBuffer<uint16_t> dx(ToBf16(x));
      DeviceBuffer<int8_t> dq(q);
      DeviceBuffer<float> ds(scale), dy(y0);
      kernels::Int8GemmArgs a;
      a.M = c.M;
      a.N = c.N;
      a.K = c.K;
      a.x = dx.get();
      a.ldx = ldx;
      a.q = dq.get();
      a.scale = ds.get();
      a.y = dy.get();
      a.ldy = ldy;
      a.accumulate = c.accumulate;
      FOLIO_EXPECT_OK(kernels::Int8Gemm(a, nullptr));
      const std::vector<float> got = dy.Download();
      // Padding columns of y (n >= N) must be untouched.
      for (int64_t m = 0; m < c.M; ++m)
        for (int64_t n = c.N; n < ldy; ++n) QCOMPARE(got[m * ldy + n], y0[m * ldy + n]);
      FOLIO_EXPECT_CLOSE(qPrintable(QString("int8 gemm M=%1 N=%2 K=%3").arg(c.M).arg(c.N).arg(c.K)),
                         got, want, 1e-3);
    }
  }

  // The grouped launch (MoE prefill): consecutive row ranges, empty groups among them, each
  // range against its own matrix and scales; one launch, offsets read on the device.
  void int8GroupedGemmUsesEachGroupsMatrix() {
    const std::vector<int32_t> sizes = {0, 1, 70, 0, 129, 5, 64, 0};
    const int64_t G = static_cast<int64_t>(sizes.size()), N = 200, K = 72, ldx = K, ldy = N + 1;
    std::vector<int32_t> offsets = {0};
    for (int32_t n : sizes) offsets.push_back(offsets.back() + n);
    const int64_t R = offsets.back();
    const std::vector<float> x = RoundBf16(Normal(static_cast<size_t>(R * ldx), 300));
    const std::vector<float> y0 = Normal(static_cast<size_t>(R * ldy), 301);
    std::vector<std::unique_ptr<DeviceBuffer<int8_t>>> dq;
    std::vector<std::unique_ptr<DeviceBuffer<float>>> ds;
    std::vector<const int8_t*> qptrs;
    std::vector<const float*> sptrs;
    std::vector<float> want(y0);
    for (int64_t g = 0; g < G; ++g) {
      const std::vector<float> w = Normal(static_cast<size_t>(N * K), 400 + g, 0.1f);
      std::vector<int8_t> q;
      std::vector<float> scale;
      HostQuantize(w, N, K, &q, &scale);
      qptrs.push_back(dq.emplace_back(std::make_unique<DeviceBuffer<int8_t>>(q))->get());
      sptrs.push_back(ds.emplace_back(std::make_unique<DeviceBuffer<float>>(scale))->get());
      for (int64_t r = offsets[g]; r < offsets[g + 1]; ++r)
        for (int64_t n = 0; n < N; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k) acc += double(x[r * ldx + k]) * q[n * K + k];
          want[r * ldy + n] = static_cast<float>(y0[r * ldy + n] + acc * scale[n]);
        }
    }
    DeviceBuffer<uint16_t> dx(ToBf16(x));
    DeviceBuffer<float> dy(y0);
    DeviceBuffer<int32_t> doff(offsets);
    DeviceBuffer<const int8_t*> dqp(qptrs);
    DeviceBuffer<const float*> dsp(sptrs);
    kernels::Int8GroupedGemmArgs a;
    a.R = R;
    a.N = N;
    a.K = K;
    a.groups = G;
    a.offsets = doff.get();
    a.x = dx.get();
    a.ldx = ldx;
    a.q = dqp.get();
    a.scale = dsp.get();
    a.y = dy.get();
    a.ldy = ldy;
    a.accumulate = true;
    FOLIO_EXPECT_OK(kernels::Int8GemmGrouped(a, nullptr));
    FOLIO_EXPECT_CLOSE("int8 grouped gemm", dy.Download(), want, 1e-3);
  }

  void int8GemmRefusesShapesItCannotLoad() {
    DeviceBuffer<uint16_t> dx(64);
    DeviceBuffer<int8_t> dq(64);
    DeviceBuffer<float> ds(8), dy(8);
    kernels::Int8GemmArgs a;
    a.M = 1;
    a.N = 2;
    a.K = 12;  // not a multiple of 8
    a.x = dx.get();
    a.ldx = 12;
    a.q = dq.get();
    a.scale = ds.get();
    a.y = dy.get();
    a.ldy = 2;
    const Status s = kernels::Int8Gemm(a, nullptr);
    QVERIFY(!s.ok());
    QVERIFY(s.message().find("multiples of 8") != std::string::npos);
    a.K = 8;
    a.ldx = 8;
    a.x = dx.get() + 1;  // 2-byte aligned only
    QVERIFY(!kernels::Int8Gemm(a, nullptr).ok());
  }

  void syntheticFillEqualsTheHostValues() {
    const SyntheticFill fills[] = {
        {0x1234567890abcdefull, 0.0f, 0.02f}, {42, 1.0f, 0.1f}, {~0ull, -3.5f, 7.25f}};
    for (const SyntheticFill& f : fills) {
      for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{1000003}, int64_t{1} << 20}) {
        for (bool misaligned : {false, true}) {
          // misaligned: start one element into the buffer (the element-at-a-time path).
          const int64_t off = misaligned ? 1 : 0;
          DeviceBuffer<float> d32(static_cast<size_t>(n + off));
          DeviceBuffer<uint16_t> d16(static_cast<size_t>(n + off));
          FOLIO_EXPECT_OK(kernels::FillSynthetic(f, n, DType::kF32, d32.get() + off, nullptr));
          FOLIO_EXPECT_OK(kernels::FillSynthetic(f, n, DType::kBF16, d16.get() + off, nullptr));
          const std::vector<float> g32 = d32.Download();
          const std::vector<uint16_t> g16 = d16.Download();
          for (int64_t i = 0; i < n; ++i) {
            const float want = SyntheticValue(f.key, f.offset, f.scale, static_cast<uint64_t>(i));
            if (Bits(g32[off + i]) != Bits(want) || g16[off + i] != F32ToBf16(want)) {
              QFAIL(qPrintable(QString("element %1 of %2 (key %3): f32 %4 bf16 %5, host %6")
                                   .arg(i)
                                   .arg(n)
                                   .arg(f.key)
                                   .arg(double(g32[off + i]))
                                   .arg(double(Bf16ToF32(g16[off + i])))
                                   .arg(double(want))));
            }
          }
        }
      }
    }
  }

  // 2^31 + 4096 bf16 elements (4 GiB): the last 8192 must match too (64-bit indices).
  void syntheticFillIndexesPast2To31() {
    const int64_t n = (int64_t{1} << 31) + 4096, tail = 8192;
    size_t free_bytes = 0, total = 0;
    if (!kernels::CudaMemInfo(&free_bytes, &total) || free_bytes < size_t{6} << 30)
      QSKIP("needs 6 GiB of free device memory");
    DeviceBuffer<uint16_t> d(static_cast<size_t>(n));
    QVERIFY(d.get() != nullptr);
    const SyntheticFill f{777, 0.5f, 0.25f};
    FOLIO_EXPECT_OK(kernels::FillSynthetic(f, n, DType::kBF16, d.get(), nullptr));
    std::vector<uint16_t> got(tail);
    QCOMPARE(cudaMemcpy(got.data(), d.get() + (n - tail), tail * sizeof(uint16_t),
                        cudaMemcpyDeviceToHost),
             cudaSuccess);
    for (int64_t j = 0; j < tail; ++j) {
      const uint64_t i = static_cast<uint64_t>(n - tail + j);
      QCOMPARE(got[j], F32ToBf16(SyntheticValue(f.key, f.offset, f.scale, i)));
    }
  }

  void syntheticFillRefusesInactiveFills() {
    DeviceBuffer<float> d(4);
    QVERIFY(!kernels::FillSynthetic(SyntheticFill{}, 4, DType::kF32, d.get(), nullptr).ok());
    QVERIFY(!kernels::FillSynthetic({1, 0.0f, 1.0f}, 4, DType::kI32, d.get(), nullptr).ok());
  }
};

FOLIO_GPU_TEST_MAIN(TestGpuInt8)
#include "test_gpu_int8.moc"
