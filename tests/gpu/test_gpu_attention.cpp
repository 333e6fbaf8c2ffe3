// The attention kernels (float32 tiled prefill, tensor-core prefill, split-K
// flash-decoding) against folio::ref: GQA ratios 1, 2, 4, 8, T = 1, odd head dims (16, 80,
// 256), a past cache, f32 and bf16 K/V caches, padded row strides, forced split counts; the
// CUDA-graph form of decode (past and the append position read from the device), directly
// and replayed from a captured graph; which prefill kernel the auto choice runs; and a
// printed (not asserted) speed comparison of the two prefill kernels.
#include "engine/ops.h"
#include "gpu_test_util.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"

using namespace folio;
using namespace folio::gputest;

namespace {

struct AttnCase {
  int64_t T, past, heads, kv_heads, head_dim;
};
const AttnCase kCases[] = {
    {1, 0, 8, 8, 64},      // ratio 1, first token
    {17, 5, 8, 4, 16},     // ratio 2, tiny head
    {33, 40, 8, 2, 128},   // ratio 4, T not a multiple of 16
    {50, 0, 8, 1, 80},     // ratio 8, head_dim not a multiple of 32
    {1, 300, 16, 2, 128},  // decode over a cache
    {20, 7, 4, 2, 256},    // the opt-in shared-memory path
    {3, 1000, 4, 4, 32},   // few queries, long past
};

struct AttnData {
  std::vector<float> q, k, v, want;
};

// K/V rounded through bf16 when the cache is bf16, so the reference sees what the GPU sees.
AttnData MakeData(const AttnCase& c, bool bf16, uint32_t seed) {
  AttnData d;
  const int64_t S = c.past + c.T;
  d.q = Normal(c.T * c.heads * c.head_dim, seed);
  d.k = Normal(S * c.kv_heads * c.head_dim, seed + 1);
  d.v = Normal(S * c.kv_heads * c.head_dim, seed + 2);
  if (bf16) {
    d.k = RoundBf16(d.k);
    d.v = RoundBf16(d.v);
  }
  d.want.assign(c.T * c.heads * c.head_dim, 0.0f);
  folio::AttentionParams p;
  p.T = c.T;
  p.past = c.past;
  p.n_heads = c.heads;
  p.n_kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.q = d.q.data();
  p.k = d.k.data();
  p.v = d.v.data();
  p.out = d.want.data();
  ref::Attention(p);
  return d;
}

// Device copies of one case; params ready for either kernel.
struct AttnDevice {
  DeviceBuffer<float> q, out, k32, v32;
  DeviceBuffer<uint16_t> k16, v16;
  kernels::AttentionParams p;
  AttnDevice(const AttnCase& c, const AttnData& d, bool bf16)
      : q(d.q),
        out(d.want.size()),
        k32(bf16 ? std::vector<float>() : d.k),
        v32(bf16 ? std::vector<float>() : d.v),
        k16(bf16 ? ToBf16(d.k) : std::vector<uint16_t>()),
        v16(bf16 ? ToBf16(d.v) : std::vector<uint16_t>()) {
    p.T = c.T;
    p.past = c.past;
    p.n_heads = c.heads;
    p.n_kv_heads = c.kv_heads;
    p.head_dim = c.head_dim;
    p.q = q.get();
    p.k = bf16 ? static_cast<const void*>(k16.get()) : k32.get();
    p.v = bf16 ? static_cast<const void*>(v16.get()) : v32.get();
    p.kv_dtype = bf16 ? DType::kBF16 : DType::kF32;
    p.out = out.get();
    kernels::SetContiguousStrides(&p);
  }
};

QString Name(const AttnCase& c, bool bf16) {
  return QString("T=%1 past=%2 heads=%3/%4 hd=%5 %6")
      .arg(c.T)
      .arg(c.past)
      .arg(c.heads)
      .arg(c.kv_heads)
      .arg(c.head_dim)
      .arg(bf16 ? "bf16" : "f32");
}

// ref::Attention for T queries at `past` over the first past + T rows of full K/V buffers.
std::vector<float> RefAttention(const std::vector<float>& q, const std::vector<float>& k,
                                const std::vector<float>& v, int64_t T, int64_t past, int64_t heads,
                                int64_t kv_heads, int64_t hd) {
  std::vector<float> out(T * heads * hd, 0.0f);
  folio::AttentionParams p;
  p.T = T;
  p.past = past;
  p.n_heads = heads;
  p.n_kv_heads = kv_heads;
  p.head_dim = hd;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out.data();
  ref::Attention(p);
  return out;
}

// Tolerance of the tensor-core prefill against the reference, as max |err| / max(1,
// max |ref|). Its roundings: q * scale to bf16 (relative 2^-9 per element, so a score of
// size ~1 moves by ~2^-9 * sqrt(head_dim) / sqrt(head_dim) ~ 2e-3, and a weight exp(s) by
// the same relative amount) and every softmax weight to bf16 (relative 2^-9). The output
// is a weighted mean of V rows (|v| <= ~5 for unit normals), so its error stays below
// ~2 * 2^-9 * max |v| ~ 2e-2 even when every rounding pulls the same way; random inputs
// give a few 1e-3. Float32 accumulation everywhere else.
constexpr double kTcTol = 2e-2;

// Rows of `cols` floats copied to rows `stride` apart, the gaps filled with `fill`.
std::vector<float> PadRows(const std::vector<float>& v, int64_t cols, int64_t stride, float fill) {
  const int64_t rows = static_cast<int64_t>(v.size()) / cols;
  std::vector<float> out(rows * stride, fill);
  for (int64_t r = 0; r < rows; ++r)
    std::copy(v.begin() + r * cols, v.begin() + (r + 1) * cols, out.begin() + r * stride);
  return out;
}

// A bf16-cache case on the device with padded rows: q rows 3 floats longer, K/V rows 8
// elements longer (16 bytes: the tensor-core kernel's alignment holds), out rows 5 longer.
// Input padding is NaN (a kernel that reads it turns its output NaN); out padding holds a
// sentinel that must survive.
struct PaddedAttn {
  static constexpr int64_t kQPad = 3, kKvPad = 8, kOutPad = 5;
  static constexpr float kSentinel = 12345.0f;
  int64_t T, qd;
  DeviceBuffer<float> q, out;
  DeviceBuffer<uint16_t> k, v;
  kernels::AttentionParams p;
  PaddedAttn(const AttnCase& c, const AttnData& d)
      : T(c.T),
        qd(c.heads * c.head_dim),
        q(PadRows(d.q, qd, qd + kQPad, NAN)),
        out(std::vector<float>(c.T * (qd + kOutPad), kSentinel)),
        k(ToBf16(PadRows(d.k, c.kv_heads * c.head_dim, c.kv_heads * c.head_dim + kKvPad, NAN))),
        v(ToBf16(PadRows(d.v, c.kv_heads * c.head_dim, c.kv_heads * c.head_dim + kKvPad, NAN))) {
    p.T = c.T;
    p.past = c.past;
    p.n_heads = c.heads;
    p.n_kv_heads = c.kv_heads;
    p.head_dim = c.head_dim;
    kernels::SetContiguousStrides(&p);  // the scale
    p.q = q.get();
    p.q_stride = qd + kQPad;
    p.k = k.get();
    p.v = v.get();
    p.kv_stride = c.kv_heads * c.head_dim + kKvPad;
    p.kv_dtype = DType::kBF16;
    p.out = out.get();
    p.out_stride = qd + kOutPad;
  }
  // The output without its padding; *pad_intact false when a padding element changed.
  std::vector<float> Result(bool* pad_intact) const {
    const std::vector<float> all = out.Download();
    std::vector<float> got;
    *pad_intact = true;
    for (int64_t t = 0; t < T; ++t) {
      const auto row = all.begin() + t * (qd + kOutPad);
      got.insert(got.end(), row, row + qd);
      for (int64_t i = qd; i < qd + kOutPad; ++i) *pad_intact &= row[i] == kSentinel;
    }
    return got;
  }
};

// FLOPs of causal prefill: 2 GEMMs of 2 * head_dim per (query, visible key, head).
double PrefillFlops(int64_t T, int64_t past, int64_t heads, int64_t hd) {
  const double pairs = double(T) * double(past) + double(T) * double(T + 1) / 2.0;
  return 4.0 * double(hd) * double(heads) * pairs;
}

}  // namespace

class TestGpuAttention : public QObject {
  Q_OBJECT
 private slots:
  void prefillMatchesReference() {
    uint32_t seed = 1;
    for (const AttnCase& c : kCases) {
      for (bool bf16 : {false, true}) {
        const AttnData d = MakeData(c, bf16, seed += 3);
        AttnDevice dev(c, d, bf16);
        FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev.p, nullptr));
        FOLIO_EXPECT_CLOSE(qPrintable("prefill " + Name(c, bf16)), dev.out.Download(), d.want,
                           1e-4);
      }
    }
  }

  void splitKMatchesReferenceForAnySplitCount() {
    uint32_t seed = 500;
    for (const AttnCase& c : kCases) {
      for (bool bf16 : {false, true}) {
        const AttnData d = MakeData(c, bf16, seed += 3);
        AttnDevice dev(c, d, bf16);
        for (int splits : {0, 1, 3, 7, 64}) {
          const size_t bytes = kernels::AttentionSplitKWorkspaceBytes(dev.p, std::max(splits, 256));
          DeviceBuffer<uint8_t> ws(bytes);
          FOLIO_EXPECT_OK(kernels::AttentionSplitK(dev.p, ws.get(), bytes, splits, nullptr));
          FOLIO_EXPECT_CLOSE(qPrintable(QString("split-K(%1) ").arg(splits) + Name(c, bf16)),
                             dev.out.Download(), d.want, 1e-4);
        }
      }
    }
  }

  void splitKShrinksToFitItsWorkspace() {
    const AttnCase c{1, 2000, 8, 2, 64};
    const AttnData d = MakeData(c, false, 77);
    AttnDevice dev(c, d, false);
    const size_t bytes =
        kernels::AttentionSplitKWorkspaceBytes(dev.p, 5);  // room for 5 of 64 asked
    DeviceBuffer<uint8_t> ws(bytes);
    FOLIO_EXPECT_OK(kernels::AttentionSplitK(dev.p, ws.get(), bytes, 64, nullptr));
    FOLIO_EXPECT_CLOSE("split-K in a small workspace", dev.out.Download(), d.want, 1e-4);
    QVERIFY(!kernels::AttentionSplitK(dev.p, ws.get(), 16, 1, nullptr).ok());
  }

  // The graph form: past from a device int, splits planned for max_past. Same result as the
  // host-past launch with the same n_splits, for positions from 0 to beyond max_past (the
  // last split then runs to the end), with more splits than keys, T = 1 and 3.
  void splitKWithDevicePastMatchesHostPast() {
    const int64_t heads = 8, kv_heads = 2, hd = 128, max_past = 400, slack = 64;
    uint32_t seed = 900;
    for (int64_t T : {1, 3}) {
      for (bool bf16 : {false, true}) {
        const int64_t rows = max_past + slack + T;
        std::vector<float> k = Normal(rows * kv_heads * hd, seed++);
        std::vector<float> v = Normal(rows * kv_heads * hd, seed++);
        if (bf16) {
          k = RoundBf16(k);
          v = RoundBf16(v);
        }
        const std::vector<float> q = Normal(T * heads * hd, seed++);
        DeviceBuffer<float> dq(q), dout(q.size()), dk32(bf16 ? std::vector<float>() : k),
            dv32(bf16 ? std::vector<float>() : v);
        DeviceBuffer<uint16_t> dk16(bf16 ? ToBf16(k) : std::vector<uint16_t>()),
            dv16(bf16 ? ToBf16(v) : std::vector<uint16_t>());
        DeviceBuffer<int32_t> dpast(1);
        kernels::AttentionParams p;
        p.T = T;
        p.n_heads = heads;
        p.n_kv_heads = kv_heads;
        p.head_dim = hd;
        p.q = dq.get();
        p.k = bf16 ? static_cast<const void*>(dk16.get()) : dk32.get();
        p.v = bf16 ? static_cast<const void*>(dv16.get()) : dv32.get();
        p.kv_dtype = bf16 ? DType::kBF16 : DType::kF32;
        p.out = dout.get();
        kernels::SetContiguousStrides(&p);
        for (int64_t past :
             {int64_t{0}, int64_t{1}, int64_t{63}, int64_t{257}, max_past, max_past + 50}) {
          const std::vector<float> want = RefAttention(q, k, v, T, past, heads, kv_heads, hd);
          dpast.Upload({static_cast<int32_t>(past)});
          for (int splits : {1, 5, 64, 1024}) {
            const size_t bytes = kernels::AttentionSplitKWorkspaceBytes(p, splits);
            DeviceBuffer<uint8_t> ws(bytes);
            kernels::AttentionParams host = p;
            host.past = past;
            FOLIO_EXPECT_OK(kernels::AttentionSplitK(host, ws.get(), bytes, splits, nullptr));
            const std::vector<float> by_host = dout.Download();
            kernels::AttentionParams dev = p;
            dev.past = -12345;  // ignored when d_past is set
            dev.d_past = dpast.get();
            dev.max_past = max_past;
            FOLIO_EXPECT_OK(kernels::AttentionSplitK(dev, ws.get(), bytes, splits, nullptr));
            const std::vector<float> by_dev = dout.Download();
            const QString what = QString("T=%1 past=%2 splits=%3 %4")
                                     .arg(T)
                                     .arg(past)
                                     .arg(splits)
                                     .arg(bf16 ? "bf16" : "f32");
            FOLIO_EXPECT_CLOSE(qPrintable("device past vs host past " + what), by_dev, by_host,
                               1e-5);
            FOLIO_EXPECT_CLOSE(qPrintable("device past vs reference " + what), by_dev, want, 1e-4);
          }
          // Prefill reads the device past too.
          kernels::AttentionParams dev = p;
          dev.d_past = dpast.get();
          dev.max_past = max_past;
          FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev, nullptr));
          FOLIO_EXPECT_CLOSE(qPrintable(QString("prefill, device past %1").arg(past)),
                             dout.Download(), want, 1e-4);
        }
        kernels::AttentionParams dev = p;
        dev.d_past = dpast.get();
        dev.max_past = max_past;
        DeviceBuffer<uint8_t> ws(kernels::AttentionSplitKWorkspaceBytes(p, 8));
        QVERIFY(!kernels::AttentionSplitK(dev, ws.get(), ws.size(), 0, nullptr).ok());
      }
    }
  }

  void appendKvRowsWritesAtTheDevicePosition() {
    const int64_t rows = 12, kvd = 40, T = 3;
    const std::vector<float> src = Normal(T * kvd, 950);
    for (bool bf16 : {false, true}) {
      for (bool on_device : {false, true}) {
        const int64_t pos = on_device ? 7 : 2;
        const std::vector<float> init = Normal(rows * kvd, 951);
        std::vector<float> want = bf16 ? RoundBf16(init) : init;
        const std::vector<float> srcw = bf16 ? RoundBf16(src) : src;
        std::copy(srcw.begin(), srcw.end(), want.begin() + pos * kvd);
        DeviceBuffer<float> dsrc(src), c32(init);
        DeviceBuffer<uint16_t> c16(ToBf16(init));
        DeviceBuffer<int32_t> dpos(std::vector<int32_t>{static_cast<int32_t>(pos)});
        void* cache = bf16 ? static_cast<void*>(c16.get()) : c32.get();
        FOLIO_EXPECT_OK(
            kernels::AppendKvRows(dsrc.get(), T, kvd, cache, bf16 ? DType::kBF16 : DType::kF32,
                                  on_device ? dpos.get() : nullptr, on_device ? -1 : pos, nullptr));
        std::vector<float> got;
        if (bf16) {
          for (uint16_t h : c16.Download()) got.push_back(Bf16ToF32(h));
        } else {
          got = c32.Download();
        }
        FOLIO_EXPECT_CLOSE(qPrintable(QString("append kv %1 %2")
                                          .arg(bf16 ? "bf16" : "f32")
                                          .arg(on_device ? "device pos" : "host pos")),
                           got, want, 0.0);
      }
    }
  }

  // One decode step (append K and V at *d_pos, split-K attention with d_past = d_pos)
  // captured once as a CUDA graph, then replayed at positions 0..23 with new data each step:
  // every replay must equal the reference over the cache built so far.
  void decodeStepReplaysAsAGraphAtEveryPosition() {
    const int64_t heads = 8, kv_heads = 4, hd = 64, max_past = 23, steps = 24;
    const int64_t kvd = kv_heads * hd;
    const int splits = 6;
    cudaStream_t stream = nullptr;
    // A blocking stream: its work waits for the test's cudaMemcpy uploads (legacy stream).
    QCOMPARE(cudaStreamCreate(&stream), cudaSuccess);
    DeviceBuffer<float> dq(heads * hd), dk_new(kvd), dv_new(kvd), dout(heads * hd);
    DeviceBuffer<uint16_t> kcache((max_past + 1) * kvd), vcache((max_past + 1) * kvd);
    DeviceBuffer<int32_t> dpos(1);
    kernels::AttentionParams p;
    p.T = 1;
    p.n_heads = heads;
    p.n_kv_heads = kv_heads;
    p.head_dim = hd;
    p.q = dq.get();
    p.k = kcache.get();
    p.v = vcache.get();
    p.kv_dtype = DType::kBF16;
    p.out = dout.get();
    p.d_past = dpos.get();
    p.max_past = max_past;
    kernels::SetContiguousStrides(&p);
    const size_t bytes = kernels::AttentionSplitKWorkspaceBytes(p, splits);
    DeviceBuffer<uint8_t> ws(bytes);

    QCOMPARE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const Status s1 = kernels::AppendKvRows(dk_new.get(), 1, kvd, kcache.get(), DType::kBF16,
                                            dpos.get(), 0, stream);
    const Status s2 = kernels::AppendKvRows(dv_new.get(), 1, kvd, vcache.get(), DType::kBF16,
                                            dpos.get(), 0, stream);
    const Status s3 = kernels::AttentionSplitK(p, ws.get(), bytes, splits, stream);
    cudaGraph_t graph = nullptr;
    QCOMPARE(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    QVERIFY2(s1.ok() && s2.ok() && s3.ok(), (s1.message() + s2.message() + s3.message()).c_str());
    cudaGraphExec_t exec = nullptr;
    QCOMPARE(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);

    std::vector<float> k_all, v_all;  // the cache as the reference sees it (bf16-rounded)
    for (int64_t pos = 0; pos < steps; ++pos) {
      const std::vector<float> q = Normal(heads * hd, 1000 + pos);
      const std::vector<float> kn = RoundBf16(Normal(kvd, 2000 + pos));
      const std::vector<float> vn = RoundBf16(Normal(kvd, 3000 + pos));
      k_all.insert(k_all.end(), kn.begin(), kn.end());
      v_all.insert(v_all.end(), vn.begin(), vn.end());
      dq.Upload(q);
      dk_new.Upload(kn);
      dv_new.Upload(vn);
      dpos.Upload({static_cast<int32_t>(pos)});
      QCOMPARE(cudaGraphLaunch(exec, stream), cudaSuccess);
      QCOMPARE(cudaStreamSynchronize(stream), cudaSuccess);
      const std::vector<float> want = RefAttention(q, k_all, v_all, 1, pos, heads, kv_heads, hd);
      FOLIO_EXPECT_CLOSE(qPrintable(QString("graph replay at position %1").arg(pos)),
                         dout.Download(), want, 1e-4);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
  }

  // The tensor-core prefill (impl 2) on padded layouts, both head dims, GQA ratio 2 and 1,
  // T around the 16-row WMMA strips and the 64-query tile, past across key-tile edges. The
  // float32 kernel (impl 1) runs on the same padded buffers as a control.
  void tensorCorePrefillMatchesReference() {
    uint32_t seed = 3000;
    for (int64_t hd : {64, 128}) {
      for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 2}, {8, 8}}) {
        for (int64_t T : {1, 15, 16, 17, 64, 100, 300}) {
          for (int64_t past : {0, 5, 130}) {
            const AttnCase c{T, past, heads, kv_heads, hd};
            const AttnData d = MakeData(c, true, seed += 3);
            PaddedAttn dev(c, d);
            for (int impl : {2, 1}) {
              dev.p.impl = impl;
              FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev.p, nullptr));
              bool pad_intact = false;
              const std::vector<float> got = dev.Result(&pad_intact);
              const QString what = QString("impl %1 padded ").arg(impl) + Name(c, true);
              QVERIFY2(pad_intact, qPrintable(what + ": wrote into the output padding"));
              FOLIO_EXPECT_CLOSE(qPrintable(what), got, d.want, impl == 2 ? kTcTol : 1e-4);
            }
          }
        }
      }
    }
  }

  // Many key tiles (63 of 64 keys), 16 query tiles, GQA ratio 4.
  void tensorCorePrefillOverALongCache() {
    const AttnCase c{1024, 3000, 4, 1, 128};
    const AttnData d = MakeData(c, true, 3500);
    AttnDevice dev(c, d, true);
    dev.p.impl = 2;
    FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev.p, nullptr));
    FOLIO_EXPECT_CLOSE("tensor cores, T=1024 after past=3000", dev.out.Download(), d.want, kTcTol);
  }

  // The device-side past gives bit-for-bit the host-past result (same kernel, same tiles).
  void tensorCorePrefillWithDevicePastMatchesHostPast() {
    const int64_t T = 37, heads = 8, kv_heads = 2, hd = 128, max_past = 200;
    const int64_t rows = max_past + T;
    const std::vector<float> k = RoundBf16(Normal(rows * kv_heads * hd, 3600));
    const std::vector<float> v = RoundBf16(Normal(rows * kv_heads * hd, 3601));
    const std::vector<float> q = Normal(T * heads * hd, 3602);
    DeviceBuffer<float> dq(q), dout(q.size());
    DeviceBuffer<uint16_t> dk(ToBf16(k)), dv(ToBf16(v));
    DeviceBuffer<int32_t> dpast(1);
    kernels::AttentionParams p;
    p.T = T;
    p.n_heads = heads;
    p.n_kv_heads = kv_heads;
    p.head_dim = hd;
    p.q = dq.get();
    p.k = dk.get();
    p.v = dv.get();
    p.kv_dtype = DType::kBF16;
    p.out = dout.get();
    p.impl = 2;
    kernels::SetContiguousStrides(&p);
    for (int64_t past : {int64_t{0}, int64_t{5}, int64_t{64}, int64_t{130}, max_past}) {
      const std::vector<float> want = RefAttention(q, k, v, T, past, heads, kv_heads, hd);
      kernels::AttentionParams host = p;
      host.past = past;
      FOLIO_EXPECT_OK(kernels::AttentionPrefill(host, nullptr));
      const std::vector<float> by_host = dout.Download();
      dpast.Upload({static_cast<int32_t>(past)});
      kernels::AttentionParams dev = p;
      dev.past = -12345;  // ignored when d_past is set
      dev.d_past = dpast.get();
      dev.max_past = max_past;
      FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev, nullptr));
      const std::vector<float> by_dev = dout.Download();
      const QString what = QString("tensor cores, past %1").arg(past);
      FOLIO_EXPECT_CLOSE(qPrintable("device past vs host past, " + what), by_dev, by_host, 0.0);
      FOLIO_EXPECT_CLOSE(qPrintable("device past vs reference, " + what), by_dev, want, kTcTol);
    }
  }

  // Auto (impl 0) runs the tensor cores for an aligned bf16 cache at head_dim 64 and 128
  // (bit-for-bit the impl 2 result) and the float32 kernel otherwise; impl 2 refuses what
  // it cannot run, and an unknown impl is an error.
  void autoPrefillPicksTensorCoresWhereTheyFit() {
    for (int64_t hd : {64, 128}) {
      const AttnCase c{70, 9, 8, 2, hd};
      const AttnData d = MakeData(c, true, 3700 + static_cast<uint32_t>(hd));
      AttnDevice dev(c, d, true);
      QCOMPARE(kernels::AttentionPrefillImpl(dev.p), 2);
      FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev.p, nullptr));
      const std::vector<float> by_auto = dev.out.Download();
      dev.p.impl = 2;
      FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev.p, nullptr));
      FOLIO_EXPECT_CLOSE(qPrintable("auto vs impl 2, " + Name(c, true)), by_auto,
                         dev.out.Download(), 0.0);
      FOLIO_EXPECT_CLOSE(qPrintable("auto vs reference, " + Name(c, true)), by_auto, d.want,
                         kTcTol);
      dev.p.impl = 1;
      QCOMPARE(kernels::AttentionPrefillImpl(dev.p), 1);
      dev.p.impl = 3;
      QVERIFY(!kernels::AttentionPrefill(dev.p, nullptr).ok());
    }
    {  // float32 cache, head_dim 80: the float32 kernel; impl 2 refuses.
      for (auto [bf16, hd] : {std::pair<bool, int64_t>{false, 128}, {true, 80}}) {
        const AttnCase c{20, 3, 4, 2, hd};
        const AttnData d = MakeData(c, bf16, 3800);
        AttnDevice dev(c, d, bf16);
        QCOMPARE(kernels::AttentionPrefillImpl(dev.p), 1);
        dev.p.impl = 2;
        QVERIFY(!kernels::AttentionPrefill(dev.p, nullptr).ok());
      }
    }
    {  // bf16/128 but K/V one element off 16-byte alignment: auto falls back to float32.
      const AttnCase c{20, 3, 4, 2, 128};
      const AttnData d = MakeData(c, true, 3900);
      const std::vector<uint16_t> k16 = ToBf16(d.k), v16 = ToBf16(d.v);
      std::vector<uint16_t> k_off(k16.size() + 1, 0), v_off(v16.size() + 1, 0);
      std::copy(k16.begin(), k16.end(), k_off.begin() + 1);
      std::copy(v16.begin(), v16.end(), v_off.begin() + 1);
      DeviceBuffer<uint16_t> dk(k_off), dv(v_off);
      AttnDevice dev(c, d, true);
      dev.p.k = dk.get() + 1;
      dev.p.v = dv.get() + 1;
      QCOMPARE(kernels::AttentionPrefillImpl(dev.p), 1);
      FOLIO_EXPECT_OK(kernels::AttentionPrefill(dev.p, nullptr));
      FOLIO_EXPECT_CLOSE("misaligned bf16 cache, auto", dev.out.Download(), d.want, 1e-4);
      // The choice alone (nothing launched): 16-byte aligned again -> tensor cores; then a
      // kv_stride that is not a multiple of 8 elements -> float32.
      dev.p.k = dk.get() + 8;
      dev.p.v = dv.get() + 8;
      QCOMPARE(kernels::AttentionPrefillImpl(dev.p), 2);
      dev.p.kv_stride += 4;
      QCOMPARE(kernels::AttentionPrefillImpl(dev.p), 1);
    }
  }

  // Printed, not asserted: both prefill kernels at a Jamba-1.5-Mini attention layer's shape
  // (32 heads, 8 KV heads, head_dim 128), 2048 new tokens after 30000 cached.
  void prefillSpeedTensorCoresVsFloat32() {
    const int64_t T = 2048, past = 30000, heads = 32, kv_heads = 8, hd = 128;
    const int64_t rows = past + T, kvd = kv_heads * hd;
    // Random bf16 K/V: a 1 Mi-element random block repeated (timing only).
    const std::vector<uint16_t> block = ToBf16(Normal(size_t{1} << 20, 4000));
    std::vector<uint16_t> kv(rows * kvd);
    for (size_t i = 0; i < kv.size(); ++i) kv[i] = block[(i * 7 + i / block.size()) % block.size()];
    DeviceBuffer<uint16_t> dk(kv), dv(kv);
    DeviceBuffer<float> dq(Normal(T * heads * hd, 4001)), dout(T * heads * hd);
    kernels::AttentionParams p;
    p.T = T;
    p.past = past;
    p.n_heads = heads;
    p.n_kv_heads = kv_heads;
    p.head_dim = hd;
    p.q = dq.get();
    p.k = dk.get();
    p.v = dv.get();
    p.kv_dtype = DType::kBF16;
    p.out = dout.get();
    kernels::SetContiguousStrides(&p);
    const double flops = PrefillFlops(T, past, heads, hd);
    cudaEvent_t start = nullptr, stop = nullptr;
    QCOMPARE(cudaEventCreate(&start), cudaSuccess);
    QCOMPARE(cudaEventCreate(&stop), cudaSuccess);
    for (int impl : {2, 1}) {
      p.impl = impl;
      FOLIO_EXPECT_OK(kernels::AttentionPrefill(p, nullptr));  // warm-up
      const int reps = impl == 2 ? 5 : 2;
      QCOMPARE(cudaEventRecord(start), cudaSuccess);
      for (int i = 0; i < reps; ++i) QVERIFY(kernels::AttentionPrefill(p, nullptr).ok());
      QCOMPARE(cudaEventRecord(stop), cudaSuccess);
      QCOMPARE(cudaEventSynchronize(stop), cudaSuccess);
      float ms = 0;
      QCOMPARE(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
      ms /= reps;
      const double tflops = flops / (ms * 1e-3) / 1e12;
      std::printf(
          "attention prefill T=%lld past=%lld heads %lld/%lld hd %lld, %s: %.3f ms, "
          "%.1f TFLOP/s (%.1f%% of 790)\n",
          static_cast<long long>(T), static_cast<long long>(past), static_cast<long long>(heads),
          static_cast<long long>(kv_heads), static_cast<long long>(hd),
          impl == 2 ? "tensor cores" : "float32", ms, tflops, 100.0 * tflops / 790.0);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }

  void rejectsHeadsThatDoNotGroup() {
    kernels::AttentionParams p;
    p.T = 1;
    p.n_heads = 6;
    p.n_kv_heads = 4;
    p.head_dim = 64;
    kernels::SetContiguousStrides(&p);
    const Status s = kernels::AttentionPrefill(p, nullptr);
    QVERIFY(!s.ok());
    QVERIFY(s.message().find("multiple") != std::string::npos);
  }
};

FOLIO_GPU_TEST_MAIN(TestGpuAttention)
#include "test_gpu_attention.moc"
