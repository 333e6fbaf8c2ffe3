// folio-cli logits | generate | bench, run as a separate process on the fixtures: the .npy
// matches the golden logits, greedy generate reproduces gen_tokens, bad input exits 2 with
// one line on stderr.
#include <QtTest>

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <cmath>
#include <cstring>

#include "engine/safetensors.h"
#include "tests/common/cli_process.h"
#include "tests/common/golden.h"

using namespace folio;

namespace {

const QString kCli = folio::testing::kFolioCli;
const QString kTiny = QStringLiteral(FOLIO_FIXTURES_DIR "/jamba-tiny");

using Run = folio::testing::CliRun;

Run RunCli(const QStringList& args) { return folio::testing::RunFolioCli(args, 120000); }

QString Join(const std::vector<int64_t>& ids, const QString& sep) {
  QStringList s;
  for (int64_t id : ids) s << QString::number(id);
  return s.join(sep);
}

using Golden = folio::testing::GoldenFile;

Golden LoadGolden(const QString& dir) { return folio::testing::LoadGoldenFile(dir.toStdString()); }

// Parses a float32 C-order 2-D .npy (v1.0). False on anything else.
bool ReadNpy(const QString& path, int64_t* rows, int64_t* cols, std::vector<float>* data) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return false;
  const QByteArray b = f.readAll();
  if (b.size() < 10 || !b.startsWith("\x93NUMPY\x01\x00")) return false;
  const int hlen = uint8_t(b[8]) | (uint8_t(b[9]) << 8);
  if ((10 + hlen) % 64 != 0 || b.size() < 10 + hlen) return false;
  const QString header = QString::fromLatin1(b.mid(10, hlen));
  if (!header.endsWith('\n') || !header.contains("'descr': '<f4'") ||
      !header.contains("'fortran_order': False")) {
    return false;
  }
  static const QRegularExpression shape_re(R"('shape': \((\d+), (\d+)\))");
  const auto m = shape_re.match(header);
  if (!m.hasMatch()) return false;
  *rows = m.captured(1).toLongLong();
  *cols = m.captured(2).toLongLong();
  const qsizetype n = *rows * *cols;
  if (b.size() != 10 + hlen + n * 4) return false;
  data->resize(static_cast<size_t>(n));
  std::memcpy(data->data(), b.constData() + 10 + hlen, static_cast<size_t>(n) * 4);
  return true;
}

}  // namespace

class TestCliEngine : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() {
    if (!QFile::exists(kCli)) QSKIP("folio-cli is not built");
  }

  void logitsNpyMatchesGolden_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("jamba-tiny") << kTiny;
    QTest::newRow("jamba-tiny-bf16") << QStringLiteral(FOLIO_FIXTURES_DIR "/jamba-tiny-bf16");
  }
  void logitsNpyMatchesGolden() {
    QFETCH(QString, model);
    QTemporaryDir tmp;
    const Golden g = LoadGolden(model);
    const auto ids = g.Ids("input_ids");
    const QString out = tmp.filePath("logits.npy");
    const Run r = RunCli({"logits", "--model", model, "--tokens", Join(ids, ","), "--out", out,
                          "--device", "cpu"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    int64_t rows = 0, cols = 0;
    std::vector<float> got;
    QVERIFY(ReadNpy(out, &rows, &cols, &got));
    const auto want = g.Floats("logits");
    QCOMPARE(rows, int64_t(ids.size()));
    QCOMPARE(size_t(rows * cols), want.size());
    double d = 0;
    for (size_t i = 0; i < want.size(); ++i) d = std::max(d, std::fabs(double(got[i]) - want[i]));
    QVERIFY2(d <= 1e-4, qPrintable(QString("max abs diff %1").arg(d)));
  }

  void greedyGenerateReproducesGenTokens() {
    const Golden g = LoadGolden(kTiny);
    const auto want = g.Ids("gen_tokens");
    const Run r = RunCli({"generate", "--model", kTiny, "--tokens", Join(g.Ids("gen_prompt"), ","),
                          "--max-new", QString::number(want.size()), "--greedy", "--threads", "2"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QCOMPARE(r.out, Join(want, " ") + "\n");
  }

  void seededSamplingRepeats() {
    const QStringList args = {"generate", "--model", kTiny, "--tokens", "5,17,301", "--max-new",
                              "12", "--temperature", "0.8", "--top-p", "0.9", "--top-k", "50",
                              "--seed", "9"};
    const Run a = RunCli(args), b = RunCli(args);
    QVERIFY2(a.code == 0, qPrintable(a.err));
    QCOMPARE(a.out, b.out);
    QCOMPARE(a.out.trimmed().split(' ').size(), 12);
  }

  void benchPrintsPrefillAndDecodeFigures() {
    const Run r = RunCli({"bench", "--model", kTiny, "--prompt-tokens", "40", "--new-tokens", "4"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("tokens/s") && r.out.contains("ms/token"), qPrintable(r.out));
  }

  void badInputExitsTwoWithOneLine_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("says");
    const QString out = tmp_.filePath("x.npy");
    const QString fixtures = QStringLiteral(FOLIO_FIXTURES_DIR);
    QTest::newRow("no such folder")
        << QStringList{"logits", "--model", "/no/such/folder", "--tokens", "1", "--out", out}
        << "no such";
    QTest::newRow("not Jamba")
        << QStringList{"generate", "--model", fixtures + "/mixtral-tiny", "--tokens", "1"}
        << "mixtral";
    QTest::newRow("id >= vocab")
        << QStringList{"logits", "--model", kTiny, "--tokens", "5,512", "--out", out} << "512";
    QTest::newRow("negative id")
        << QStringList{"generate", "--model", kTiny, "--tokens", "-3"} << "-3";
    QTest::newRow("malformed tokens")
        << QStringList{"generate", "--model", kTiny, "--tokens", "5,x,7"} << "--tokens";
    QTest::newRow("missing tokens") << QStringList{"generate", "--model", kTiny} << "--tokens";
    QTest::newRow("cuda unavailable")
        << QStringList{"generate", "--model", kTiny, "--tokens", "1", "--device", "cuda"}
        << "use --device cpu";  // no module in this build, or no GPU: both say what to do
    QTest::newRow("unknown option")
        << QStringList{"bench", "--model", kTiny, "--prompt-tokenz", "3"} << "prompt-tokenz";
    QTest::newRow("bad top-p")
        << QStringList{"generate", "--model", kTiny, "--tokens", "1", "--top-p", "1.5"} << "top_p";
  }
  void badInputExitsTwoWithOneLine() {
    QFETCH(QStringList, args);
    QFETCH(QString, says);
    const Run r = RunCli(args);
    QCOMPARE(r.code, 2);
    QCOMPARE(r.err.count('\n'), 1);
    QVERIFY2(r.err.contains(says), qPrintable(r.err));
  }

  void damagedShardExitsTwo() {
    QTemporaryDir tmp;
    for (const char* name : {"config.json", "model.safetensors"}) {
      QVERIFY(QFile::copy(kTiny + "/" + name, tmp.filePath(name)));
    }
    QFile shard(tmp.filePath("model.safetensors"));
    QVERIFY(shard.open(QIODevice::ReadWrite));
    QVERIFY(shard.resize(shard.size() / 2));
    shard.close();
    const QString out = tmp.filePath("x.npy");
    const Run r = RunCli({"logits", "--model", tmp.path(), "--tokens", "1,2", "--out", out});
    QCOMPARE(r.code, 2);
    QCOMPARE(r.err.count('\n'), 1);
    QVERIFY(!QFile::exists(out));
  }

 private:
  QTemporaryDir tmp_;
};

QTEST_GUILESS_MAIN(TestCliEngine)
#include "test_cli_engine.moc"
