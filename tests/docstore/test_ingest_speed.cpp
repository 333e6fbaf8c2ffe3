// Measures (prints, never asserts) `folio-cli ingest` pages/s, indexing included, against
// `pdftotext` on the same generated PDFs: 20 files x 50 pages of prose.
#include <QElapsedTimer>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/resource.h>

#include <filesystem>
#include <random>
#include <string>

#include "common/pdf_writer.h"

using namespace folio;

namespace {

constexpr int kFiles = 20;
constexpr int kPages = 50;

std::string PageProse(std::mt19937& rng) {
  static const char* kWords[] = {"the",      "selective", "state",    "space",     "model",
                                 "scans",    "its",       "input",    "with",      "a",
                                 "hardware", "aware",     "parallel", "algorithm", "and",
                                 "mixes",    "experts",   "across",   "layers"};
  std::string s;
  for (int w = 0; w < 450; ++w) {  // about a printed page
    s += kWords[rng() % (sizeof kWords / sizeof *kWords)];
    s += (w % 15 == 14) ? ". " : " ";
    if (w % 90 == 89) s += "\n";
  }
  return s;
}

// CPU seconds (user + system) of waited-for children so far, grandchildren included: the
// figure that does not depend on what else the machine is doing.
double ChildrenCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double RunTimed(const QString& program, const QStringList& args, int* exit_code) {
  QProcess p;
  p.setStandardOutputFile(QProcess::nullDevice());
  QElapsedTimer t;
  t.start();
  p.start(program, args);
  p.waitForFinished(-1);
  *exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  return static_cast<double>(t.nsecsElapsed()) / 1e9;
}

}  // namespace

class TestIngestSpeed : public QObject {
  Q_OBJECT
 private slots:
  void ingestPagesPerSecondAgainstPdftotext() {
    const QString pdftotext = QStandardPaths::findExecutable("pdftotext");
    if (pdftotext.isEmpty()) QSKIP("pdftotext (poppler-utils) not installed");
    QTemporaryDir dir;
    const std::string in = dir.filePath("pdfs").toStdString();
    std::filesystem::create_directories(in);
    std::mt19937 rng(5);
    std::vector<std::string> files;
    for (int f = 0; f < kFiles; ++f) {
      testing::PdfSpec spec;
      for (int p = 0; p < kPages; ++p) spec.pages.push_back(PageProse(rng));
      files.push_back(in + "/doc" + std::to_string(f) + ".pdf");
      QVERIFY(testing::WriteBytes(files.back(), testing::MakePdf(spec)));
    }
    const double pages = kFiles * kPages;

    int rc = 0;
    double text_s = 0;
    const double cpu0 = ChildrenCpuSeconds();
    for (const auto& f : files) {
      text_s += RunTimed(pdftotext, {QString::fromStdString(f), dir.filePath("out.txt")}, &rc);
      QCOMPARE(rc, 0);
    }
    const double cpu1 = ChildrenCpuSeconds();
    const double ingest_s = RunTimed(
        FOLIO_BINARY_DIR "/bin/folio-cli",
        {"ingest", QString::fromStdString(in), "--library", dir.filePath("speed.sqlite")}, &rc);
    QCOMPARE(rc, 0);
    const double cpu2 = ChildrenCpuSeconds();
    qInfo("pdftotext:        %4.0f pages in %.2f s = %6.0f pages/s (one process per file)", pages,
          text_s, pages / text_s);
    qInfo("folio-cli ingest: %4.0f pages in %.2f s = %6.0f pages/s (extract + chunk + store + FTS)",
          pages, ingest_s, pages / ingest_s);
    qInfo("ratio ingest/pdftotext: %.2f wall clock, %.2f in CPU time (%.2f s vs %.2f s)",
          text_s / ingest_s, (cpu1 - cpu0) / (cpu2 - cpu1), cpu2 - cpu1, cpu1 - cpu0);
  }
};

QTEST_GUILESS_MAIN(TestIngestSpeed)
#include "test_ingest_speed.moc"
