// Replays the fuzz seed corpus (tests/fuzz/corpus/<target>/) through all four parsers
// with the normal compiler, so CI exercises the fuzz targets' inputs without clang.
// Files named ok-* must be accepted by their own target's parser and bad-* refused;
// other files (inputs a fuzzer found) only have to pass through without a crash.
#include <QtTest>

#include "fuzz_entry.h"
#include "fuzz_text_entry.h"

namespace {

using RunFn = bool (*)(const uint8_t*, size_t);

struct Target {
  const char* dir;
  RunFn run;
};

const Target kTargets[] = {{"fuzz_safetensors_header", folio::fuzz::RunSafetensorsHeader},
                           {"fuzz_index", folio::fuzz::RunIndex},
                           {"fuzz_config", folio::fuzz::RunConfig},
                           {"fuzz_text", folio::fuzz::RunTextDecode}};
constexpr int kTargetCount = static_cast<int>(sizeof(kTargets) / sizeof(kTargets[0]));

}  // namespace

class TestFuzzCorpus : public QObject {
  Q_OBJECT

 private slots:
  void corpusFileBehavesAsNamed_data() {
    QTest::addColumn<QString>("path");
    QTest::addColumn<int>("target");
    for (int t = 0; t < kTargetCount; ++t) {
      QDir dir(QStringLiteral(FOLIO_FUZZ_CORPUS_DIR) + "/" + kTargets[t].dir);
      const QStringList files = dir.entryList(QDir::Files, QDir::Name);
      QVERIFY2(files.size() >= 5, qPrintable(dir.path()));
      for (const QString& f : files) {
        QTest::newRow(qPrintable(QString(kTargets[t].dir) + "/" + f)) << dir.filePath(f) << t;
      }
    }
  }
  void corpusFileBehavesAsNamed() {
    QFETCH(QString, path);
    QFETCH(int, target);
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray bytes = f.readAll();
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.constData());
    const auto size = static_cast<size_t>(bytes.size());
    bool accepted[kTargetCount];
    for (int t = 0; t < kTargetCount; ++t) accepted[t] = kTargets[t].run(data, size);
    const QString name = QFileInfo(path).fileName();
    if (name.startsWith("ok-")) QVERIFY(accepted[target]);
    if (name.startsWith("bad-")) QVERIFY(!accepted[target]);
  }
};

QTEST_GUILESS_MAIN(TestFuzzCorpus)
#include "test_fuzz_corpus.moc"
