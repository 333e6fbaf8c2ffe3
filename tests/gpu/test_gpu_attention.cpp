// Both attention kernels (tiled prefill, split-K flash-decoding) against folio::ref:
// GQA ratios 1, 2, 4, 8, T = 1, odd head dims (16, 80, 256), a past cache, f32 and bf16
// K/V caches, forced split counts.
#include "engine/ops.h"
#include "gpu_test_util.h"
#include "kernels/attention.h"

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
