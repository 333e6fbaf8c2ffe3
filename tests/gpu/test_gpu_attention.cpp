// Both attention kernels (tiled prefill, split-K flash-decoding) against folio::ref:
// GQA ratios 1, 2, 4, 8, T = 1, odd head dims (16, 80, 256), a past cache, f32 and bf16
// K/V caches, forced split counts; the CUDA-graph form of decode (past and the append
// position read from the device), directly and replayed from a captured graph.
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
