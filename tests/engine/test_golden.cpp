// The CPU engine against the reference fixtures (tests/fixtures/README.md): logits,
// hidden states, greedy decoding with the cache, chunked prefill, snapshot/restore; and,
// on random checkpoints written here, layer plans the fixtures do not cover (no attention
// layer, MoE on every layer, attention on every layer).
#include <QtTest>

#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <cmath>
#include <random>

#include "engine/cpu_backend.h"
#include "engine/safetensors.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "tests/common/golden.h"
#include "tests/common/logits.h"

using namespace folio;
using folio::testing::AllLogits;

namespace {

QString FixtureDir(const QString& model) {
  return QString::fromUtf8(FOLIO_FIXTURES_DIR) + "/" + model;
}

using Golden = folio::testing::GoldenFile;

Golden LoadGolden(const QString& model) {
  return folio::testing::LoadGoldenFile(FixtureDir(model).toStdString());
}

std::unique_ptr<CpuBackend> OpenBackend(const QString& dir, bool reference_ops = false) {
  auto b = CpuBackend::Open(dir.toStdString(), CpuBackendOptions{0, reference_ops});
  if (!b.ok()) qFatal("open %s: %s", qPrintable(dir), b.status().message().c_str());
  return std::move(b).value();
}


double MaxAbsDiff(const float* a, const float* b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i) {
    const double e = std::fabs(double(a[i]) - b[i]);
    if (!(e <= d)) d = e;  // NaN propagates as the largest difference
  }
  return d;
}
double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() != b.size() ? INFINITY : MaxAbsDiff(a.data(), b.data(), a.size());
}
double MaxAbs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, std::fabs(double(v)));
  return m;
}

int64_t Argmax(std::span<const float> v) {
  return std::max_element(v.begin(), v.end()) - v.begin();
}

// Greedy continuation of `n` ids from the session's current state.
std::vector<int64_t> Greedy(Session& s, int n) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Argmax(s.last_logits()));
    if (!s.Step(out.back()).ok()) qFatal("Step failed");
  }
  return out;
}

// ---- random checkpoints for other layer plans ----------------------------------------

struct TinyShape {
  int64_t layers = 4, vocab = 97, hidden = 32, inter = 48, heads = 4, kv_heads = 2;
  int64_t d_state = 8, d_conv = 4, expand = 2, dt_rank = 4, experts = 4, top_k = 2;
  int64_t attn_period = 4, attn_offset = 2, expert_period = 2, expert_offset = 1;
};

class RandomWriter {
 public:
  explicit RandomWriter(uint64_t seed) : rng_(seed) {}
  void Add(const std::string& name, std::vector<int64_t> shape, float lo, float hi) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::uniform_real_distribution<float> u(lo, hi);
    TensorToWrite t{name, DType::kBF16, std::move(shape), {}};
    t.bytes.resize(static_cast<size_t>(n) * 2);
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = F32ToBf16(u(rng_));
      std::memcpy(t.bytes.data() + 2 * i, &h, 2);
    }
    tensors_.push_back(std::move(t));
  }
  void Linear(const std::string& name, int64_t out, int64_t in) {
    const float s = 1.0f / std::sqrt(static_cast<float>(in));
    Add(name, {out, in}, -s, s);
  }
  void Norm(const std::string& name, int64_t n) { Add(name, {n}, 0.8f, 1.2f); }
  std::vector<TensorToWrite>& tensors() { return tensors_; }

 private:
  std::mt19937 rng_;
  std::vector<TensorToWrite> tensors_;
};

void WriteRandomJamba(const QString& dir, const TinyShape& s, uint64_t seed) {
  QJsonObject c;
  c["architectures"] = QJsonArray{"JambaForCausalLM"};
  c["model_type"] = "jamba";
  c["vocab_size"] = qint64(s.vocab);
  c["hidden_size"] = qint64(s.hidden);
  c["intermediate_size"] = qint64(s.inter);
  c["num_hidden_layers"] = qint64(s.layers);
  c["num_attention_heads"] = qint64(s.heads);
  c["num_key_value_heads"] = qint64(s.kv_heads);
  c["attn_layer_period"] = qint64(s.attn_period);
  c["attn_layer_offset"] = qint64(s.attn_offset);
  c["expert_layer_period"] = qint64(s.expert_period);
  c["expert_layer_offset"] = qint64(s.expert_offset);
  c["num_experts"] = qint64(s.experts);
  c["num_experts_per_tok"] = qint64(s.top_k);
  c["mamba_d_state"] = qint64(s.d_state);
  c["mamba_d_conv"] = qint64(s.d_conv);
  c["mamba_expand"] = qint64(s.expand);
  c["mamba_dt_rank"] = qint64(s.dt_rank);
  c["rms_norm_eps"] = 1e-6;
  c["tie_word_embeddings"] = false;
  c["dtype"] = "bfloat16";
  QFile f(dir + "/config.json");
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(QJsonDocument(c).toJson());
  f.close();

  RandomWriter w(seed);
  const int64_t H = s.hidden, Dn = s.expand * s.hidden, hd = s.hidden / s.heads;
  w.Add("model.embed_tokens.weight", {s.vocab, H}, -1, 1);
  w.Norm("model.final_layernorm.weight", H);
  w.Linear("lm_head.weight", s.vocab, H);
  auto mlp = [&](const std::string& p) {
    w.Linear(p + "gate_proj.weight", s.inter, H);
    w.Linear(p + "up_proj.weight", s.inter, H);
    w.Linear(p + "down_proj.weight", H, s.inter);
  };
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    w.Norm(p + "input_layernorm.weight", H);
    w.Norm(p + "pre_ff_layernorm.weight", H);
    if (i % s.attn_period == s.attn_offset) {
      w.Linear(p + "self_attn.q_proj.weight", s.heads * hd, H);
      w.Linear(p + "self_attn.k_proj.weight", s.kv_heads * hd, H);
      w.Linear(p + "self_attn.v_proj.weight", s.kv_heads * hd, H);
      w.Linear(p + "self_attn.o_proj.weight", H, s.heads * hd);
    } else {
      const std::string m = p + "mamba.";
      w.Linear(m + "in_proj.weight", 2 * Dn, H);
      w.Add(m + "conv1d.weight", {Dn, 1, s.d_conv}, -0.5f, 0.5f);
      w.Add(m + "conv1d.bias", {Dn}, -0.1f, 0.1f);
      w.Linear(m + "x_proj.weight", s.dt_rank + 2 * s.d_state, Dn);
      w.Linear(m + "dt_proj.weight", Dn, s.dt_rank);
      w.Add(m + "dt_proj.bias", {Dn}, -4.0f, -2.0f);
      w.Add(m + "A_log", {Dn, s.d_state}, 0.0f, 2.5f);
      w.Add(m + "D", {Dn}, 0.5f, 1.5f);
      w.Linear(m + "out_proj.weight", H, Dn);
      w.Norm(m + "dt_layernorm.weight", s.dt_rank);
      w.Norm(m + "b_layernorm.weight", s.d_state);
      w.Norm(m + "c_layernorm.weight", s.d_state);
    }
    if (s.experts > 1 && i % s.expert_period == s.expert_offset) {
      w.Linear(p + "feed_forward.router.weight", s.experts, H);
      for (int64_t e = 0; e < s.experts; ++e) {
        mlp(p + "feed_forward.experts." + std::to_string(e) + ".");
      }
    } else {
      mlp(p + "feed_forward.");
    }
  }
  Status st = WriteSafetensors((dir + "/model.safetensors").toStdString(), w.tensors());
  QVERIFY2(st.ok(), st.message().c_str());
}

std::vector<int64_t> RandomIds(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> u(0, vocab - 1);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = u(rng);
  return ids;
}

}  // namespace

class TestGolden : public QObject {
  Q_OBJECT
 private slots:
  void fixtures_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("jamba-tiny") << "jamba-tiny";
    QTest::newRow("jamba-tiny-bf16") << "jamba-tiny-bf16";
  }

  void logitsMatchGolden_data() { fixtures_data(); }
  void logitsMatchGolden() {
    QFETCH(QString, model);
    const Golden g = LoadGolden(model);
    auto backend = OpenBackend(FixtureDir(model));
    const auto got = AllLogits(*backend, g.Ids("input_ids"), 512);
    const double d = MaxAbsDiff(got, g.Floats("logits"));
    qInfo("%s: logits max abs diff %.3g", qPrintable(model), d);
    QVERIFY2(d <= 1e-4, qPrintable(QString("max abs diff %1").arg(d)));
  }

  void referenceOpsMatchGolden_data() { fixtures_data(); }
  void referenceOpsMatchGolden() {
    QFETCH(QString, model);
    const Golden g = LoadGolden(model);
    auto backend = OpenBackend(FixtureDir(model), /*reference_ops=*/true);
    QCOMPARE(QString::fromStdString(backend->name()), QString("cpu-ref"));
    const double d = MaxAbsDiff(AllLogits(*backend, g.Ids("input_ids"), 512), g.Floats("logits"));
    QVERIFY2(d <= 1e-4, qPrintable(QString("max abs diff %1").arg(d)));
  }

  void hiddenStatesMatchGolden_data() { fixtures_data(); }
  void hiddenStatesMatchGolden() {
    QFETCH(QString, model);
    const Golden g = LoadGolden(model);
    auto backend = OpenBackend(FixtureDir(model));
    const int64_t L = backend->config().num_hidden_layers;
    // hidden.0 = embedding (observer -1); hidden.K = output of layer K-1; hidden.L = final norm.
    std::map<int64_t, std::vector<float>> seen;
    QVERIFY(backend
                ->SetHiddenObserver([&](int64_t layer, const float* x, int64_t T, int64_t H) {
                  const int64_t k = layer == L ? L : layer + 1;
                  seen[k].assign(x, x + T * H);
                })
                .ok());
    auto session = Session::Create(*backend).value();
    QVERIFY(session->Append(g.Ids("input_ids")).ok());
    for (int64_t k = 0; k <= L; ++k) {
      const auto want = g.Floats("hidden." + std::to_string(k));
      const double rel = MaxAbsDiff(seen[k], want) / MaxAbs(want);
      QVERIFY2(rel <= 1e-4, qPrintable(QString("hidden.%1: relative diff %2").arg(k).arg(rel)));
    }
  }

  void greedyDecodeReproducesGenTokens_data() { fixtures_data(); }
  void greedyDecodeReproducesGenTokens() {
    QFETCH(QString, model);
    const Golden g = LoadGolden(model);
    auto backend = OpenBackend(FixtureDir(model));
    const auto want_tokens = g.Ids("gen_tokens");
    const auto want_logits = g.Floats("gen_logits");
    const int64_t V = backend->config().vocab_size;
    auto session = Session::Create(*backend).value();
    QVERIFY(session->Append(g.Ids("gen_prompt")).ok());
    Sampler greedy(SamplingParams{.greedy = true});
    for (size_t i = 0; i < want_tokens.size(); ++i) {
      const double d = MaxAbsDiff(session->last_logits().data(), want_logits.data() + i * V,
                                  static_cast<size_t>(V));
      QVERIFY2(d <= 1e-4, qPrintable(QString("step %1: logits max abs diff %2").arg(i).arg(d)));
      const int64_t id = greedy.Sample(session->last_logits(), session->tokens());
      QCOMPARE(id, want_tokens[i]);
      QVERIFY(session->Step(id).ok());
    }
  }

  void chunkedPrefillGivesSameLogits_data() { fixtures_data(); }
  void chunkedPrefillGivesSameLogits() {
    QFETCH(QString, model);
    const Golden g = LoadGolden(model);
    auto backend = OpenBackend(FixtureDir(model));
    const auto ids = g.Ids("input_ids");
    const auto whole = AllLogits(*backend, ids, 512);
    for (int64_t chunk : {1, 7, 64}) {
      const auto got = AllLogits(*backend, ids, chunk);
      const double d = MaxAbsDiff(got, whole), dg = MaxAbsDiff(got, g.Floats("logits"));
      QVERIFY2(d <= 2e-5 && dg <= 1e-4,
               qPrintable(QString("chunk %1: vs whole %2, vs golden %3").arg(chunk).arg(d).arg(dg)));
      // Append (last logits only) agrees with AppendAll's last row.
      auto s = Session::Create(*backend, {0, chunk}).value();
      QVERIFY(s->Append(ids).ok());
      const int64_t V = s->vocab_size();
      QVERIFY(MaxAbsDiff(s->last_logits().data(), got.data() + got.size() - V, size_t(V)) <= 2e-5);
    }
  }

  void snapshotRestoreRepeatsTokens_data() { fixtures_data(); }
  void snapshotRestoreRepeatsTokens() {
    QFETCH(QString, model);
    const Golden g = LoadGolden(model);
    auto backend = OpenBackend(FixtureDir(model));
    auto session = Session::Create(*backend, {0, 5}).value();
    QVERIFY(session->Append(g.Ids("gen_prompt")).ok());
    auto snap = session->Snapshot();
    QVERIFY(snap.ok());
    QCOMPARE(snap->position(), session->position());
    const std::vector<float> logits_at_snap(session->last_logits().begin(),
                                            session->last_logits().end());
    const auto first = Greedy(*session, 10);
    Sampler sampler(SamplingParams{.temperature = 0.9f, .top_p = 0.95f, .seed = 42});
    QVERIFY(session->Step(3).ok());  // wander off
    QVERIFY(session->Restore(*snap).ok());
    QCOMPARE(session->position(), snap->position());
    QVERIFY(std::equal(logits_at_snap.begin(), logits_at_snap.end(),
                       session->last_logits().begin()));
    QCOMPARE(Greedy(*session, 10), first);
    const auto gen = g.Ids("gen_tokens");
    QCOMPARE(first, std::vector<int64_t>(gen.begin(), gen.begin() + 10));
    // Seeded sampling from a restored state repeats too.
    std::vector<int64_t> a, b;
    for (auto* out : {&a, &b}) {
      QVERIFY(session->Restore(*snap).ok());
      sampler.Reseed(7);
      for (int i = 0; i < 10; ++i) {
        out->push_back(sampler.Sample(session->last_logits(), session->tokens()));
        QVERIFY(session->Step(out->back()).ok());
      }
    }
    QCOMPARE(a, b);
  }

  void badIdsAndContextAreRejectedWithoutChangingState() {
    auto backend = OpenBackend(FixtureDir("jamba-tiny"));
    auto session = Session::Create(*backend, {20, 512}).value();
    QVERIFY(session->Append(std::vector<int64_t>{5, 17, 301}).ok());
    const std::vector<float> before(session->last_logits().begin(), session->last_logits().end());
    Status st = session->Append(std::vector<int64_t>{4, 512});
    QCOMPARE(st.code(), ErrorCode::kInvalidArgument);
    QVERIFY2(st.message().find("512") != std::string::npos, st.message().c_str());
    QCOMPARE(session->Step(-1).code(), ErrorCode::kInvalidArgument);
    st = session->Append(std::vector<int64_t>(18, 7));
    QCOMPARE(st.code(), ErrorCode::kResourceExhausted);
    QCOMPARE(QString::fromStdString(st.message()), QString("context exceeded (21 / 20)"));
    QCOMPARE(session->position(), int64_t{3});
    QVERIFY(std::equal(before.begin(), before.end(), session->last_logits().begin()));
    QVERIFY(session->Append(std::vector<int64_t>(17, 7)).ok());  // exactly full is fine
    QCOMPARE(session->Step(1).code(), ErrorCode::kResourceExhausted);
  }

  void otherLayerPlansRunConsistently_data() {
    QTest::addColumn<int>("attn_period");
    QTest::addColumn<int>("attn_offset");
    QTest::addColumn<int>("expert_period");
    QTest::addColumn<int>("expert_offset");
    QTest::addColumn<int>("experts");
    QTest::newRow("no attention layer") << 8 << 7 << 2 << 0 << 4;
    QTest::newRow("MoE on every layer") << 2 << 1 << 1 << 0 << 4;
    QTest::newRow("attention everywhere, dense") << 1 << 0 << 1 << 0 << 1;
    QTest::newRow("period 3 offset 0") << 3 << 0 << 3 << 2 << 3;
  }
  void otherLayerPlansRunConsistently() {
    QFETCH(int, attn_period);
    QFETCH(int, attn_offset);
    QFETCH(int, expert_period);
    QFETCH(int, expert_offset);
    QFETCH(int, experts);
    QTemporaryDir dir;
    TinyShape s;
    s.attn_period = attn_period;
    s.attn_offset = attn_offset;
    s.expert_period = expert_period;
    s.expert_offset = expert_offset;
    s.experts = experts;
    s.top_k = std::min<int64_t>(2, experts);
    WriteRandomJamba(dir.path(), s, 1234);
    auto fast = OpenBackend(dir.path());
    auto ref = OpenBackend(dir.path(), /*reference_ops=*/true);
    const auto ids = RandomIds(23, s.vocab, 99);
    const auto a = AllLogits(*fast, ids, 512), b = AllLogits(*ref, ids, 512);
    const double scale = std::max(1.0, MaxAbs(b));
    QVERIFY2(MaxAbs(b) > 1e-3, "logits should not be all zero");
    QVERIFY2(MaxAbsDiff(a, b) <= 1e-4 * scale,
             qPrintable(QString("cpu vs ref %1").arg(MaxAbsDiff(a, b))));
    const auto c = AllLogits(*fast, ids, 4);
    QVERIFY2(MaxAbsDiff(c, a) <= 1e-4 * scale,
             qPrintable(QString("chunk 4 vs whole %1").arg(MaxAbsDiff(c, a))));
    // Decoding the last tokens one at a time through the cache agrees with prefill.
    auto session = Session::Create(*fast).value();
    QVERIFY(session->Append(std::span<const int64_t>(ids.data(), 15)).ok());
    for (size_t i = 15; i < ids.size(); ++i) QVERIFY(session->Step(ids[i]).ok());
    const int64_t V = s.vocab;
    QVERIFY(MaxAbsDiff(session->last_logits().data(), a.data() + a.size() - V, size_t(V)) <=
            1e-4 * scale);
  }
};

QTEST_GUILESS_MAIN(TestGolden)
#include "test_golden.moc"
