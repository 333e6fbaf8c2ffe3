// The CUDA backend's memory plan at Jamba-1.5-Mini scale, made without a device
// (CudaBackend::PlanFor over a synthetic checkpoint with no host copies of the big tensors):
// what the workspace holds for a 2048-token chunk, that all-position logits do not scale it
// with chunk x vocab, what int8 experts save, and that the largest context it reports is
// exactly what fits. Runs everywhere the backend builds (no GPU needed); prints the figures.
#include <QtTest>

#include <cstdio>

#include "engine/cuda_backend.h"
#include "engine/synthetic.h"

using namespace folio;

namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kH200Free = 139 * kGiB;    // what an H200 shows free, about
constexpr uint64_t kHeadroom = 256ull << 20;  // the backend's fixed headroom (cuda_backend.cpp)

std::shared_ptr<const Checkpoint> Mini(int64_t vocab = 0) {
  ModelConfig c = SyntheticConfig("jamba-1.5-mini").value();
  if (vocab) c.vocab_size = vocab;
  SyntheticOptions o;
  o.materialize_below = 0;  // only what the engine reads on the host is made there
  auto ck = MakeSyntheticCheckpoint(c, o);
  if (!ck.ok()) qFatal("synthetic checkpoint: %s", ck.status().message().c_str());
  return std::shared_ptr<const Checkpoint>(std::move(ck).value());
}

CudaBackendOptions Bench(int64_t context, int64_t chunk, bool int8 = false) {
  CudaBackendOptions o;
  o.planned_context = context;
  o.chunk = chunk;
  o.experts_int8 = int8;
  return o;
}

CudaMemoryPlan Plan(std::shared_ptr<const Checkpoint> ck, const CudaBackendOptions& o,
                    uint64_t free = kH200Free) {
  auto p = CudaBackend::PlanFor(std::move(ck), o, free);
  if (!p.ok()) qFatal("plan: %s", p.status().message().c_str());
  return p.value();
}

bool Fits(const CudaMemoryPlan& p) {
  return p.weight_bytes + p.cache_bytes + p.workspace_bytes + kHeadroom <= p.limit_bytes;
}

double Gib(uint64_t b) {
  return static_cast<double>(b) / kGiB;
}

// Parameters of the checkpoint's experts and of everything.
void CountParams(const Checkpoint& ck, uint64_t* experts, uint64_t* expert_rows, uint64_t* all) {
  *experts = *expert_rows = *all = 0;
  for (const ExpectedTensor& e : ExpectedTensors(ck.config())) {
    uint64_t n = 1;
    for (int64_t d : e.shape) n *= static_cast<uint64_t>(d);
    *all += n;
    if (e.name.find(".experts.") != std::string::npos) {
      *experts += n;
      *expert_rows += static_cast<uint64_t>(e.shape[0]);
    }
  }
}

}  // namespace

class TestCudaPlan : public QObject {
  Q_OBJECT
 private slots:
  void miniAt140kWithChunk2048FitsAnH200() {
    auto ck = Mini();
    const CudaMemoryPlan p = Plan(ck, Bench(140000, 2048));
    std::printf("jamba-1.5-mini bf16, 140000 tokens, chunk 2048: %s\n", p.Describe().c_str());
    std::printf("  workspace %.3f GiB, cache %.3f GiB, weights %.2f GiB (experts %.2f GiB)\n",
                Gib(p.workspace_bytes), Gib(p.cache_bytes), Gib(p.weight_bytes),
                Gib(p.expert_bytes));
    QVERIFY2(Fits(p), p.Describe().c_str());
    QVERIFY(p.max_context >= 140000);
    // bf16: two bytes a parameter, plus alignment and the expert pointer tables.
    uint64_t experts = 0, rows = 0, all = 0;
    CountParams(*ck, &experts, &rows, &all);
    QVERIFY(p.weight_bytes >= 2 * all);
    QVERIFY2(p.weight_bytes < 2 * all + (64ull << 20), qPrintable(QString::number(p.weight_bytes)));
    QVERIFY(p.expert_bytes >= 2 * experts && p.expert_bytes < 2 * experts + (16ull << 20));
    // The K/V cache: 4 attention layers x K and V x 8 heads x 128 x bf16 per token.
    const uint64_t kv_per_token = 4ull * 2 * 8 * 128 * 2;
    QVERIFY(p.cache_bytes >= 140000 * kv_per_token);
    QVERIFY(p.cache_bytes < 140000 * kv_per_token + (64ull << 20));  // + the Mamba state
  }

  void allPositionLogitsDoNotScaleTheWorkspaceWithChunkTimesVocab() {
    // Doubling the vocabulary adds one 256-row logits buffer, whatever the chunk.
    const uint64_t V = 65536, extra = 256 * V * 4;
    for (int64_t chunk : {256, 2048, 8192}) {
      const CudaMemoryPlan a = Plan(Mini(), Bench(4096, chunk));
      const CudaMemoryPlan b = Plan(Mini(2 * V), Bench(4096, chunk));
      std::printf("chunk %lld: workspace %.3f GiB\n", static_cast<long long>(chunk),
                  Gib(a.workspace_bytes));
      QCOMPARE(b.workspace_bytes - a.workspace_bytes, extra);
    }
  }

  void int8ExpertsTakeOneBytePerWeightAndFit140kIn80G() {
    auto ck = Mini();
    uint64_t experts = 0, rows = 0, all = 0;
    CountParams(*ck, &experts, &rows, &all);
    CudaBackendOptions o = Bench(140000, 2048, true);
    o.memory_limit_bytes = 80 * kGiB;
    const CudaMemoryPlan p = Plan(ck, o);
    std::printf("jamba-1.5-mini int8 experts, 140000 tokens, limit 80 GiB: %s\n",
                p.Describe().c_str());
    QCOMPARE(p.limit_bytes, 80 * kGiB);
    QVERIFY(p.expert_bytes >= experts + 4 * rows);
    QVERIFY(p.expert_bytes < experts + 4 * rows + (32ull << 20));  // alignment, two tables
    const CudaMemoryPlan bf16 = Plan(ck, Bench(140000, 2048));
    QCOMPARE(bf16.weight_bytes - p.weight_bytes, bf16.expert_bytes - p.expert_bytes);
    QVERIFY2(Fits(p), p.Describe().c_str());
    // Without int8 the same limit does not hold the weights.
    CudaBackendOptions o16 = Bench(140000, 2048);
    o16.memory_limit_bytes = 80 * kGiB;
    QVERIFY(!Fits(Plan(ck, o16)));
  }

  void largestContextIsExactlyWhatFits() {
    auto ck = Mini();
    CudaBackendOptions o = Bench(4096, 2048);
    o.memory_limit_bytes = 100 * kGiB;
    const CudaMemoryPlan p = Plan(ck, o);
    QVERIFY(p.max_context > 4096);
    o.planned_context = p.max_context;
    QVERIFY2(Fits(Plan(ck, o)), "the reported largest context does not fit");
    o.planned_context = p.max_context + 64;  // a few K/V rows more than that
    QVERIFY(!Fits(Plan(ck, o)));
    // The limit never raises the budget above what the device has free.
    o.memory_limit_bytes = 200 * kGiB;
    QCOMPARE(Plan(ck, o).limit_bytes, kH200Free);
  }

  void absurdContextIsRefusedInsteadOfOverflowing() {
    // 2^60 tokens x 16 KiB of K/V wraps int64 to a few bytes: the plan must not call that a fit.
    auto p = CudaBackend::PlanFor(Mini(), Bench(int64_t{1} << 60, 256), kH200Free);
    if (p.ok()) {
      QVERIFY2(!Fits(p.value()), p.value().Describe().c_str());
      QVERIFY(p.value().max_context < (int64_t{1} << 60));
    } else {
      QCOMPARE(p.status().code(), ErrorCode::kResourceExhausted);
    }
  }

  void int8ExpertsNeedRowsOfMultiplesOf8() {
    // The int8 expert GEMMs need K % 8 == 0 (kernels/int8.h): refused when planned, not at
    // the first prompt; the same model in bf16 plans.
    ModelConfig c = SyntheticConfig("jamba-tiny").value();
    c.intermediate_size = 100;
    SyntheticOptions so;
    so.materialize_below = 0;
    std::shared_ptr<const Checkpoint> ck(MakeSyntheticCheckpoint(c, so).value());
    auto int8 = CudaBackend::PlanFor(ck, Bench(512, 64, true), kH200Free);
    QVERIFY(!int8.ok());
    QCOMPARE(int8.status().code(), ErrorCode::kUnsupported);
    QVERIFY2(int8.status().message().find("multiples of 8") != std::string::npos,
             int8.status().message().c_str());
    QVERIFY(CudaBackend::PlanFor(ck, Bench(512, 64), kH200Free).ok());
  }

  void int8WithFloat32WeightsIsRefused() {
    CudaBackendOptions o = Bench(4096, 256, true);
    o.f32_weights = true;
    auto p = CudaBackend::PlanFor(Mini(), o, kH200Free);
    QVERIFY(!p.ok());
    QCOMPARE(p.status().code(), ErrorCode::kInvalidArgument);
  }
};

QTEST_GUILESS_MAIN(TestCudaPlan)
#include "test_cuda_plan.moc"
