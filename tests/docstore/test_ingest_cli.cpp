// `folio-cli ingest` as a user sees it: a line per file, a summary, exit 0 / 1 (some file
// failed, the rest kept) / 2 (bad usage), --password, folders searched.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <string>

#include "common/pdf_writer.h"

using namespace folio;

namespace {

struct CliRun {
  int exit_code = -1;
  QString out, err;
};

CliRun Cli(const QStringList& args) {
  QProcess p;
  p.start(FOLIO_BINARY_DIR "/bin/folio-cli", args);
  p.waitForFinished(-1);
  return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
          QString::fromUtf8(p.readAllStandardOutput()),
          QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace

class TestIngestCli : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  QString Path(const char* name) { return dir_.filePath(name); }
  void Write(const char* name, const std::string& bytes) {
    std::filesystem::create_directories(
        std::filesystem::path(Path(name).toStdString()).parent_path());
    QVERIFY(testing::WriteBytes(Path(name).toStdString(), bytes));
  }

 private slots:
  void badUsageExitsTwo() {
    const QString lib = Path("usage.sqlite");
    CliRun r = Cli({"ingest", "--library", lib});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("usage: folio-cli ingest"));
    r = Cli({"ingest", Path("x.txt"), "--pasword", "typo", "--library", lib});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("unknown option --pasword"));
    std::filesystem::create_directories(Path("empty").toStdString());
    r = Cli({"ingest", Path("empty"), "--library", lib});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("no .pdf, .txt or .md files"));
  }
  void aFailedFileExitsOneAndTheOthersAreKept() {
    Write("batch/a.pdf", testing::MakePdf({{"first page words", "second page words"}, "A", ""}));
    Write("batch/b.pdf", "this is not a pdf");
    Write("batch/sub/c.md", "# Notes\n\nsome notes about hyenas\n");
    Write("batch/skip.jpg", "\xFF\xD8");
    const QString lib = Path("batch.sqlite");
    CliRun r = Cli({"ingest", Path("batch"), "--library", lib});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.out.contains(QRegularExpression(R"(\[1/3\] .*a\.pdf: 2 pages, \d+ pages/s, added)")),
             qPrintable(r.out));
    QVERIFY(
        r.out.contains(QRegularExpression(R"(\[2/3\] .*b\.pdf: failed: damaged or not a PDF)")));
    QVERIFY(r.out.contains(QRegularExpression(R"(\[3/3\] .*c\.md: 1 pages)")));
    QVERIFY(r.out.contains("ingested 3 files: 2 added, 0 replaced, 0 already there, 1 failed"));
    QVERIFY(r.err.contains("b.pdf: damaged or not a PDF"));
    // The good ones are searchable; running again recognises them.
    CliRun s = Cli({"search", "hyenas", "--library", lib});
    QCOMPARE(s.exit_code, 0);
    QVERIFY2(s.out.contains("Notes"), qPrintable(s.out + s.err));
    r = Cli({"ingest", Path("batch/a.pdf"), Path("batch/sub/c.md"), "--library", lib});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.contains("2 already there, 0 failed"));
  }
  void passwordComesFromTheCommandLine() {
    Write("enc/plain.pdf", testing::MakePdf({{"lockbox contents"}, "", ""}));
    if (!testing::EncryptWithQpdf(Path("enc/plain.pdf").toStdString(),
                                  Path("locked.pdf").toStdString(), "sesame", "owner")) {
      QSKIP("qpdf not installed");
    }
    const QString lib = Path("enc.sqlite");
    CliRun r = Cli({"ingest", Path("locked.pdf"), "--library", lib});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.out.contains("needs a password (give it with --password)"), qPrintable(r.out));
    r = Cli({"ingest", Path("locked.pdf"), "--password", "wrong", "--library", lib});
    QCOMPARE(r.exit_code, 1);
    QVERIFY(r.out.contains("wrong password"));
    r = Cli({"ingest", "--password=sesame", Path("locked.pdf"), "--library", lib});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.contains("1 pages"));
  }
};

QTEST_GUILESS_MAIN(TestIngestCli)
#include "test_ingest_cli.moc"
