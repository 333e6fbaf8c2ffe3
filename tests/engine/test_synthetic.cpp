// Synthetic checkpoints (bench --synthetic): published shapes, seeded values that are never
// zeros, the same values whether materialised on the host or left for a backend to fill,
// and a CPU forward pass on them that stays finite.
#include <QtTest>

#include <cmath>

#include "engine/cpu_backend.h"
#include "engine/session.h"
#include "engine/synthetic.h"

using namespace folio;

namespace {

std::unique_ptr<Checkpoint> Make(const std::string& name, uint64_t seed,
                                 int64_t materialize_below = INT64_MAX) {
  auto c = SyntheticConfig(name);
  if (!c.ok()) qFatal("%s", c.status().message().c_str());
  SyntheticOptions o;
  o.seed = seed;
  o.materialize_below = materialize_below;
  auto ck = MakeSyntheticCheckpoint(*c, o);
  if (!ck.ok()) qFatal("%s", ck.status().message().c_str());
  return std::move(*ck);
}

}  // namespace

class TestSynthetic : public QObject {
  Q_OBJECT
 private slots:
  void configsHaveThePublishedShapes() {
    auto mini = SyntheticConfig("jamba-1.5-mini");
    QVERIFY(mini.ok());
    QCOMPARE(mini->hidden_size, int64_t{4096});
    QCOMPARE(mini->num_hidden_layers, int64_t{32});
    QCOMPARE(mini->num_experts, int64_t{16});
    QCOMPARE(mini->d_inner(), int64_t{8192});
    QCOMPARE(mini->PlanString().substr(0, 16), std::string("M M+ M M+ A M+ M"));
    auto bad = SyntheticConfig("jamba-2-huge");
    QVERIFY(!bad.ok());
    QVERIFY(bad.status().message().find("jamba-1.5-mini") != std::string::npos);
  }

  void everyTensorIsSeededAndNeverZero() {
    auto ck = Make("jamba-tiny", 7);
    for (const std::string& name : ck->Names()) {
      auto t = ck->Get(name);
      QVERIFY(t.ok());
      QVERIFY2(t->data != nullptr, name.c_str());
      double sum = 0, sq = 0;
      int64_t zeros = 0;
      for (int64_t i = 0; i < t->numel(); ++i) {
        const float v = t->GetF32(i);
        QVERIFY(std::isfinite(v));
        zeros += v == 0.0f;
        sum += v;
        sq += static_cast<double>(v) * v;
      }
      const double n = static_cast<double>(t->numel());
      const double var = sq / n - (sum / n) * (sum / n);
      QVERIFY2(zeros * 100 < t->numel() + 100, name.c_str());  // a few exact zeros at most
      if (t->numel() > 16) QVERIFY2(var > 0, name.c_str());   // not a constant
    }
    // Norm weights around 1, A_log makes A negative.
    auto norm = ck->Get("model.final_layernorm.weight");
    QVERIFY(norm->GetF32(0) > 0.89f && norm->GetF32(0) < 1.11f);
  }

  void seedsAreReproducibleAndDistinct() {
    auto a = Make("jamba-tiny", 1), b = Make("jamba-tiny", 1), c = Make("jamba-tiny", 2);
    const std::string name = "model.layers.1.feed_forward.experts.3.down_proj.weight";
    auto ta = a->Get(name), tb = b->Get(name), tc = c->Get(name);
    QCOMPARE(std::memcmp(ta->data, tb->data, ta->nbytes), 0);
    QVERIFY(std::memcmp(ta->data, tc->data, ta->nbytes) != 0);
    // Two tensors of one model are not copies of each other.
    auto other = a->Get("model.layers.1.feed_forward.experts.2.down_proj.weight");
    QVERIFY(std::memcmp(ta->data, other->data, ta->nbytes) != 0);
  }

  void unmaterialisedTensorsCarryTheirFill() {
    auto lazy = Make("jamba-tiny", 3, /*materialize_below=*/0), full = Make("jamba-tiny", 3);
    int64_t lazy_count = 0;
    for (const std::string& name : full->Names()) {
      auto l = lazy->Get(name), f = full->Get(name);
      QCOMPARE(l->shape, f->shape);
      QCOMPARE(l->nbytes, f->nbytes);
      if (l->data) {  // what the engine reads on the host is always there, and identical
        QCOMPARE(std::memcmp(l->data, f->data, f->nbytes), 0);
        continue;
      }
      ++lazy_count;
      QVERIFY(l->synthetic.active());
      QCOMPARE(l->rank(), size_t{2});
      // The fill a backend evaluates gives exactly the host copy.
      for (int64_t i = 0; i < f->numel(); i += 7) {
        const float v = SyntheticValue(l->synthetic.key, l->synthetic.offset, l->synthetic.scale,
                                       static_cast<uint64_t>(i));
        QCOMPARE(Bf16ToF32(F32ToBf16(v)), f->GetF32(i));
      }
    }
    QVERIFY(lazy_count > 20);  // every projection and expert matrix
    QVERIFY(!lazy->Get("model.layers.0.mamba.A_log")->synthetic.active());
    QCOMPARE(lazy->TotalBytes(), full->TotalBytes());
  }

  void cpuForwardOnSyntheticTinyIsFiniteAndVaried() {
    std::shared_ptr<const Checkpoint> ck = Make("jamba-tiny", 11);
    auto backend = CpuBackend::Create(ck);
    QVERIFY2(backend.ok(), backend.ok() ? "" : backend.status().message().c_str());
    auto session = Session::Create(**backend);
    QVERIFY(session.ok());
    std::vector<int64_t> ids;
    for (int i = 0; i < 40; ++i) ids.push_back((i * 37) % 512);
    QVERIFY((*session)->Append(ids).ok());
    const auto logits = (*session)->last_logits();
    float lo = logits[0], hi = logits[0];
    for (float v : logits) {
      QVERIFY(std::isfinite(v));
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    qInfo("synthetic jamba-tiny logits span [%.3f, %.3f]", lo, hi);
    QVERIFY(hi - lo > 0.1f);  // activations neither vanished nor blew up
    QVERIFY(hi - lo < 1000.0f);
  }

  void profilingChangesNothingButRecordsEveryPart() {
    std::shared_ptr<const Checkpoint> ck = Make("jamba-tiny", 13);
    auto backend = CpuBackend::Create(ck);
    QVERIFY(backend.ok());
    std::vector<int64_t> ids;
    for (int i = 0; i < 30; ++i) ids.push_back((i * 53 + 7) % 512);
    auto run = [&](bool profile) {
      if (!(*backend)->SetProfiling(profile).ok()) qFatal("profiling refused");
      auto s = Session::Create(**backend);
      if (!s.ok() || !(*s)->Append(ids).ok() || !(*s)->Step(5).ok()) qFatal("forward failed");
      const auto l = (*s)->last_logits();
      return std::vector<float>(l.begin(), l.end());
    };
    const std::vector<float> plain = run(false);
    QCOMPARE((*backend)->TakeProfile().forwards, int64_t{0});  // nothing recorded while off
    const std::vector<float> profiled = run(true);
    QCOMPARE(profiled, plain);
    const ForwardProfile p = (*backend)->TakeProfile();
    QCOMPARE(p.forwards, int64_t{2});  // one prefill chunk and one step
    QCOMPARE(p.tokens, int64_t{31});
    double sum = 0;
    for (double v : p.ms) sum += v;
    QVERIFY(sum <= p.total_ms * 1.01 + 0.01);
    for (ProfilePart part : {ProfilePart::kNorms, ProfilePart::kMamba, ProfilePart::kAttention,
                             ProfilePart::kDenseGemm, ProfilePart::kMoE, ProfilePart::kLmHead})
      QVERIFY2(p.at(part) > 0, ProfilePartName(part));
    QCOMPARE(p.layer_ms.size(), size_t{8});
    // Layer 2 is attention (period 4, offset 2), layer 0 Mamba: each only has its own mixer.
    QVERIFY(p.layer_ms[2][static_cast<size_t>(ProfilePart::kAttention)] > 0);
    QCOMPARE(p.layer_ms[2][static_cast<size_t>(ProfilePart::kMamba)], 0.0);
    QCOMPARE(p.layer_ms[0][static_cast<size_t>(ProfilePart::kAttention)], 0.0);
    QCOMPARE((*backend)->TakeProfile().forwards, int64_t{0});  // taking clears
  }

  void cpuBackendRefusesTensorsWithoutHostData() {
    std::shared_ptr<const Checkpoint> ck = Make("jamba-tiny", 5, 0);
    auto backend = CpuBackend::Create(ck);
    QVERIFY(!backend.ok());
    QVERIFY(backend.status().message().find("GPU") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestSynthetic)
#include "test_synthetic.moc"
