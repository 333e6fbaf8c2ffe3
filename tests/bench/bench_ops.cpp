// Op microbenchmarks for the CPU path at Jamba-like shapes: prints figures, asserts nothing.
//   build/bin/bench_ops [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "engine/ops.h"
#include "engine/quant.h"
#include "tests/common/tensors.h"

using namespace folio;

namespace {

double Seconds(const std::function<void()>& fn, int reps) {
  fn();  // warm up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

// Seeded values in [-1, 1) (the same seed each call: figures need no variety).
std::vector<float> Random(int64_t n) {
  std::mt19937 rng(1);
  return testing::RandomVec(rng, n);
}

testing::OwnedTensor MakeWeight(int64_t N, int64_t K, DType dt) {
  return testing::MakeTensor(Random(N * K), {N, K}, dt, false, "w");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) cpu::SetNumThreads(std::atoi(argv[1]));
  std::printf("threads: %d\n", cpu::NumThreads());
  const int64_t N = 4096, K = 4096;
  for (DType dt : {DType::kBF16, DType::kF32}) {
    const testing::OwnedTensor w = MakeWeight(N, K, dt);
    const auto x = Random(512 * K);
    std::vector<float> y(static_cast<size_t>(512 * N));
    const double mv = Seconds([&] { cpu::MatMul(x.data(), 1, K, w.view, nullptr, y.data()); }, 20);
    std::printf("matvec  %s [%lld x %lld], T=1:   %.3f ms  %.1f GB/s of weights\n",
                DTypeName(dt).data(), (long long)N, (long long)K, mv * 1e3,
                double(w.view.nbytes) / mv / 1e9);
    const double mm = Seconds([&] { cpu::MatMul(x.data(), 512, K, w.view, nullptr, y.data()); }, 3);
    std::printf("gemm    %s [%lld x %lld], T=512: %.1f ms  %.1f GFLOP/s\n", DTypeName(dt).data(),
                (long long)N, (long long)K, mm * 1e3, 2.0 * 512 * N * K / mm / 1e9);
  }
  {  // int8 experts (--experts-int8) against bf16 at an expert's gate/up shape
    const int64_t NE = 14336, KE = 4096;
    const testing::OwnedTensor w = MakeWeight(NE, KE, DType::kBF16);
    const auto t0 = std::chrono::steady_clock::now();
    const Int8Matrix q = QuantizeInt8Rows(w.view).value();
    const double qs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("quantise bf16 -> int8 [%lld x %lld]: %.0f ms (one thread)\n", (long long)NE,
                (long long)KE, qs * 1e3);
    const auto x = Random(KE);
    std::vector<float> y(static_cast<size_t>(NE));
    const TensorView qv = q.view();
    for (const TensorView* v : {&w.view, &qv}) {
      const double bytes = v->dtype == DType::kI8 ? double(q.bytes()) : double(w.view.nbytes);
      const double mv = Seconds([&] { cpu::MatMul(x.data(), 1, KE, *v, nullptr, y.data()); }, 10);
      std::printf("matvec  %s [%lld x %lld], T=1:   %.3f ms  %.1f GB/s of weights\n",
                  DTypeName(v->dtype).data(), (long long)NE, (long long)KE, mv * 1e3,
                  bytes / mv / 1e9);
    }
  }
  {
    const int64_t T = 512, Dn = 8192, S = 16;
    const auto x = Random(T * Dn), dt = Random(T * Dn), B = Random(T * S), C = Random(T * S);
    auto A = Random(Dn * S);
    for (float& a : A) a = -std::abs(a);
    const auto Dv = Random(Dn);
    std::vector<float> h(static_cast<size_t>(Dn * S)), y(static_cast<size_t>(T * Dn));
    const double s = Seconds([&] {
      cpu::SelectiveScan({T, Dn, S, x.data(), dt.data(), B.data(), C.data(), x.data(), A.data(),
                          Dv.data(), h.data(), y.data()});
    }, 3);
    std::printf("scan    T=%lld d_inner=%lld d_state=%lld: %.1f ms  %.2f us/token\n", (long long)T,
                (long long)Dn, (long long)S, s * 1e3, s * 1e6 / T);
  }
  {
    const int64_t H = 32, KV = 8, hd = 128, past = 4096;
    for (int64_t T : {1, 128}) {
      const auto q = Random(T * H * hd), k = Random((past + T) * KV * hd), v = Random((past + T) * KV * hd);
      std::vector<float> o(q.size());
      const double s = Seconds([&] {
        cpu::Attention({T, past, H, KV, hd, q.data(), k.data(), v.data(), o.data()});
      }, 3);
      std::printf("attn    T=%lld past=%lld heads %lld/%lld hd %lld: %.2f ms\n", (long long)T,
                  (long long)past, (long long)H, (long long)KV, (long long)hd, s * 1e3);
    }
  }
  return 0;
}
