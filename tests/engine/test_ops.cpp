// Every folio::cpu op against its folio::ref twin on seeded random inputs: odd sizes,
// T = 1 (decode) and T > 1 (prefill), f32/bf16/f16 weights (aligned and not), GQA
// ratios 1, 2 and 4, and state carried across calls.
#include <QtTest>

#include <cmath>
#include <random>
#include <vector>

#include "engine/ops.h"
#include "tests/common/tensors.h"

using namespace folio;
using folio::testing::MakeTensor;
using folio::testing::OwnedTensor;
using folio::testing::RandomVec;

namespace {




// Largest |a - b| relative to the reference's scale (max(1, max |b|)).
double ScaledMaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
    if (!std::isfinite(a[i])) return INFINITY;
  }
  return diff / scale;
}

#define EXPECT_CLOSE(a, b, tol, what)                                                    \
  do {                                                                                   \
    const double d_ = ScaledMaxDiff((a), (b));                                           \
    QVERIFY2(d_ <= (tol), qPrintable(QString("%1: scaled max diff %2").arg(what).arg(d_))); \
  } while (0)

}  // namespace

class TestOps : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { cpu::SetNumThreads(3); }  // more threads than cores: uneven chunks

  void matMulMatchesRefForEveryDtypeAndShape() {
    std::mt19937 rng(1);
    const int64_t shapes[][3] = {{1, 64, 96}, {1, 301, 45}, {2, 17, 33}, {3, 130, 257},
                                 {4, 64, 512}, {37, 301, 45}, {64, 96, 1000}, {5, 8, 1}};
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
      for (const auto& s : shapes) {
        for (int variant = 0; variant < 2; ++variant) {
          const int64_t T = s[0], K = s[1], N = s[2];
          const auto x = RandomVec(rng, T * K);
          auto W = MakeTensor(RandomVec(rng, N * K, 0.5f), {N, K}, dt, variant == 1);
          auto bias = MakeTensor(RandomVec(rng, N), {N}, dt);
          std::vector<float> y_ref(static_cast<size_t>(T * N)), y_cpu(y_ref.size(), NAN);
          const TensorView* b = variant == 1 ? &bias.view : nullptr;
          ref::MatMul(x.data(), T, K, W.view, b, y_ref.data());
          cpu::MatMul(x.data(), T, K, W.view, b, y_cpu.data());
          EXPECT_CLOSE(y_cpu, y_ref, 2e-6 * std::sqrt(double(K)) + 1e-6,
                       QString("MatMul %1 T=%2 K=%3 N=%4 variant %5")
                           .arg(QString::fromLatin1(DTypeName(dt).data(), 0))
                           .arg(T).arg(K).arg(N).arg(variant));
        }
      }
    }
  }

  void rmsNormMatchesRefAndAllowsAliasing() {
    std::mt19937 rng(2);
    for (int64_t dim : {1, 8, 64, 333}) {
      for (int64_t rows : {1, 7, 50}) {
        auto x = RandomVec(rng, rows * dim, 3.0f);
        auto w = MakeTensor(RandomVec(rng, dim), {dim}, DType::kBF16);
        std::vector<float> y_ref(x.size());
        ref::RmsNorm(x.data(), w.view, 1e-6, rows, dim, y_ref.data());
        cpu::RmsNorm(x.data(), w.view, 1e-6, rows, dim, x.data());  // in place
        EXPECT_CLOSE(x, y_ref, 1e-6, QString("RmsNorm dim=%1 rows=%2").arg(dim).arg(rows));
      }
    }
  }

  void swiGluMatchesRef() {
    std::mt19937 rng(3);
    for (int64_t n : {1, 5, 96, 40001}) {
      const auto g = RandomVec(rng, n, 8.0f), u = RandomVec(rng, n, 2.0f);
      std::vector<float> y_ref(static_cast<size_t>(n)), y_cpu(y_ref.size());
      ref::SwiGLU(g.data(), u.data(), n, y_ref.data());
      cpu::SwiGLU(g.data(), u.data(), n, y_cpu.data());
      EXPECT_CLOSE(y_cpu, y_ref, 1e-6, QString("SwiGLU n=%1").arg(n));
    }
  }

  void softmaxMatchesRefAndSumsToOne() {
    std::mt19937 rng(4);
    for (int64_t n : {1, 3, 512, 4099}) {
      for (int64_t rows : {1, 9}) {
        auto a = RandomVec(rng, rows * n, 20.0f);
        auto b = a;
        ref::Softmax(a.data(), rows, n);
        cpu::Softmax(b.data(), rows, n);
        EXPECT_CLOSE(b, a, 1e-6, QString("Softmax n=%1").arg(n));
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += b[static_cast<size_t>(i)];
        QVERIFY(std::fabs(sum - 1.0) < 1e-4);
      }
    }
  }

  void causalConvMatchesRefAndCarriesState() {
    std::mt19937 rng(5);
    for (int64_t K : {2, 4}) {
      for (int64_t C : {1, 37, 256}) {
        for (int64_t T : {1, 3, 11}) {
          const auto x = RandomVec(rng, T * C), w = RandomVec(rng, C * K), b = RandomVec(rng, C);
          auto state_ref = RandomVec(rng, C * (K - 1));
          auto state_cpu = state_ref;
          std::vector<float> y_ref(static_cast<size_t>(T * C)), y_cpu(y_ref.size());
          CausalConv1dParams p{T, C, K, x.data(), w.data(), b.data(), state_ref.data(), y_ref.data()};
          ref::CausalConv1d(p);
          p.state = state_cpu.data();
          p.out = y_cpu.data();
          cpu::CausalConv1d(p);
          const QString what = QString("CausalConv1d K=%1 C=%2 T=%3").arg(K).arg(C).arg(T);
          EXPECT_CLOSE(y_cpu, y_ref, 1e-6, what);
          EXPECT_CLOSE(state_cpu, state_ref, 0, what + " state");
        }
      }
    }
  }

  void causalConvInPiecesEqualsOneCall() {
    std::mt19937 rng(6);
    const int64_t C = 19, K = 4, T = 10;
    const auto x = RandomVec(rng, T * C), w = RandomVec(rng, C * K);
    std::vector<float> s_whole(static_cast<size_t>(C * (K - 1)), 0.0f), s_parts = s_whole;
    std::vector<float> y_whole(static_cast<size_t>(T * C)), y_parts(y_whole.size());
    cpu::CausalConv1d({T, C, K, x.data(), w.data(), nullptr, s_whole.data(), y_whole.data()});
    for (int64_t t0 = 0, n = 1; t0 < T; t0 += n, ++n) {  // pieces of 1, 2, 3, 4 tokens
      const int64_t len = std::min(n, T - t0);
      cpu::CausalConv1d({len, C, K, x.data() + t0 * C, w.data(), nullptr, s_parts.data(),
                         y_parts.data() + t0 * C});
    }
    EXPECT_CLOSE(y_parts, y_whole, 1e-6, QString("conv in pieces"));
  }

  void selectiveScanMatchesRefWithAndWithoutGate() {
    std::mt19937 rng(7);
    for (int64_t N : {1, 8, 16}) {
      for (int64_t Dn : {1, 37, 128}) {
        for (int64_t T : {1, 13}) {
          for (bool gate : {false, true}) {
            const auto x = RandomVec(rng, T * Dn), z = RandomVec(rng, T * Dn, 3.0f);
            auto dt = RandomVec(rng, T * Dn);
            for (float& v : dt) v = Softplus(v);
            const auto B = RandomVec(rng, T * N), C = RandomVec(rng, T * N);
            auto A = RandomVec(rng, Dn * N);
            for (float& a : A) a = -std::exp(a);
            const auto Dskip = RandomVec(rng, Dn);
            auto h_ref = RandomVec(rng, Dn * N);
            auto h_cpu = h_ref;
            std::vector<float> y_ref(static_cast<size_t>(T * Dn)), y_cpu(y_ref.size());
            SelectiveScanParams p{T, Dn, N, x.data(), dt.data(), B.data(), C.data(),
                                  gate ? z.data() : nullptr, A.data(), Dskip.data(),
                                  h_ref.data(), y_ref.data()};
            ref::SelectiveScan(p);
            p.h = h_cpu.data();
            p.y = y_cpu.data();
            cpu::SelectiveScan(p);
            const QString what =
                QString("SelectiveScan N=%1 D=%2 T=%3 gate=%4").arg(N).arg(Dn).arg(T).arg(gate);
            EXPECT_CLOSE(y_cpu, y_ref, 1e-5, what);
            EXPECT_CLOSE(h_cpu, h_ref, 1e-5, what + " state");
          }
        }
      }
    }
  }

  void attentionMatchesRefForGqaRatios() {
    std::mt19937 rng(8);
    for (int64_t kv_heads : {1, 2, 4}) {
      for (int64_t ratio : {1, 2, 4}) {
        for (int64_t hd : {5, 16}) {
          for (auto [T, past] : {std::pair<int64_t, int64_t>{1, 0}, {1, 9}, {7, 0}, {6, 5},
                                 {70, 0}, {33, 41}}) {
            const int64_t H = kv_heads * ratio;
            const auto q = RandomVec(rng, T * H * hd, 2.0f);
            const auto k = RandomVec(rng, (past + T) * kv_heads * hd, 2.0f);
            const auto v = RandomVec(rng, (past + T) * kv_heads * hd);
            std::vector<float> o_ref(q.size()), o_cpu(q.size());
            AttentionParams p{T, past, H, kv_heads, hd, q.data(), k.data(), v.data(), o_ref.data()};
            ref::Attention(p);
            p.out = o_cpu.data();
            cpu::Attention(p);
            EXPECT_CLOSE(o_cpu, o_ref, 1e-5,
                         QString("Attention kv=%1 ratio=%2 hd=%3 T=%4 past=%5")
                             .arg(kv_heads).arg(ratio).arg(hd).arg(T).arg(past));
          }
        }
      }
    }
  }

  void attentionIsCausal() {
    // Changing the last key/value must not change the outputs of earlier queries.
    std::mt19937 rng(9);
    const int64_t T = 5, H = 2, hd = 4;
    const auto q = RandomVec(rng, T * H * hd);
    auto k = RandomVec(rng, T * H * hd), v = RandomVec(rng, T * H * hd);
    std::vector<float> a(q.size()), b(q.size());
    cpu::Attention({T, 0, H, H, hd, q.data(), k.data(), v.data(), a.data()});
    for (int64_t i = (T - 1) * H * hd; i < T * H * hd; ++i) k[size_t(i)] += 1, v[size_t(i)] -= 1;
    cpu::Attention({T, 0, H, H, hd, q.data(), k.data(), v.data(), b.data()});
    for (int64_t i = 0; i < (T - 1) * H * hd; ++i) QCOMPARE(b[size_t(i)], a[size_t(i)]);
    QVERIFY(b.back() != a.back());
  }

  void threadCountDoesNotChangeMatMul() {
    std::mt19937 rng(10);
    const int64_t T = 9, K = 77, N = 301;
    const auto x = RandomVec(rng, T * K);
    auto W = MakeTensor(RandomVec(rng, N * K), {N, K}, DType::kBF16);
    std::vector<float> y1(static_cast<size_t>(T * N)), y4(y1.size());
    cpu::SetNumThreads(1);
    cpu::MatMul(x.data(), T, K, W.view, nullptr, y1.data());
    cpu::SetNumThreads(4);
    QCOMPARE(cpu::NumThreads(), 4);
    cpu::MatMul(x.data(), T, K, W.view, nullptr, y4.data());
    cpu::SetNumThreads(3);
    EXPECT_CLOSE(y4, y1, 1e-6, QString("1 vs 4 threads"));
  }
};

QTEST_GUILESS_MAIN(TestOps)
#include "test_ops.moc"
