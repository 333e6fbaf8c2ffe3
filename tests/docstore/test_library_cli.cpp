// folio-cli docs / search / remove / library-reset against a library the test builds:
// JSON lines with the documented fields, --library anywhere, FOLIO_LIBRARY, exit codes,
// and a damaged store reported and left alone until library-reset is asked for.
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include "docstore/store.h"
#include "store_test_util.h"

using namespace folio;
using namespace folio::docstore;
using folio::docstore::testing::Filler;
using folio::docstore::testing::MakeDocument;
using folio::docstore::testing::ReadAll;

namespace {

struct Run {
  int exit_code = -1;
  QString out;
  QString err;
};

Run FolioCli(const QStringList& args,
             const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
  QProcess p;
  p.setProcessEnvironment(env);
  p.start(QStringLiteral(FOLIO_BINARY_DIR "/bin/folio-cli"), args);
  Run r;
  if (!p.waitForFinished(60000)) return r;
  r.exit_code = p.exitCode();
  r.out = QString::fromUtf8(p.readAllStandardOutput());
  r.err = QString::fromUtf8(p.readAllStandardError());
  return r;
}

std::vector<QJsonObject> JsonLines(const QString& out) {
  std::vector<QJsonObject> objects;
  for (const QString& line : out.split('\n', Qt::SkipEmptyParts)) {
    objects.push_back(QJsonDocument::fromJson(line.toUtf8()).object());
  }
  return objects;
}

}  // namespace

class TestLibraryCli : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  QString lib_path_;
  int64_t paged_ = 0;
  int64_t other_ = 0;

 private slots:
  void initTestCase() {
    QVERIFY2(QFile::exists(FOLIO_BINARY_DIR "/bin/folio-cli"), "build folio-cli first");
    lib_path_ = dir_.filePath("cli.sqlite");
    auto lib = Library::Open(lib_path_.toStdString());
    QVERIFY(lib.ok());
    std::mt19937 rng(3);
    std::vector<std::string> pages;
    for (int p = 1; p <= 20; ++p) {
      pages.push_back(Filler(rng, 80) + " lighthouse" + std::to_string(p) + " " + Filler(rng, 80));
    }
    paged_ =
        (*lib)
            ->StoreDocument(MakeDocument("/docs/paged.txt", "Paged \"quoted\" title", pages, 1200))
            ->doc_id;
    other_ =
        (*lib)->StoreDocument(MakeDocument("/docs/other.txt", "Other", {Filler(rng, 50)}))->doc_id;
  }

  void docsJsonHasOneObjectPerDocument() {
    const Run r = FolioCli({"docs", "--json", "--library", lib_path_});
    QCOMPARE(r.exit_code, 0);
    const auto docs = JsonLines(r.out);
    QCOMPARE(docs.size(), size_t{2});
    QCOMPARE(docs[0]["doc_id"].toInteger(), paged_);
    QCOMPARE(docs[0]["title"].toString(), QString("Paged \"quoted\" title"));
    QCOMPARE(docs[0]["path"].toString(), QString("/docs/paged.txt"));
    QCOMPARE(docs[0]["pages"].toInt(), 20);
    QCOMPARE(docs[0]["status"].toString(), QString("ready"));
  }

  void searchJsonGivesDocumentTitlePageScoreSnippet() {
    // --library before the query, on purpose: it may go anywhere.
    const Run r = FolioCli({"search", "--library", lib_path_, "lighthouse13", "--json"});
    QCOMPARE(r.exit_code, 0);
    const auto hits = JsonLines(r.out);
    QCOMPARE(hits.size(), size_t{1});
    QCOMPARE(hits[0]["doc_id"].toInteger(), paged_);
    QCOMPARE(hits[0]["title"].toString(), QString("Paged \"quoted\" title"));
    QCOMPARE(hits[0]["page"].toInt(), 13);
    QVERIFY(hits[0]["score"].toDouble() > 0);
    QVERIFY(hits[0]["snippet"].toString().contains("lighthouse13"));
  }

  void searchHonoursLimitAndDocumentFilter() {
    Run r = FolioCli({"search", "lorem ipsum", "--limit", "2", "--json", "--library", lib_path_});
    QCOMPARE(r.exit_code, 0);
    QCOMPARE(JsonLines(r.out).size(), size_t{2});
    r = FolioCli(
        {"search", "lorem", "--docs", QString::number(other_), "--json", "--library", lib_path_});
    QCOMPARE(r.exit_code, 0);
    const auto hits = JsonLines(r.out);
    QVERIFY(!hits.empty());
    for (const auto& h : hits) QCOMPARE(h["doc_id"].toInteger(), other_);
    r = FolioCli({"search", "lorem", "--docs", "x,1", "--library", lib_path_});
    QCOMPARE(r.exit_code, 2);
  }

  void searchTextIsNeverFtsSyntax() {
    const Run r = FolioCli({"search", "NEAR(\"lighthouse2\" -x* :(", "--library", lib_path_});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.err.isEmpty());
  }

  void libraryComesFromTheEnvironmentWithoutTheFlag() {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("FOLIO_LIBRARY", lib_path_);
    const Run r = FolioCli({"docs", "--json"}, env);
    QCOMPARE(r.exit_code, 0);
    QCOMPARE(JsonLines(r.out).size(), size_t{2});
  }

  void removeDeletesOnlyThatDocument() {
    const QString copy = dir_.filePath("remove.sqlite");
    {
      auto lib = Library::Open(copy.toStdString());
      std::mt19937 rng(9);
      QVERIFY((*lib)->StoreDocument(MakeDocument("/a", "A", {Filler(rng, 40)})).ok());
      QVERIFY((*lib)->StoreDocument(MakeDocument("/b", "B", {Filler(rng, 40)})).ok());
    }
    Run r = FolioCli({"remove", "1", "--library", copy});
    QCOMPARE(r.exit_code, 0);
    r = FolioCli({"docs", "--json", "--library", copy});
    const auto docs = JsonLines(r.out);
    QCOMPARE(docs.size(), size_t{1});
    QCOMPARE(docs[0]["title"].toString(), QString("B"));
    r = FolioCli({"remove", "1", "--library", copy});
    QCOMPARE(r.exit_code, 2);
    QVERIFY(r.err.contains("no document with id 1"));
  }

  void damagedStoreIsReportedAndKeptUntilReset() {
    const QString bad = dir_.filePath("damaged.sqlite");
    {
      std::ofstream f(bad.toStdString(), std::ios::binary);
      f << std::string(5000, 'z');
    }
    const QByteArray before = ReadAll(bad);
    Run r = FolioCli({"docs", "--library", bad});
    QCOMPARE(r.exit_code, 2);
    QVERIFY2(r.err.contains("store damaged"), qPrintable(r.err));
    QVERIFY(r.err.contains("library-reset"));
    QCOMPARE(ReadAll(bad), before);
    r = FolioCli({"library-reset", "--library", bad});
    QCOMPARE(r.exit_code, 0);
    const auto aside = QDir(dir_.path()).entryList({"damaged.sqlite.damaged-*"});
    QCOMPARE(aside.size(), 1);
    QCOMPARE(ReadAll(dir_.filePath(aside[0])), before);
    r = FolioCli({"docs", "--json", "--library", bad});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.isEmpty());
    // A healthy library is never moved aside.
    r = FolioCli({"library-reset", "--library", lib_path_});
    QCOMPARE(r.exit_code, 0);
    QVERIFY(r.out.contains("nothing was moved"));
  }

  void unknownOptionIsRefused() {
    const Run r = FolioCli({"docs", "--library", lib_path_, "--jsno"});
    QCOMPARE(r.exit_code, 2);
  }
};

QTEST_GUILESS_MAIN(TestLibraryCli)
#include "test_library_cli.moc"
