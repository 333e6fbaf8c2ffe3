// The non-Mamba, non-attention kernels against folio::ref or plain host loops: cuBLAS
// GEMMs (f32 exact, bf16), RMSNorm with the residual add and aliasing, SwiGLU, softplus,
// embedding gather, MoE routing/grouping and both MoE paths (bf16/f32 and int8 experts),
// argmax and top-p sampling; the decode MoE and cuBLAS captured in a CUDA graph.
#include <numeric>

#include "engine/ops.h"
#include "engine/quant.h"
#include "gpu_test_util.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/moe.h"
#include "kernels/norms.h"
#include "kernels/sampling.h"

using namespace folio;
using namespace folio::gputest;

namespace {

// y = x W^T on the host through ref::MatMul (W as float32 or bf16 storage).
std::vector<float> HostMatMul(const std::vector<float>& x, int64_t M, int64_t K, const void* w,
                              DType dt, int64_t N) {
  std::vector<float> y(M * N);
  const TensorView W = HostView(w, dt, {N, K});
  ref::MatMul(x.data(), M, K, W, nullptr, y.data());
  return y;
}

// The MoE of moe.h on the host, in double, from float weights.
std::vector<float> HostMoe(const std::vector<float>& x, int64_t T, int64_t H, int64_t I, int64_t E,
                           int64_t k, const std::vector<float>& router,
                           const std::vector<std::vector<float>>& gate,
                           const std::vector<std::vector<float>>& up,
                           const std::vector<std::vector<float>>& down, bool round_act_bf16) {
  std::vector<float> out(T * H, 0.0f);
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x.data() + t * H;
    std::vector<double> logit(E);
    for (int64_t e = 0; e < E; ++e) {
      double s = 0;
      for (int64_t h = 0; h < H; ++h) s += double(router[e * H + h]) * xr[h];
      logit[e] = s;
    }
    double mx = -INFINITY;
    for (double v : logit) mx = std::max(mx, v);
    double sum = 0;
    for (double l : logit) sum += std::exp(l - mx);
    std::vector<int64_t> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return logit[a] > logit[b]; });
    for (int64_t s = 0; s < k; ++s) {
      const int64_t e = order[s];
      const double wgt = std::exp(logit[e] - mx) / sum;  // not renormalised (Jamba)
      std::vector<float> act(I);
      for (int64_t i = 0; i < I; ++i) {
        double g = 0, u = 0;
        for (int64_t h = 0; h < H; ++h) {
          g += double(gate[e][i * H + h]) * xr[h];
          u += double(up[e][i * H + h]) * xr[h];
        }
        act[i] = static_cast<float>(g / (1 + std::exp(-g)) * u);
        if (round_act_bf16) act[i] = Bf16ToF32(F32ToBf16(act[i]));
      }
      for (int64_t j = 0; j < H; ++j) {
        double d = 0;
        for (int64_t i = 0; i < I; ++i) d += double(down[e][j * I + i]) * act[i];
        out[t * H + j] += static_cast<float>(wgt * d);
      }
    }
  }
  return out;
}

// An MoE layer with int8 experts on the device (quantised on the host by engine/quant.h),
// plus the dequantised float weights (q * scale) the host reference runs on.
struct Int8MoeFixture {
  int64_t E, H, I;
  std::vector<float> router;  // as the GPU sees it (bf16-rounded when the router is bf16)
  std::vector<std::vector<float>> gate, up, down;  // dequantised
  std::vector<std::unique_ptr<DeviceBuffer<int8_t>>> qs;
  std::vector<std::unique_ptr<DeviceBuffer<float>>> scales;
  std::unique_ptr<DeviceBuffer<float>> router32;
  std::unique_ptr<DeviceBuffer<uint16_t>> router16;
  std::unique_ptr<DeviceBuffer<const void*>> dptrs;
  std::unique_ptr<DeviceBuffer<const float*>> dscales;
  kernels::MoeWeights w;

  Int8MoeFixture(int64_t E_, int64_t H_, int64_t I_, bool router_bf16, uint32_t seed)
      : E(E_), H(H_), I(I_) {
    router = Normal(E * H, seed, 0.3f);
    if (router_bf16) router = RoundBf16(router);
    router32 = std::make_unique<DeviceBuffer<float>>(router);
    router16 = std::make_unique<DeviceBuffer<uint16_t>>(ToBf16(router));
    w.n_experts = E;
    w.hidden = H;
    w.intermediate = I;
    w.dtype = router_bf16 ? DType::kBF16 : DType::kF32;
    w.router = router_bf16 ? static_cast<const void*>(router16->get()) : router32->get();
    w.int8 = true;
    std::vector<const void*> ptrs[3];
    std::vector<const float*> sc[3];
    for (int m = 0; m < 3; ++m) {
      const int64_t rows = m == 2 ? H : I, cols = m == 2 ? I : H;
      for (int64_t e = 0; e < E; ++e) {
        const std::vector<float> f = Normal(rows * cols, seed + 100 * (m + 1) + e, 0.2f);
        // Finite normal data: QuantizeInt8Rows cannot fail on it.
        Result<Int8Matrix> qm = QuantizeInt8Rows(HostView(f.data(), DType::kF32, {rows, cols}));
        std::vector<float> deq(f.size());
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c)
            deq[r * cols + c] = qm.value().q[r * cols + c] * qm.value().scale[r];
        (m == 0 ? gate : m == 1 ? up : down).push_back(deq);
        ptrs[m].push_back(
            qs.emplace_back(std::make_unique<DeviceBuffer<int8_t>>(qm.value().q))->get());
        sc[m].push_back(
            scales.emplace_back(std::make_unique<DeviceBuffer<float>>(qm.value().scale))->get());
      }
    }
    w.gate = ptrs[0];
    w.up = ptrs[1];
    w.down = ptrs[2];
    w.gate_scale = sc[0];
    w.up_scale = sc[1];
    w.down_scale = sc[2];
    std::vector<const void*> all_ptrs;
    std::vector<const float*> all_scales;
    for (int m = 0; m < 3; ++m) {
      all_ptrs.insert(all_ptrs.end(), ptrs[m].begin(), ptrs[m].end());
      all_scales.insert(all_scales.end(), sc[m].begin(), sc[m].end());
    }
    dptrs = std::make_unique<DeviceBuffer<const void*>>(all_ptrs);
    dscales = std::make_unique<DeviceBuffer<const float*>>(all_scales);
    w.device_ptrs = dptrs->get();
    w.device_scales = dscales->get();
  }
};

}  // namespace

class TestGpuDense : public QObject {
  Q_OBJECT
 private slots:
  void gemmF32IsExactAndBf16IsClose() {
    auto runner = kernels::GemmRunner::Create(nullptr);
    QVERIFY2(runner.ok(), runner.status().message().c_str());
    for (auto [M, N, K] :
         {std::tuple<int64_t, int64_t, int64_t>{1, 7, 33}, {37, 64, 48}, {130, 97, 257}}) {
      const std::vector<float> x = Normal(M * (K + 3), 11), w = Normal(N * K, 12),
                               y0 = Normal(M * N, 13);
      std::vector<float> xc(M * K);  // the contiguous view of x's first K columns of each row
      for (int64_t m = 0; m < M; ++m)
        for (int64_t kk = 0; kk < K; ++kk) xc[m * K + kk] = x[m * (K + 3) + kk];
      for (bool bf16 : {false, true}) {
        const std::vector<float> xr = bf16 ? RoundBf16(xc) : xc;
        const std::vector<uint16_t> w16 = ToBf16(w);
        std::vector<float> want = bf16 ? HostMatMul(xr, M, K, w16.data(), DType::kBF16, N)
                                       : HostMatMul(xr, M, K, w.data(), DType::kF32, N);
        for (size_t i = 0; i < want.size(); ++i) want[i] += y0[i];  // accumulate = true
        DeviceBuffer<float> dx32(x), dw32(w), dy(y0);
        DeviceBuffer<uint16_t> dx16(ToBf16(x)), dw16(w16);
        kernels::GemmArgs a;
        a.M = M;
        a.N = N;
        a.K = K;
        a.dtype = bf16 ? DType::kBF16 : DType::kF32;
        a.x = bf16 ? static_cast<const void*>(dx16.get()) : dx32.get();
        a.ldx = K + 3;
        a.W = bf16 ? static_cast<const void*>(dw16.get()) : dw32.get();
        a.y = dy.get();
        a.ldy = N;
        a.accumulate = true;
        FOLIO_EXPECT_OK(runner.value()->Run(a));
        FOLIO_EXPECT_CLOSE(bf16 ? "gemm bf16" : "gemm f32", dy.Download(), want, 1e-5);
      }
    }
  }

  void rmsNormFusesResidualAndAllowsAliasing() {
    for (auto [rows, dim] : {std::pair<int64_t, int64_t>{1, 8}, {5, 64}, {3, 4097}}) {
      const std::vector<float> x = Normal(rows * dim, 21), r = Normal(rows * dim, 22),
                               w = Normal(dim, 23, 0.5f, 1.0f);
      std::vector<float> h(rows * dim), want(rows * dim);
      for (size_t i = 0; i < h.size(); ++i) h[i] = x[i] + r[i];
      ref::RmsNorm(h.data(), HostView(w.data(), DType::kF32, {dim}), 1e-6, rows, dim, want.data());
      // residual_out over residual_in, out over x: the decoder layer's in-place form.
      DeviceBuffer<float> dx(x), dr(r), dw(w);
      DeviceBuffer<uint16_t> d16(rows * dim);
      kernels::RmsNormParams p;
      p.rows = rows;
      p.dim = dim;
      p.x = dx.get();
      p.x_stride = dim;
      p.residual_in = dr.get();
      p.residual_out = dr.get();
      p.weight = dw.get();
      p.eps = 1e-6f;
      p.out = dx.get();
      p.out_stride = dim;
      p.out_bf16 = d16.get();
      FOLIO_EXPECT_OK(kernels::RmsNorm(p, nullptr));
      FOLIO_EXPECT_CLOSE("rmsnorm out", dx.Download(), want, 1e-5);
      FOLIO_EXPECT_CLOSE("rmsnorm residual", dr.Download(), h, 0.0);
      std::vector<float> b16;
      for (uint16_t v : d16.Download()) b16.push_back(Bf16ToF32(v));
      FOLIO_EXPECT_CLOSE("rmsnorm bf16 out", b16, want, 8e-3);
      // Aliasing x with another row stride would let one row's block overwrite another's input.
      p.residual_in = nullptr;
      p.residual_out = nullptr;
      p.out_stride = dim + 1;
      QVERIFY(!kernels::RmsNorm(p, nullptr).ok());
    }
  }

  void swigluSoftplusGatherMatchHost() {
    const int64_t rows = 7, cols = 131;
    const std::vector<float> gu = Normal(rows * 2 * cols, 31);
    std::vector<float> g(rows * cols), u(rows * cols), want(rows * cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        g[r * cols + c] = gu[r * 2 * cols + c];
        u[r * cols + c] = gu[r * 2 * cols + cols + c];
      }
    ref::SwiGLU(g.data(), u.data(), rows * cols, want.data());
    DeviceBuffer<float> dgu(gu), out(rows * cols);
    kernels::SwiGLUParams sp;
    sp.rows = rows;
    sp.cols = cols;
    sp.gate = dgu.get();
    sp.up = dgu.get() + cols;
    sp.in_stride = 2 * cols;
    sp.out = out.get();
    FOLIO_EXPECT_OK(kernels::SwiGLU(sp, nullptr));
    FOLIO_EXPECT_CLOSE("swiglu", out.Download(), want, 1e-6);
    // In place over gate with contiguous rows (the dense MLP's form) ...
    DeviceBuffer<float> dg(g), du(u);
    sp.gate = dg.get();
    sp.up = du.get();
    sp.in_stride = cols;
    sp.out = dg.get();
    FOLIO_EXPECT_OK(kernels::SwiGLU(sp, nullptr));
    FOLIO_EXPECT_CLOSE("swiglu in place", dg.Download(), want, 1e-6);
    // ... but not over wider input rows: out would overwrite inputs not yet read.
    sp.gate = dgu.get();
    sp.up = dgu.get() + cols;
    sp.in_stride = 2 * cols;
    sp.out = dgu.get();
    QVERIFY(!kernels::SwiGLU(sp, nullptr).ok());

    const std::vector<float> x = Normal(rows * cols, 32, 10.0f), bias = Normal(cols, 33);
    std::vector<float> sw(rows * cols);
    for (size_t i = 0; i < sw.size(); ++i) sw[i] = Softplus(x[i] + bias[i % cols]);
    DeviceBuffer<float> dx(x), db(bias);
    FOLIO_EXPECT_OK(kernels::AddBiasSoftplus(dx.get(), db.get(), rows, cols, cols, nullptr));
    FOLIO_EXPECT_CLOSE("softplus", dx.Download(), sw, 1e-6);

    const int64_t vocab = 50, dim = 19;
    const std::vector<float> table = Normal(vocab * dim, 34);
    const std::vector<int32_t> ids = {0, 49, 7, 7, 13};
    std::vector<float> gathered;
    for (int32_t id : ids)
      gathered.insert(gathered.end(), table.begin() + id * dim, table.begin() + (id + 1) * dim);
    DeviceBuffer<float> dt(table), dout(ids.size() * dim);
    DeviceBuffer<uint16_t> dt16(ToBf16(table));
    DeviceBuffer<int32_t> did(ids);
    FOLIO_EXPECT_OK(kernels::EmbeddingGather(dt.get(), DType::kF32, vocab, dim, did.get(), 5,
                                             dout.get(), nullptr));
    FOLIO_EXPECT_CLOSE("gather f32", dout.Download(), gathered, 0.0);
    FOLIO_EXPECT_OK(kernels::EmbeddingGather(dt16.get(), DType::kBF16, vocab, dim, did.get(), 5,
                                             dout.get(), nullptr));
    FOLIO_EXPECT_CLOSE("gather bf16", dout.Download(), RoundBf16(gathered), 0.0);
  }

  void moeRoutingKeepsTopKWithoutRenormalising() {
    const int64_t T = 37, E = 16, k = 2;
    const std::vector<float> logits = Normal(T * E, 41, 2.0f);
    DeviceBuffer<float> dl(logits), dw(T * k);
    DeviceBuffer<int32_t> de(T * k), off(E + 1), row_of(T * k), token_of(T * k);
    FOLIO_EXPECT_OK(kernels::MoeRoute(dl.get(), T, E, k, false, de.get(), dw.get(), nullptr));
    FOLIO_EXPECT_OK(
        kernels::MoeGroup(de.get(), T, E, k, off.get(), row_of.get(), token_of.get(), nullptr));
    const std::vector<int32_t> ex = de.Download(), offs = off.Download(), ro = row_of.Download(),
                               to = token_of.Download();
    const std::vector<float> w = dw.Download();
    for (int64_t t = 0; t < T; ++t) {
      std::vector<float> p(logits.begin() + t * E, logits.begin() + (t + 1) * E);
      ref::Softmax(p.data(), 1, E);
      std::vector<int64_t> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return p[a] > p[b]; });
      for (int64_t s = 0; s < k; ++s) {
        QCOMPARE(int64_t{ex[t * k + s]}, order[s]);
        QVERIFY(std::fabs(w[t * k + s] - p[order[s]]) < 1e-6f);
        const int32_t r = ro[t * k + s];  // the row holding this assignment belongs to its expert
        QVERIFY(r >= offs[ex[t * k + s]] && r < offs[ex[t * k + s] + 1]);
        QCOMPARE(int64_t{to[r]}, t);
      }
      QVERIFY(w[t * k] + w[t * k + 1] < 1.0f);  // Jamba keeps the raw probabilities
    }
    QCOMPARE(offs[E], static_cast<int32_t>(T * k));
  }

  // The CPU backend's rule (cpu_backend.cpp): rank the softmax probabilities, equal ones to
  // the lower expert index. Rows: all logits equal; an exact three-way tie at the top; two
  // distinct logits whose probabilities both underflow to 0 (ranking by logit would take
  // expert 1 there, the CPU takes expert 0); a random row. k = 3 of 6 experts.
  void moeRoutingBreaksProbabilityTiesByLowestExpert() {
    const int64_t E = 6, k = 3;
    std::vector<float> logits = {
        0.25f,   0.25f,   0.25f, 0.25f, 0.25f,    0.25f,     // all equal
        1.0f,    3.0f,    3.0f,  -2.0f, 3.0f,     0.0f,      // three-way tie at the top
        -200.0f, -150.0f, 10.0f, 10.0f, -300.0f,  -250.0f};  // p underflows to 0 for 0, 1, 4, 5
    const std::vector<float> rnd = Normal(E, 44, 2.0f);
    logits.insert(logits.end(), rnd.begin(), rnd.end());
    const int64_t T = static_cast<int64_t>(logits.size()) / E;
    const std::vector<std::vector<int64_t>> fixed = {{0, 1, 2}, {1, 2, 4}, {2, 3, 0}};
    DeviceBuffer<float> dl(logits), dw(T * k);
    DeviceBuffer<int32_t> de(T * k);
    FOLIO_EXPECT_OK(kernels::MoeRoute(dl.get(), T, E, k, false, de.get(), dw.get(), nullptr));
    const std::vector<int32_t> ex = de.Download();
    const std::vector<float> w = dw.Download();
    for (int64_t t = 0; t < T; ++t) {
      std::vector<float> p(logits.begin() + t * E, logits.begin() + (t + 1) * E);
      ref::Softmax(p.data(), 1, E);
      std::vector<int64_t> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return p[a] > p[b]; });
      for (int64_t s = 0; s < k; ++s) {
        if (t < static_cast<int64_t>(fixed.size())) QCOMPARE(order[s], fixed[t][s]);  // the rule
        QCOMPARE(int64_t{ex[t * k + s]}, order[s]);
        QVERIFY(std::fabs(w[t * k + s] - p[order[s]]) < 1e-6f);
      }
    }
  }

  void moeGroupedAndGemvPathsMatchHost() {
    auto runner = kernels::GemmRunner::Create(nullptr);
    QVERIFY2(runner.ok(), runner.status().message().c_str());
    // H, I = 48, 40 take the GEMV's 16-byte vector loads; 44/36 (bf16) and 42/38 (f32) rows
    // are not 16-byte multiples, so they take its element-at-a-time path. k = 3 once.
    struct Case {
      int64_t T, E;
      bool bf16;
      int64_t H, I, k;
    };
    for (const Case& c : {Case{1, 4, false, 48, 40, 2}, Case{7, 8, false, 48, 40, 2},
                          Case{33, 16, false, 48, 40, 2}, Case{1, 16, true, 48, 40, 2},
                          Case{29, 8, true, 48, 40, 2}, Case{5, 8, true, 44, 36, 3},
                          Case{4, 8, false, 42, 38, 2}}) {
      const int64_t T = c.T, E = c.E, H = c.H, I = c.I, k = c.k;
      const bool bf16 = c.bf16;
      const uint32_t seed = static_cast<uint32_t>(T * 100 + E);
      std::vector<float> x = Normal(T * H, seed), router = Normal(E * H, seed + 1, 0.3f);
      std::vector<std::vector<float>> gate, up, down;
      for (int64_t e = 0; e < E; ++e) {
        gate.push_back(Normal(I * H, seed + 10 + e, 0.2f));
        up.push_back(Normal(I * H, seed + 40 + e, 0.2f));
        down.push_back(Normal(H * I, seed + 70 + e, 0.2f));
      }
      if (bf16) {  // the host sees the rounded values the GPU sees
        x = RoundBf16(x);
        router = RoundBf16(router);
        for (int64_t e = 0; e < E; ++e) {
          gate[e] = RoundBf16(gate[e]);
          up[e] = RoundBf16(up[e]);
          down[e] = RoundBf16(down[e]);
        }
      }
      const std::vector<float> want_grouped =
          HostMoe(x, T, H, I, E, k, router, gate, up, down, bf16);
      const std::vector<float> want_gemv = HostMoe(x, T, H, I, E, k, router, gate, up, down, false);
      // Upload: one buffer per matrix, in the weights' dtype.
      std::vector<std::unique_ptr<DeviceBuffer<float>>> f32s;
      std::vector<std::unique_ptr<DeviceBuffer<uint16_t>>> b16s;
      auto upload = [&](const std::vector<float>& v) -> const void* {
        if (bf16)
          return b16s.emplace_back(std::make_unique<DeviceBuffer<uint16_t>>(ToBf16(v)))->get();
        return f32s.emplace_back(std::make_unique<DeviceBuffer<float>>(v))->get();
      };
      kernels::MoeWeights w;
      w.n_experts = E;
      w.hidden = H;
      w.intermediate = I;
      w.dtype = bf16 ? DType::kBF16 : DType::kF32;
      w.router = upload(router);
      for (int64_t e = 0; e < E; ++e) {
        w.gate.push_back(upload(gate[e]));
        w.up.push_back(upload(up[e]));
        w.down.push_back(upload(down[e]));
      }
      std::vector<const void*> ptrs(w.gate);
      ptrs.insert(ptrs.end(), w.up.begin(), w.up.end());
      ptrs.insert(ptrs.end(), w.down.begin(), w.down.end());
      DeviceBuffer<const void*> dptrs(ptrs);
      w.device_ptrs = dptrs.get();
      DeviceBuffer<float> dx(x), out(T * H);
      DeviceBuffer<uint16_t> dx16(ToBf16(x));
      const size_t ws_bytes = kernels::MoeWorkspaceBytes(T, w, k);
      DeviceBuffer<uint8_t> ws(ws_bytes);
      kernels::MoeForwardParams p;
      p.T = T;
      p.top_k = k;
      p.x = dx.get();
      p.x_w = bf16 ? static_cast<const void*>(dx16.get()) : dx.get();
      p.out = out.get();
      p.workspace = ws.get();
      p.workspace_bytes = ws_bytes;
      const double tol = bf16 ? 2e-3 : 1e-5;
      const QString what = QString("T=%1 E=%2 H=%3 I=%4 k=%5 %6")
                               .arg(T)
                               .arg(E)
                               .arg(H)
                               .arg(I)
                               .arg(k)
                               .arg(bf16 ? "bf16" : "f32");
      FOLIO_EXPECT_OK(kernels::MoeForwardGrouped(p, w, *runner.value()));
      FOLIO_EXPECT_CLOSE(qPrintable("moe grouped " + what), out.Download(), want_grouped, tol);
      FOLIO_EXPECT_OK(kernels::MoeForwardGemv(p, w, *runner.value()));
      FOLIO_EXPECT_CLOSE(qPrintable("moe gemv " + what), out.Download(), want_gemv, tol);
    }
  }

  // Int8 experts: the grouped path (bf16 activations into Int8Gemm) and the GEMV path
  // (float32 activations, int8 rows dequantised in registers) against the float MoE on the
  // dequantised weights. Shapes take both the 16-byte vector loads (H, I multiples of 16)
  // and the element-at-a-time fallback (H = 40, I = 56); routers bf16 and f32.
  void moeInt8BothPathsMatchDequantisedHost() {
    auto runner = kernels::GemmRunner::Create(nullptr);
    QVERIFY2(runner.ok(), runner.status().message().c_str());
    struct Case {
      int64_t T, E, H, I;
      bool router_bf16;
    };
    for (const Case& c :
         {Case{1, 4, 48, 40, true}, Case{7, 8, 64, 96, true}, Case{33, 16, 48, 40, false},
          Case{29, 8, 40, 56, true}, Case{3, 4, 1024, 160, false}, Case{1, 16, 512, 1024, true}}) {
      const int64_t k = 2;
      const uint32_t seed = static_cast<uint32_t>(c.T * 1000 + c.E * 10 + c.H);
      Int8MoeFixture f(c.E, c.H, c.I, c.router_bf16, seed);
      const std::vector<float> x = RoundBf16(Normal(c.T * c.H, seed + 7));  // bf16(x) == x
      const std::vector<float> want_grouped =
          HostMoe(x, c.T, c.H, c.I, c.E, k, f.router, f.gate, f.up, f.down, true);
      const std::vector<float> want_gemv =
          HostMoe(x, c.T, c.H, c.I, c.E, k, f.router, f.gate, f.up, f.down, false);
      DeviceBuffer<float> dx(x), out(c.T * c.H);
      DeviceBuffer<uint16_t> dx16(ToBf16(x));
      const size_t ws_bytes = kernels::MoeWorkspaceBytes(c.T, f.w, k);
      DeviceBuffer<uint8_t> ws(ws_bytes);
      kernels::MoeForwardParams p;
      p.T = c.T;
      p.top_k = k;
      p.x = dx.get();
      p.x_w = c.router_bf16 ? static_cast<const void*>(dx16.get()) : dx.get();
      p.out = out.get();
      p.workspace = ws.get();
      p.workspace_bytes = ws_bytes;
      const QString what = QString("int8 T=%1 E=%2 H=%3 I=%4 router %5")
                               .arg(c.T)
                               .arg(c.E)
                               .arg(c.H)
                               .arg(c.I)
                               .arg(c.router_bf16 ? "bf16" : "f32");
      FOLIO_EXPECT_OK(kernels::MoeForwardGrouped(p, f.w, *runner.value()));
      FOLIO_EXPECT_CLOSE(qPrintable("moe grouped " + what), out.Download(), want_grouped, 2e-3);
      FOLIO_EXPECT_OK(kernels::MoeForwardGemv(p, f.w, *runner.value()));
      // The GEMV dequantises in float32 (no bf16 step), so only float32 rounding separates it
      // from the host (about 1e-5 here): 1e-4, tight enough to catch a bf16 activation.
      FOLIO_EXPECT_CLOSE(qPrintable("moe gemv " + what), out.Download(), want_gemv, 1e-4);
      // accumulate: out += moe(x) on top of the previous result.
      p.accumulate = true;
      FOLIO_EXPECT_OK(kernels::MoeForwardGemv(p, f.w, *runner.value()));
      std::vector<float> twice(want_gemv);
      for (float& v : twice) v *= 2.0f;
      FOLIO_EXPECT_CLOSE(qPrintable("moe gemv accumulate " + what), out.Download(), twice, 1e-4);
    }
  }

  // The decode MoE (router GEMM through cuBLAS, GEMV kernels reading the chosen int8
  // experts) captured once in a CUDA graph and replayed on new inputs: cuBLAS must not
  // allocate during capture (GemmRunner gives it a workspace) and nothing may depend on
  // host values of the captured step.
  void moeDecodeCapturesIntoAGraph() {
    cudaStream_t stream = nullptr;
    QCOMPARE(cudaStreamCreate(&stream), cudaSuccess);  // blocking: waits for the uploads
    {
      auto runner = kernels::GemmRunner::Create(stream);
      QVERIFY2(runner.ok(), runner.status().message().c_str());
      const int64_t E = 8, H = 256, I = 384, k = 2;
      Int8MoeFixture f(E, H, I, true, 4242);
      DeviceBuffer<float> dx(H), out(H);
      DeviceBuffer<uint16_t> dx16(H);
      const size_t ws_bytes = kernels::MoeWorkspaceBytes(1, f.w, k);
      DeviceBuffer<uint8_t> ws(ws_bytes);
      kernels::MoeForwardParams p;
      p.T = 1;
      p.top_k = k;
      p.x = dx.get();
      p.x_w = dx16.get();
      p.out = out.get();
      p.workspace = ws.get();
      p.workspace_bytes = ws_bytes;
      QCOMPARE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
      const Status st = kernels::MoeForwardGemv(p, f.w, *runner.value());
      cudaGraph_t graph = nullptr;
      QCOMPARE(cudaStreamEndCapture(stream, &graph), cudaSuccess);
      QVERIFY2(st.ok(), st.message().c_str());
      cudaGraphExec_t exec = nullptr;
      QCOMPARE(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
      for (uint32_t step = 0; step < 3; ++step) {
        const std::vector<float> x = RoundBf16(Normal(H, 5000 + step));
        dx.Upload(x);
        dx16.Upload(ToBf16(x));
        QCOMPARE(cudaGraphLaunch(exec, stream), cudaSuccess);
        QCOMPARE(cudaStreamSynchronize(stream), cudaSuccess);
        const std::vector<float> want =
            HostMoe(x, 1, H, I, E, k, f.router, f.gate, f.up, f.down, false);
        FOLIO_EXPECT_CLOSE(qPrintable(QString("moe decode graph step %1").arg(step)),
                           out.Download(), want, 1e-4);
      }
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(graph);
    }
    cudaStreamDestroy(stream);
  }

  void argmaxPicksTheLargestLowestIndex() {
    const int64_t rows = 3, vocab = 65536 + 17;
    std::vector<float> l = Normal(rows * vocab, 51);
    l[0 * vocab + 12345] = 50.0f;
    l[1 * vocab + vocab - 1] = 50.0f;
    l[1 * vocab + 0] = NAN;  // NaN never wins
    l[1 * vocab + 4000] = NAN;
    l[2 * vocab + 7] = 50.0f;
    l[2 * vocab + 9000] = 50.0f;  // a tie: the lower index wins
    DeviceBuffer<float> dl(l);
    DeviceBuffer<int32_t> out(rows);
    FOLIO_EXPECT_OK(kernels::ArgmaxRows(dl.get(), rows, vocab, out.get(), nullptr));
    const std::vector<int32_t> got = out.Download();
    QCOMPARE(got[0], 12345);
    QCOMPARE(got[1], static_cast<int32_t>(vocab - 1));
    QCOMPARE(got[2], 7);
  }

  void topPDrawsByInverseCdfOverTheNucleus() {
    const int64_t vocab = 1000;
    const std::vector<float> l = Normal(vocab, 61, 3.0f);
    DeviceBuffer<float> dl(l);
    DeviceBuffer<int32_t> out(1);
    for (float top_p : {1.0f, 0.9f, 0.5f, 1e-6f}) {
      const float temp = 0.8f;
      // Host: probabilities in double, nucleus = tokens with p >= the smallest p of the
      // top-p prefix, inverse CDF in index order.
      std::vector<double> p(vocab);
      double mx = -INFINITY;
      for (float v : l) mx = std::max(mx, double(v));
      double sum = 0;
      for (int64_t i = 0; i < vocab; ++i) sum += (p[i] = std::exp((l[i] - mx) / temp));
      for (double& v : p) v /= sum;
      std::vector<double> sorted(p);
      std::sort(sorted.rbegin(), sorted.rend());
      double mass = 0, tau = 0;
      for (double v : sorted) {
        mass += v;
        tau = v;
        if (mass >= top_p) break;
      }
      double kept = 0;
      for (double v : p) kept += v >= tau ? v : 0;
      for (float u : {0.0f, 0.13f, 0.5f, 0.77f, 0.999f}) {
        double acc = 0, target = u * kept, margin = 1;
        int64_t want = -1;
        for (int64_t i = 0; i < vocab; ++i) {
          if (p[i] < tau) continue;
          margin = std::min(margin, std::fabs(acc - target));
          acc += p[i];
          if (want < 0 && target < acc) want = i;
        }
        if (margin < 1e-5) continue;  // u on a CDF step: float rounding may go either way
        FOLIO_EXPECT_OK(kernels::TopPSample(dl.get(), vocab, temp, top_p, u, out.get(), nullptr));
        QCOMPARE(int64_t{out.Download()[0]}, want);
      }
    }
  }
};

FOLIO_GPU_TEST_MAIN(TestGpuDense)
#include "test_gpu_dense.moc"
