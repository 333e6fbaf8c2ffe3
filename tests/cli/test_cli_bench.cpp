// folio-cli bench as a separate process: the synthetic model and a fixture, figures in
// JSON beside their floors, repeats, the per-part profile, int8 experts, and bad input.
// (Speeds are never asserted: only that each figure is there, positive and consistent.)
#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include "tests/common/cli_process.h"

namespace {

using Run = folio::testing::CliRun;

Run RunCli(const QStringList& args) { return folio::testing::RunFolioCli(args, 180000); }

QJsonObject Json(const Run& r) {
  QJsonParseError e{};
  const QJsonDocument d = QJsonDocument::fromJson(r.out.toUtf8(), &e);
  if (e.error != QJsonParseError::NoError) qWarning("not JSON: %s", qPrintable(r.out.left(400)));
  return d.object();
}

const char* kParts[] = {"embedding", "norms", "mamba", "attention", "dense_gemm", "moe",
                        "lm_head", "sampling", "other"};

}  // namespace

class TestCliBench : public QObject {
  Q_OBJECT
 private slots:
  void syntheticTinyReportsEveryContextAndRepeat() {
    const Run r = RunCli({"bench", "--synthetic", "jamba-tiny", "--context", "64,200",
                          "--new-tokens", "5", "--repeat", "2", "--json", "--threads", "2"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QJsonObject j = Json(r);
    QCOMPARE(j["model"].toString(), QString("synthetic jamba-tiny"));
    QCOMPARE(j["backend"].toString(), QString("cpu"));
    QVERIFY(j["parameters"].toDouble() > j["active_parameters"].toDouble());
    const QJsonArray runs = j["runs"].toArray();
    QCOMPARE(runs.size(), 4);
    const int contexts[] = {64, 64, 200, 200};
    for (int i = 0; i < runs.size(); ++i) {
      const QJsonObject run = runs[i].toObject();
      QCOMPARE(run["context"].toInt(), contexts[i]);
      QCOMPARE(run["repeat"].toInt(), i % 2 + 1);
      QVERIFY(run["prefill_s"].toDouble() > 0);
      QVERIFY(run["decode_ms_per_token"].toDouble() > 0);
      QVERIFY(run["peak_memory_bytes"].toDouble() > 0);
      // The floor is a floor: measured time is never below it (10% slack for timer and
      // bandwidth-measurement noise).
      QVERIFY(run["decode_fraction_of_floor"].toDouble() > 0);
      QVERIFY(run["decode_fraction_of_floor"].toDouble() < 1.1);
      QCOMPARE(run["decode_tokens"].toInt(), 5);
    }
    // Longer context: more FLOPs and more bytes per decode step.
    QVERIFY(runs[2].toObject()["prefill_flops"].toDouble() >
            runs[0].toObject()["prefill_flops"].toDouble());
    QVERIFY(runs[2].toObject()["decode_bytes_per_token"].toDouble() >
            runs[0].toObject()["decode_bytes_per_token"].toDouble());
    QCOMPARE(j["repeat_spread"].toArray().size(), 2);
    QVERIFY(r.err.contains("repeat spread at 200"));  // the human table goes to stderr
  }

  void seededPromptsGiveTheSameFiguresOfWork() {
    // Same seed: the same model and prompt, so the same counted work; another seed, other
    // weights (the weights' bytes are equal, the run still succeeds).
    const QStringList base = {"bench", "--synthetic", "jamba-tiny", "--context", "32",
                              "--new-tokens", "2", "--json"};
    const Run a = RunCli(base + QStringList{"--seed", "3"});
    const Run b = RunCli(base + QStringList{"--seed", "4"});
    QVERIFY2(a.code == 0 && b.code == 0, qPrintable(a.err + b.err));
    QCOMPARE(Json(a)["runs"].toArray()[0].toObject()["prefill_flops"].toDouble(),
             Json(b)["runs"].toArray()[0].toObject()["prefill_flops"].toDouble());
  }

  void profileSplitsTheTimeIntoParts() {
    const Run r = RunCli({"bench", "--synthetic", "jamba-tiny", "--context", "300",
                          "--new-tokens", "8", "--profile", "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QJsonObject run = Json(r)["runs"].toArray()[0].toObject();
    for (const char* phase : {"prefill_profile", "decode_profile"}) {
      const QJsonObject p = run[phase].toObject();
      const QJsonObject ms = p["ms"].toObject();
      double sum = 0;
      for (const char* part : kParts) {
        QVERIFY2(ms.contains(part), part);
        QVERIFY(ms[part].toDouble() >= 0);
        sum += ms[part].toDouble();
      }
      // jamba-tiny has every kind of layer: each part took time.
      for (const char* part : {"norms", "mamba", "attention", "dense_gemm", "moe"})
        QVERIFY2(ms[part].toDouble() > 0, part);
      const double total = p["total_ms"].toDouble();
      QVERIFY(total > 0);
      const double parts_only = sum - ms["sampling"].toDouble();  // sampling is the bench's
      QVERIFY2(parts_only <= total * 1.02 + 0.05 && parts_only >= total * 0.9,
               qPrintable(QString("parts %1 ms, wall %2 ms").arg(parts_only).arg(total)));
      QCOMPARE(p["layers_ms"].toArray().size(), 8);
    }
    QCOMPARE(run["prefill_profile"].toObject()["tokens"].toInt(), 300);
    QCOMPARE(run["decode_profile"].toObject()["forwards"].toInt(), 8);
    QVERIFY(r.err.contains("decode profile"));
  }

  void int8ExpertsHoldFewerBytes() {
    const QStringList base = {"bench", "--model", QStringLiteral(FOLIO_FIXTURES_DIR "/jamba-tiny-bf16"),
                              "--prompt-tokens", "20", "--new-tokens", "2", "--json"};
    const Run plain = RunCli(base), int8 = RunCli(base + QStringList{"--experts-int8"});
    QVERIFY2(plain.code == 0 && int8.code == 0, qPrintable(plain.err + int8.err));
    const QJsonObject p = Json(plain), q = Json(int8);
    QVERIFY(q["experts_int8"].toBool());
    QVERIFY(q["weight_bytes_held"].toDouble() < p["weight_bytes_held"].toDouble());
    QVERIFY(q["expert_bytes_counted"].toDouble() < p["expert_bytes_counted"].toDouble());
    QVERIFY(q["runs"].toArray()[0].toObject()["decode_bytes_per_token"].toDouble() <
            p["runs"].toArray()[0].toObject()["decode_bytes_per_token"].toDouble());
  }

  void planOnlyShowsWhatFitsAnEightyGigabyteCard() {
    // The claim, by arithmetic and without a GPU: Jamba-1.5-Mini with bf16 experts
    // does not fit 80 GiB; with int8 experts it fits 140K tokens (and the 256K maximum).
    const QStringList base = {"bench", "--synthetic", "jamba-1.5-mini", "--plan-only",
                              "--context", "140000,262144", "--memory-limit", "80G", "--json"};
    const Run bf16 = RunCli(base), int8 = RunCli(base + QStringList{"--experts-int8"});
    QVERIFY2(bf16.code == 0 && int8.code == 0, qPrintable(bf16.err + int8.err));
    const QJsonObject b = Json(bf16), q = Json(int8);
    QCOMPARE(b["budget_bytes"].toDouble(), 80.0 * (1 << 30));
    QCOMPARE(b["max_context_fits"].toInt(), 0);
    QVERIFY(!b["contexts"].toArray()[0].toObject()["fits"].toBool());
    QVERIFY(q["contexts"].toArray()[0].toObject()["fits"].toBool());
    QVERIFY(q["contexts"].toArray()[1].toObject()["fits"].toBool());
    QVERIFY(q["max_context_fits"].toDouble() >= 262144);
    // Floors printed for the reader: decode at 140K is about 6 ms with bf16 experts.
    const Run h200 = RunCli({"bench", "--synthetic", "jamba-1.5-mini", "--plan-only", "--context",
                             "140000", "--json"});
    const double decode = Json(h200)["contexts"].toArray()[0].toObject()["decode_floor_ms"].toDouble();
    QVERIFY(decode > 5.8 && decode < 6.3);
  }

  void badInputExitsTwoWithOneLine_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("says");
    const QString tiny = QStringLiteral(FOLIO_FIXTURES_DIR "/jamba-tiny");
    QTest::newRow("no model") << QStringList{"bench"} << "--synthetic";
    QTest::newRow("both") << QStringList{"bench", "--model", tiny, "--synthetic", "jamba-tiny"}
                          << "either";
    QTest::newRow("unknown synthetic") << QStringList{"bench", "--synthetic", "gpt-9"}
                                       << "jamba-1.5-mini";
    QTest::newRow("bad context") << QStringList{"bench", "--synthetic", "jamba-tiny", "--context",
                                                "4096,0"}
                                 << "--context";
    QTest::newRow("context and prompt-tokens")
        << QStringList{"bench", "--synthetic", "jamba-tiny", "--context", "8", "--prompt-tokens", "8"}
        << "one";
    QTest::newRow("bad memory limit")
        << QStringList{"bench", "--synthetic", "jamba-tiny", "--memory-limit", "lots"} << "80G";
    QTest::newRow("bad repeat") << QStringList{"bench", "--synthetic", "jamba-tiny", "--repeat", "0"}
                                << "--repeat";
    QTest::newRow("no gpu") << QStringList{"bench", "--synthetic", "jamba-tiny", "--device", "cuda"}
                            << "use --device cpu";
    QTest::newRow("unknown option")
        << QStringList{"bench", "--synthetic", "jamba-tiny", "--contexts", "3"} << "contexts";
  }
  void badInputExitsTwoWithOneLine() {
    QFETCH(QStringList, args);
    QFETCH(QString, says);
    const Run r = RunCli(args);
    QCOMPARE(r.code, 2);
    QCOMPARE(r.err.count('\n'), 1);
    QVERIFY2(r.err.contains(says), qPrintable(r.err));
  }
};

QTEST_GUILESS_MAIN(TestCliBench)
#include "test_cli_bench.moc"
