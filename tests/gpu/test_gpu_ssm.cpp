// The Mamba kernels (selective scan, state update, causal conv1d) against folio::ref on
// seeded random inputs: odd sizes, T = 1, T not a multiple of the 64-token chunk, strided
// inputs, the fused softplus and gate, and the step kernels run token by token.
#include "engine/ops.h"
#include "gpu_test_util.h"
#include "kernels/conv1d.h"
#include "kernels/selective_scan.h"

using namespace folio;
using namespace folio::gputest;

namespace {

struct ScanCase {
  int64_t T, d_inner, d_state;
  bool gate;
};

// Host inputs of one scan; dt_raw goes through softplus on the device when fused.
struct ScanInputs {
  std::vector<float> x, dt_raw, dt, bias, B, C, z, A, D, h0;
};

ScanInputs MakeScanInputs(const ScanCase& c, uint32_t seed) {
  const size_t TD = c.T * c.d_inner, TN = c.T * c.d_state, DN = c.d_inner * c.d_state;
  ScanInputs in;
  in.x = Normal(TD, seed + 1);
  in.dt_raw = Uniform(TD, seed + 2, -4.0f, 1.0f);
  in.bias = Uniform(c.d_inner, seed + 3, -1.0f, 0.5f);
  in.dt.resize(TD);
  for (size_t i = 0; i < TD; ++i) in.dt[i] = Softplus(in.dt_raw[i] + in.bias[i % c.d_inner]);
  in.B = Normal(TN, seed + 4);
  in.C = Normal(TN, seed + 5);
  in.z = Normal(TD, seed + 6);
  in.A = Uniform(DN, seed + 7, -1.0f, 1.5f);
  for (float& a : in.A) a = -std::exp(a);
  in.D = Normal(c.d_inner, seed + 8);
  in.h0 = Normal(DN, seed + 9, 0.5f);
  return in;
}

// Reference: y and the final h.
void RefScan(const ScanCase& c, const ScanInputs& in, std::vector<float>* y,
             std::vector<float>* h) {
  *h = in.h0;
  y->assign(c.T * c.d_inner, 0.0f);
  folio::SelectiveScanParams p;
  p.T = c.T;
  p.d_inner = c.d_inner;
  p.d_state = c.d_state;
  p.x = in.x.data();
  p.dt = in.dt.data();
  p.B = in.B.data();
  p.C = in.C.data();
  p.z = c.gate ? in.z.data() : nullptr;
  p.A = in.A.data();
  p.D = in.D.data();
  p.h = h->data();
  p.y = y->data();
  ref::SelectiveScan(p);
}

// Copies [T, cols] into a [T, stride] buffer at column `offset` (to exercise strides).
std::vector<float> Widen(const std::vector<float>& v, int64_t T, int64_t cols, int64_t stride,
                         int64_t offset) {
  std::vector<float> out(static_cast<size_t>(T * stride), NAN);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < cols; ++i) out[t * stride + offset + i] = v[t * cols + i];
  return out;
}

const ScanCase kScanCases[] = {
    {1, 5, 8, true},    {63, 37, 16, true}, {64, 64, 16, false},  {200, 130, 16, true},
    {70, 33, 64, true}, {17, 40, 3, false}, {129, 257, 32, true}, {1, 1, 1, true},
    {66, 32801, 16, true},  // d_inner >= 32768: 128-thread blocks, a ragged last block
};

struct ConvCase {
  int64_t T, channels, kernel;
};
const ConvCase kConvCases[] = {{1, 7, 4},    {2, 16, 4}, {5, 33, 4}, {130, 200, 4},
                               {64, 128, 1}, {9, 10, 8}, {65, 3, 2}};

}  // namespace

class TestGpuSsm : public QObject {
  Q_OBJECT
 private slots:
  void scanMatchesReferenceOnOddShapes() {
    uint32_t seed = 100;
    for (const ScanCase& c : kScanCases) {
      for (bool fused : {false, true}) {
        const ScanInputs in = MakeScanInputs(c, seed += 10);
        std::vector<float> want_y, want_h;
        RefScan(c, in, &want_y, &want_h);
        DeviceBuffer<float> x(in.x), dt(fused ? in.dt_raw : in.dt), bias(in.bias), B(in.B), C(in.C),
            z(in.z), A(in.A), D(in.D), h(in.h0), y(c.T * c.d_inner);
        kernels::SelectiveScanParams p;
        p.T = c.T;
        p.d_inner = c.d_inner;
        p.d_state = c.d_state;
        p.x = x.get();
        p.dt = dt.get();
        p.B = B.get();
        p.C = C.get();
        p.z = c.gate ? z.get() : nullptr;
        p.A = A.get();
        p.D = D.get();
        p.dt_bias = fused ? bias.get() : nullptr;
        p.dt_softplus = fused;
        p.h = h.get();
        p.y = y.get();
        kernels::SetContiguousStrides(&p);
        FOLIO_EXPECT_OK(kernels::SelectiveScan(p, nullptr));
        const QString what = QString("T=%1 d_inner=%2 d_state=%3 fused=%4")
                                 .arg(c.T)
                                 .arg(c.d_inner)
                                 .arg(c.d_state)
                                 .arg(fused);
        FOLIO_EXPECT_CLOSE(qPrintable("y " + what), y.Download(), want_y, 2e-4);
        FOLIO_EXPECT_CLOSE(qPrintable("h " + what), h.Download(), want_h, 2e-4);
      }
    }
  }

  void scanReadsStridedSlices() {
    // x and z as the two halves of an in_proj output [T, 2*d_inner]; B and C inside an
    // x_proj output [T, dt_rank + 2*d_state]; y into a wider buffer.
    const ScanCase c{75, 48, 16, true};
    const ScanInputs in = MakeScanInputs(c, 7);
    std::vector<float> want_y, want_h;
    RefScan(c, in, &want_y, &want_h);
    const int64_t dt_rank = 5, xp = dt_rank + 2 * c.d_state;
    std::vector<float> xz = Widen(in.x, c.T, c.d_inner, 2 * c.d_inner, 0);
    const std::vector<float> zw = Widen(in.z, c.T, c.d_inner, 2 * c.d_inner, c.d_inner);
    for (size_t i = 0; i < xz.size(); ++i)
      if (std::isnan(xz[i])) xz[i] = zw[i];
    std::vector<float> bc = Widen(in.B, c.T, c.d_state, xp, dt_rank);
    const std::vector<float> cw = Widen(in.C, c.T, c.d_state, xp, dt_rank + c.d_state);
    for (size_t i = 0; i < bc.size(); ++i)
      if (std::isnan(bc[i])) bc[i] = cw[i];
    DeviceBuffer<float> dxz(xz), dbc(bc), dt(in.dt), A(in.A), D(in.D), h(in.h0),
        y(c.T * 3 * c.d_inner);
    kernels::SelectiveScanParams p;
    p.T = c.T;
    p.d_inner = c.d_inner;
    p.d_state = c.d_state;
    p.x = dxz.get();
    p.x_stride = 2 * c.d_inner;
    p.z = dxz.get() + c.d_inner;
    p.z_stride = 2 * c.d_inner;
    p.dt = dt.get();
    p.dt_stride = c.d_inner;
    p.B = dbc.get() + dt_rank;
    p.C = dbc.get() + dt_rank + c.d_state;
    p.B_stride = p.C_stride = xp;
    p.A = A.get();
    p.D = D.get();
    p.h = h.get();
    p.y = y.get();
    p.y_stride = 3 * c.d_inner;
    FOLIO_EXPECT_OK(kernels::SelectiveScan(p, nullptr));
    const std::vector<float> yw = y.Download();
    std::vector<float> got(c.T * c.d_inner);
    for (int64_t t = 0; t < c.T; ++t)
      for (int64_t d = 0; d < c.d_inner; ++d) got[t * c.d_inner + d] = yw[t * 3 * c.d_inner + d];
    FOLIO_EXPECT_CLOSE("strided y", got, want_y, 2e-4);
    FOLIO_EXPECT_CLOSE("strided h", h.Download(), want_h, 2e-4);
  }

  void stateUpdateStepByStepMatchesScan() {
    // The decode kernel run T times must equal the reference over all T tokens
    // (d_state 8, 16, 32 on the shuffle kernel; 64 on the scan fallback).
    for (const ScanCase& c :
         {ScanCase{9, 37, 8, true}, ScanCase{5, 64, 16, true}, ScanCase{4, 33, 32, false},
          ScanCase{3, 20, 64, true}, ScanCase{6, 50, 5, true}}) {
      const ScanInputs in = MakeScanInputs(c, 900 + static_cast<uint32_t>(c.d_state));
      std::vector<float> want_y, want_h;
      RefScan(c, in, &want_y, &want_h);
      DeviceBuffer<float> x(in.x), dt(in.dt_raw), bias(in.bias), B(in.B), C(in.C), z(in.z), A(in.A),
          D(in.D), h(in.h0), y(c.T * c.d_inner);
      for (int64_t t = 0; t < c.T; ++t) {
        kernels::SelectiveScanParams p;
        p.T = 1;
        p.d_inner = c.d_inner;
        p.d_state = c.d_state;
        kernels::SetContiguousStrides(&p);
        p.x = x.get() + t * c.d_inner;
        p.dt = dt.get() + t * c.d_inner;
        p.B = B.get() + t * c.d_state;
        p.C = C.get() + t * c.d_state;
        p.z = c.gate ? z.get() + t * c.d_inner : nullptr;
        p.A = A.get();
        p.D = D.get();
        p.dt_bias = bias.get();
        p.dt_softplus = true;
        p.h = h.get();
        p.y = y.get() + t * c.d_inner;
        FOLIO_EXPECT_OK(kernels::SelectiveStateUpdate(p, nullptr));
      }
      const QString what = QString("d_state=%1").arg(c.d_state);
      FOLIO_EXPECT_CLOSE(qPrintable("step y " + what), y.Download(), want_y, 2e-4);
      FOLIO_EXPECT_CLOSE(qPrintable("step h " + what), h.Download(), want_h, 2e-4);
    }
  }

  void scanRejectsBadShapes() {
    kernels::SelectiveScanParams p;
    p.T = 4;
    p.d_inner = 8;
    p.d_state = 65;
    QVERIFY(!kernels::SelectiveScan(p, nullptr).ok());
    p.d_state = 16;  // pointers missing
    QVERIFY(!kernels::SelectiveScan(p, nullptr).ok());
  }

  void convMatchesReferenceWithCarriedState() {
    uint32_t seed = 300;
    for (const ConvCase& c : kConvCases) {
      for (bool silu : {false, true}) {
        const int64_t km1 = c.kernel - 1;
        const std::vector<float> x = Normal(c.T * c.channels, ++seed),
                                 w = Normal(c.channels * c.kernel, ++seed),
                                 b = Normal(c.channels, ++seed),
                                 s0 = Normal(c.channels * km1, ++seed);
        std::vector<float> want(c.T * c.channels), want_state = s0;
        folio::CausalConv1dParams rp;
        rp.T = c.T;
        rp.channels = c.channels;
        rp.kernel = c.kernel;
        rp.x = x.data();
        rp.weight = w.data();
        rp.bias = b.data();
        rp.state = want_state.data();
        rp.out = want.data();
        ref::CausalConv1d(rp);
        if (silu)
          for (float& v : want) v = Silu(v);
        // The input sits in the first half of a [T, 2*channels] buffer, as in_proj leaves it.
        DeviceBuffer<float> dx(Widen(x, c.T, c.channels, 2 * c.channels, 0)), dw(w), db(b), ds(s0),
            out(c.T * c.channels);
        kernels::CausalConv1dParams p;
        p.T = c.T;
        p.channels = c.channels;
        p.kernel = c.kernel;
        p.x = dx.get();
        p.x_stride = 2 * c.channels;
        p.weight = dw.get();
        p.bias = db.get();
        p.state = km1 ? ds.get() : nullptr;
        p.out = out.get();
        p.out_stride = c.channels;
        p.silu = silu;
        FOLIO_EXPECT_OK(kernels::CausalConv1d(p, nullptr));
        const QString what =
            QString("T=%1 C=%2 K=%3 silu=%4").arg(c.T).arg(c.channels).arg(c.kernel).arg(silu);
        FOLIO_EXPECT_CLOSE(qPrintable("conv out " + what), out.Download(), want, 1e-5);
        if (km1)
          FOLIO_EXPECT_CLOSE(qPrintable("conv state " + what), ds.Download(), want_state, 0.0);
      }
    }
  }

  void convStepMatchesPrefill() {
    for (const ConvCase& c : {ConvCase{7, 37, 4}, ConvCase{3, 5, 8}, ConvCase{4, 9, 1}}) {
      const int64_t km1 = c.kernel - 1;
      const std::vector<float> x = Normal(c.T * c.channels, 41),
                               w = Normal(c.channels * c.kernel, 42), b = Normal(c.channels, 43),
                               s0 = Normal(c.channels * km1, 44);
      std::vector<float> want(c.T * c.channels), want_state = s0;
      folio::CausalConv1dParams rp;
      rp.T = c.T;
      rp.channels = c.channels;
      rp.kernel = c.kernel;
      rp.x = x.data();
      rp.weight = w.data();
      rp.bias = b.data();
      rp.state = want_state.data();
      rp.out = want.data();
      ref::CausalConv1d(rp);
      DeviceBuffer<float> dx(x), dw(w), db(b), ds(s0), out(c.T * c.channels);
      for (int64_t t = 0; t < c.T; ++t) {
        kernels::CausalConv1dParams p;
        p.T = 1;
        p.channels = c.channels;
        p.kernel = c.kernel;
        p.x = dx.get() + t * c.channels;
        p.x_stride = c.channels;
        p.weight = dw.get();
        p.bias = db.get();
        p.state = km1 ? ds.get() : nullptr;
        p.out = out.get() + t * c.channels;
        p.out_stride = c.channels;
        FOLIO_EXPECT_OK(kernels::CausalConv1dStep(p, nullptr));
      }
      FOLIO_EXPECT_CLOSE("conv step out", out.Download(), want, 1e-5);
      if (km1) FOLIO_EXPECT_CLOSE("conv step state", ds.Download(), want_state, 0.0);
    }
  }
};

FOLIO_GPU_TEST_MAIN(TestGpuSsm)
#include "test_gpu_ssm.moc"
