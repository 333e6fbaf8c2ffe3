// RELIABILITY 7: `folio-cli ingest` SIGKILLed at random moments, 50 times over, into one
// library. After every kill the store passes integrity_check and each document in it is
// whole: all its pages, and exactly the chunks the chunker makes from them.
#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <random>
#include <string>

#include "common/pdf_writer.h"
#include "docstore/chunker.h"
#include "docstore/search.h"
#include "docstore/store.h"

using namespace folio;
using namespace folio::docstore;

namespace {

constexpr int kPdfPages = 12;
constexpr int kRuns = 50;

std::string Generation(int g) {
  std::string s = "gen";
  s += std::to_string(g);
  s += "marker";
  return s;
}

// Paragraphs of prose that differ per generation, so every run has new content to store.
std::string Prose(int g, int file, int paragraphs) {
  std::mt19937 rng(static_cast<uint32_t>(g * 100 + file));
  const char* words[] = {"selective", "scan",   "hybrid",  "layer",  "expert",   "router",
                         "state",     "kernel", "context", "window", "document", "library"};
  std::string s = Generation(g) + " file " + std::to_string(file) + ". ";
  for (int p = 0; p < paragraphs; ++p) {
    for (int w = 0; w < 60; ++w) s += std::string(words[rng() % 12]) + (w % 12 == 11 ? ". " : " ");
    s += "\n\n";
  }
  return s;
}

}  // namespace

class TestIngestKill : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  std::string in_dir_, library_;

  void WriteGeneration(int g) {
    for (int f = 0; f < 3; ++f) {
      testing::PdfSpec spec;
      for (int p = 0; p < kPdfPages; ++p) spec.pages.push_back(Prose(g, f * 100 + p, 2));
      spec.title = "Paper " + std::to_string(f);
      testing::WriteBytes(in_dir_ + "/paper" + std::to_string(f) + ".pdf", testing::MakePdf(spec));
      testing::WriteBytes(in_dir_ + "/notes" + std::to_string(f) + ".txt", Prose(g, f, 40));
    }
  }

  // Starts an ingest; returns its exit code, or -1 when it was killed after `kill_ms`.
  int RunIngest(int kill_ms) {
    QProcess p;
    p.setStandardOutputFile(QProcess::nullDevice());
    p.setStandardErrorFile(QProcess::nullDevice());
    p.start(FOLIO_BINARY_DIR "/bin/folio-cli", {"ingest", QString::fromStdString(in_dir_),
                                                "--library", QString::fromStdString(library_)});
    if (!p.waitForStarted()) return -2;
    if (kill_ms >= 0 && !p.waitForFinished(kill_ms)) {
      p.kill();  // SIGKILL
      p.waitForFinished();
      return -1;
    }
    p.waitForFinished(-1);
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -3;
  }

  // Integrity, and every stored document whole. Returns how many documents are there.
  int CheckStore() {
    auto lib = Library::Open(library_);
    if (!lib.ok()) qFatal("library does not open after a kill: %s", lib.status().message().c_str());
    const Status integrity = (*lib)->CheckIntegrity();
    if (!integrity.ok()) qFatal("integrity: %s", integrity.message().c_str());
    auto docs = (*lib)->ListDocuments();
    if (!docs.ok()) qFatal("%s", docs.status().message().c_str());
    for (const auto& d : docs.value()) {
      if (d.status != "ready") qFatal("unexpected failed row: %s", d.error.c_str());
      if (d.kind == DocumentKind::kPdf && d.pages != kPdfPages)
        qFatal("pdf with %d pages", d.pages);
      std::vector<Page> pages;
      for (int p = 1; p <= d.pages; ++p) {
        auto page = (*lib)->GetPage(d.id, p);
        if (!page.ok()) qFatal("doc %lld misses page %d", static_cast<long long>(d.id), p);
        pages.push_back(*page);
      }
      if ((*lib)->GetPage(d.id, d.pages + 1).ok()) qFatal("doc has pages past its count");
      auto chunks = (*lib)->GetChunks(d.id);
      const auto expected = ChunkPages(pages);
      if (!chunks.ok() || chunks->size() != expected.size()) {
        qFatal("doc %lld has %zu chunks, its pages make %zu", static_cast<long long>(d.id),
               chunks.ok() ? chunks->size() : 0, expected.size());
      }
      for (size_t i = 0; i < expected.size(); ++i) {
        const Chunk& c = (*chunks)[i].chunk;
        if (c.char_begin != expected[i].char_begin || c.char_end != expected[i].char_end) {
          qFatal("doc %lld chunk %zu has other bounds than its pages give",
                 static_cast<long long>(d.id), i);
        }
      }
    }
    return static_cast<int>(docs->size());
  }

 private slots:
  void randomKillsLeaveWholeDocumentsOnly() {
    in_dir_ = dir_.filePath("in").toStdString();
    library_ = dir_.filePath("library.sqlite").toStdString();
    std::filesystem::create_directories(in_dir_);
    WriteGeneration(0);
    QElapsedTimer t;
    t.start();
    QCOMPARE(RunIngest(-1), 0);
    const int full_ms = static_cast<int>(t.elapsed()) + 1;
    QCOMPARE(CheckStore(), 6);

    std::mt19937 rng(20261128);
    int killed = 0;
    for (int run = 1; run <= kRuns; ++run) {
      WriteGeneration(run);
      const int kill_ms = static_cast<int>(rng() % static_cast<uint32_t>(full_ms));
      const int rc = RunIngest(kill_ms);
      QVERIFY2(rc == -1 || rc == 0, qPrintable(QString("run %1 exit %2").arg(run).arg(rc)));
      killed += rc == -1;
      QCOMPARE(CheckStore(), 6);  // replaced in one transaction: never 0 or 2 versions
    }
    qInfo("%d of %d runs killed mid-import (a full run takes %d ms)", killed, kRuns, full_ms);
    QVERIFY(killed > 0);

    // Still usable: a last run completes and stores the newest content.
    QCOMPARE(RunIngest(-1), 0);
    QCOMPARE(CheckStore(), 6);
    auto lib = Library::Open(library_);
    QVERIFY(lib.ok());
    auto hits = Search(**lib, Generation(kRuns), {});
    QVERIFY(hits.ok());
    QCOMPARE(hits->empty(), false);
  }
};

QTEST_GUILESS_MAIN(TestIngestKill)
#include "test_ingest_kill.moc"
