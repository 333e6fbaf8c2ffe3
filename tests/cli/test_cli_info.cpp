// folio-cli info, run as a separate process: the fixtures' plan, parameter counts and
// storage are printed; a missing folder, a non-Jamba config, a damaged or truncated
// shard and bad arguments exit with status 2 and exactly one line on stderr.
#include <QtTest>

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>

#include <unistd.h>

#include "tests/common/cli_process.h"

namespace {

const QString kCli = folio::testing::kFolioCli;

QString Fixture(const QString& name) {
  return QStringLiteral(FOLIO_FIXTURES_DIR) + "/" + name;
}

using Run = folio::testing::CliRun;

Run RunCli(const QStringList& args) { return folio::testing::RunFolioCli(args, 60000); }

// A copy of the bf16 fixture (26 shards) to damage.
QString CopyBf16(const QTemporaryDir& tmp) {
  const QString dst = tmp.path() + "/model";
  QDir().mkpath(dst);
  QDir src(Fixture("jamba-tiny-bf16"));
  for (const QString& f : src.entryList(QDir::Files)) QFile::copy(src.filePath(f), dst + "/" + f);
  return dst;
}

}  // namespace

class TestCliInfo : public QObject {
  Q_OBJECT

  // Exit status 2, one line on stderr containing every `mention`, nothing on stdout.
  static void ExpectBadInput(const Run& r, const QStringList& mentions) {
    QCOMPARE(r.code, 2);
    QVERIFY2(r.err.endsWith('\n') && r.err.count('\n') == 1, qPrintable(r.err));
    for (const QString& m : mentions) QVERIFY2(r.err.contains(m), qPrintable(r.err));
    QVERIFY2(r.out.isEmpty(), qPrintable(r.out));
  }

 private slots:
  void describesJambaTiny() {
    const Run r = RunCli({"info", "--model", Fixture("jamba-tiny")});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY(r.err.isEmpty());
    QVERIFY(r.out.contains("JambaForCausalLM"));
    QVERIFY(r.out.contains("M M+ A M+ M M+ A M+"));
    QVERIFY(r.out.contains("8: 2 attention, 6 Mamba; 4 MoE, 4 dense MLP"));
    QVERIFY(r.out.contains("attention layers  2, 6"));
    QVERIFY(r.out.contains("644560 total, 497104 active per token"));
    QVERIFY(r.out.contains("F32 in 1 file"));
    // 2 attention layers x K,V x 2 KV heads x 16 dims x 2 bytes.
    QVERIFY2(r.out.contains("256 B per token"), qPrintable(r.out));
  }

  void describesShardedBf16() {
    const Run r = RunCli({"info", "--model", Fixture("jamba-tiny-bf16")});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY(r.out.contains("959024 total, 516656 active per token"));
    QVERIFY(r.out.contains("BF16 in 26 files"));
    QVERIFY(r.out.contains("8 experts, top 2"));
  }

  void missingFolderExits2() {
    ExpectBadInput(RunCli({"info", "--model", "/nonexistent/folio-model"}),
                   {"/nonexistent/folio-model", "no such model folder"});
  }

  void nonJambaConfigExits2() {
    ExpectBadInput(RunCli({"info", "--model", Fixture("mamba-tiny")}),
                   {"mamba-tiny/config.json", "model_type 'mamba' is not supported"});
  }

  void damagedShardHeaderExits2() {
    QTemporaryDir tmp;
    const QString dir = CopyBf16(tmp);
    QFile f(dir + "/model-00012-of-00026.safetensors");
    QVERIFY(f.open(QIODevice::ReadWrite));
    QVERIFY(f.seek(8));
    f.write("\xff\xfe garbage");  // not UTF-8 any more
    f.close();
    ExpectBadInput(RunCli({"info", "--model", dir}),
                   {"model-00012-of-00026.safetensors", "not UTF-8"});
  }

  void truncatedShardExits2() {
    QTemporaryDir tmp;
    const QString dir = CopyBf16(tmp);
    const QByteArray shard = (dir + "/model-00020-of-00026.safetensors").toUtf8();
    QVERIFY(::truncate(shard.constData(), 3000) == 0);
    ExpectBadInput(RunCli({"info", "--model", dir}),
                   {"model-00020-of-00026.safetensors", "past the end"});
  }

  void missingShardExits2() {
    QTemporaryDir tmp;
    const QString dir = CopyBf16(tmp);
    QVERIFY(QFile::remove(dir + "/model-00001-of-00026.safetensors"));
    ExpectBadInput(RunCli({"info", "--model", dir}),
                   {"model-00001-of-00026.safetensors", "missing"});
  }

  void badArgumentsExit2() {
    ExpectBadInput(RunCli({"info"}), {"--model"});
    ExpectBadInput(RunCli({"info", "--model", Fixture("jamba-tiny"), "--colour", "red"}),
                   {"--colour"});
  }
};

QTEST_GUILESS_MAIN(TestCliInfo)
#include "test_cli_info.moc"
