// DocumentImporter and batch import into a real library: kinds, a batch that goes on past bad
// files, duplicates by hash, replaced files, files changed or deleted mid-import, encrypted
// PDFs (cancel stores nothing), and a 20-page PDF whose search hits land on the right pages.
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <string>

#include "common/pdf_writer.h"
#include "docstore/importer.h"
#include "docstore/search.h"
#include "docstore/store.h"

using namespace folio;
using namespace folio::docstore;

namespace {

ImportOptions Options() {
  ImportOptions o;
  o.pdf_helper = FOLIO_BINARY_DIR "/bin/folio-pdf-extract";
  return o;
}

std::string PageWord(int page) {
  std::string w = "quokka";
  w += std::to_string(page);
  w += "x";
  return w;
}

// A page of filler prose with one word found on this page only.
std::string PageText(int page) {
  std::string s = "Introductory filler about state space models and selective scans. ";
  s += "This page mentions " + PageWord(page) + " exactly once. ";
  for (int i = 0; i < 8; ++i) s += "More filler text that repeats on every page of the report. ";
  return s;
}

int CountReady(Library& lib) {
  auto docs = lib.ListDocuments();
  int n = 0;
  if (!docs.ok()) return -1;
  for (const auto& d : docs.value()) n += d.status == "ready";
  return n;
}

}  // namespace

class TestImporter : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  int libs_ = 0;
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_.filePath(QString::fromStdString(name)).toStdString();
    return testing::WriteBytes(path, bytes) ? path : "";
  }
  std::unique_ptr<Library> NewLibrary() {
    auto lib = Library::Open(dir_.filePath(QString("lib%1.sqlite").arg(libs_++)).toStdString());
    if (!lib.ok()) qFatal("%s", lib.status().message().c_str());
    return std::move(lib).value();
  }

 private slots:
  void kindComesFromMagicBytesThenExtension() {
    const std::string pdf = testing::MakePdf({{"x"}, "", ""});
    QCOMPARE(*DetectKind(Write("k1.txt", pdf)), DocumentKind::kPdf);  // magic wins
    QCOMPARE(*DetectKind(Write("k2.md", "# hi")), DocumentKind::kMarkdown);
    QCOMPARE(*DetectKind(Write("k2b.md", "# About PDFs\n\nFiles start with %PDF-1.7.\n")),
             DocumentKind::kMarkdown);
    QCOMPARE(*DetectKind(Write("k3.TXT", "hi")), DocumentKind::kText);
    auto fake = DetectKind(Write("k4.pdf", "just text"));
    QVERIFY(!fake.ok());
    QVERIFY(QString::fromStdString(fake.status().message()).contains("damaged or not a PDF"));
    QCOMPARE(DetectKind(Write("k5.docx", "PK\x03\x04")).status().code(), ErrorCode::kUnsupported);
  }
  void importFillsHashPathTimesAndChunks() {
    const std::string bytes = "# Heading\n\n" + std::string(5000, 'a') + " end.\n";
    const std::string path = Write("doc.md", bytes);
    auto doc = DocumentImporter(Options()).Import(path);
    QVERIFY2(doc.ok(), doc.status().message().c_str());
    QCOMPARE(doc->path, path);
    QCOMPARE(doc->title, std::string("Heading"));
    QCOMPARE(doc->bytes, static_cast<int64_t>(bytes.size()));
    QCOMPARE(doc->content_hash.size(), size_t{64});
    QVERIFY(doc->mtime > 1600000000);
    QVERIFY(!doc->chunks.empty());
    QCOMPARE(doc->chunks.back().last_page, static_cast<int>(doc->pages.size()));
  }
  void pdfWithoutTitleIsNamedAfterItsFile() {
    const std::string path =
        Write("untitled.pdf", testing::MakePdf({{"body text"}, "", "Someone"}));
    auto doc = DocumentImporter(Options()).Import(path);
    QVERIFY2(doc.ok(), doc.status().message().c_str());
    QCOMPARE(doc->title, std::string("untitled.pdf"));
    QCOMPARE(doc->author, std::string("Someone"));
  }
  void helperIsFoundWithoutBeingNamed() {
    // Tests run from build/tests; the helper is in build/bin.
    ImportOptions o;
    auto doc =
        DocumentImporter(o).Import(Write("found.pdf", testing::MakePdf({{"found"}, "", ""})));
    QVERIFY2(doc.ok(), doc.status().message().c_str());
  }
  void batchGoesOnPastBadFilesAndReportsEach() {
    auto lib = NewLibrary();
    const std::string good =
        testing::MakePdf({{"alpha page", "beta page", "gamma page"}, "Good", ""});
    const std::vector<std::string> paths = {Write("b1.pdf", good),
                                            Write("b2.pdf", ""),
                                            Write("b3.pdf", "not a pdf"),
                                            Write("b4.pdf", good.substr(0, 40)),
                                            Write("b5.txt", "plain text file\n"),
                                            Write("b6.txt", std::string("bin\0ary", 7)),
                                            dir_.filePath("missing.txt").toStdString()};
    std::vector<size_t> finished;
    auto results = ImportBatch(*lib, paths, Options(), [&](const BatchProgress& p) {
      if (p.finished) finished.push_back(p.file_index);
    });
    QCOMPARE(results.size(), paths.size());
    QCOMPARE(finished, (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6}));
    const FileOutcome expected[] = {
        FileOutcome::kAdded, FileOutcome::kFailed, FileOutcome::kFailed, FileOutcome::kFailed,
        FileOutcome::kAdded, FileOutcome::kFailed, FileOutcome::kFailed};
    for (size_t i = 0; i < results.size(); ++i) {
      QVERIFY2(results[i].outcome == expected[i],
               (results[i].path + ": " + results[i].error).c_str());
    }
    for (size_t i : {1, 2, 3}) {
      QVERIFY2(QString::fromStdString(results[i].error).contains("damaged or not a PDF"),
               results[i].error.c_str());
    }
    QVERIFY(QString::fromStdString(results[5].error).contains("binary"));
    QVERIFY(QString::fromStdString(results[6].error).contains("not found"));
    QCOMPARE(results[0].pages, 3);
    // The good files are whole; the bad ones are listed as failed, with nothing half-stored.
    QCOMPARE(CountReady(*lib), 2);
    auto docs = lib->ListDocuments();
    QVERIFY(docs.ok());
    for (const auto& d : docs.value()) {
      if (d.status != "ready") {
        QCOMPARE(d.pages, 0);
        QVERIFY(!d.error.empty());
        continue;
      }
      for (int p = 1; p <= d.pages; ++p) QVERIFY(lib->GetPage(d.id, p).ok());
      QVERIFY(!lib->GetChunks(d.id)->empty());
    }
    QVERIFY(lib->CheckIntegrity().ok());
  }
  void sameContentTwiceIsRecognised() {
    auto lib = NewLibrary();
    const std::string text = "The same words in two files.\n";
    const std::string a = Write("same-a.txt", text), b = Write("same-b.txt", text);
    auto first = ImportBatch(*lib, {a}, Options());
    auto again = ImportBatch(*lib, {a, b}, Options());
    QCOMPARE(first[0].outcome, FileOutcome::kAdded);
    QCOMPARE(again[0].outcome, FileOutcome::kDuplicate);
    QCOMPARE(again[1].outcome, FileOutcome::kDuplicate);
    QCOMPARE(again[1].doc_id, first[0].doc_id);
    QCOMPARE(CountReady(*lib), 1);
  }
  void changedFileReplacesItsOldVersion() {
    auto lib = NewLibrary();
    const std::string path = Write("changing.txt", "old version mentions wombat\n");
    QCOMPARE(ImportBatch(*lib, {path}, Options())[0].outcome, FileOutcome::kAdded);
    Write("changing.txt", "new version mentions platypus\n");
    QCOMPARE(ImportBatch(*lib, {path}, Options())[0].outcome, FileOutcome::kReplaced);
    QCOMPARE(CountReady(*lib), 1);
    QVERIFY(Search(*lib, "wombat", {})->empty());
    QCOMPARE(Search(*lib, "platypus", {})->size(), size_t{1});
  }
  void fileChangedDuringImportIsAnErrorAndNothingIsStored() {
    auto lib = NewLibrary();
    testing::PdfSpec spec;
    for (int i = 1; i <= 4; ++i) spec.pages.push_back(PageText(i));
    const std::string path = Write("moving.pdf", testing::MakePdf(spec));
    bool changed = false;
    auto results = ImportBatch(*lib, {path}, Options(), [&](const BatchProgress& p) {
      if (!changed && p.pages_done == 2) {  // mid-extraction: same size, other bytes
        spec.pages[0] = PageText(9);
        changed = testing::WriteBytes(path, testing::MakePdf(spec));
      }
    });
    QVERIFY(changed);
    QCOMPARE(results[0].outcome, FileOutcome::kFailed);
    QVERIFY2(
        QString::fromStdString(results[0].error).contains("changed while it was being imported"),
        results[0].error.c_str());
    QCOMPARE(CountReady(*lib), 0);
  }
  void fileDeletedDuringImportIsAnError() {
    const std::string path = Write("vanishing.txt", "soon gone\n");
    auto doc =
        DocumentImporter(Options()).Import(path, [&](int, int) { std::filesystem::remove(path); });
    QVERIFY(!doc.ok());
    QVERIFY2(QString::fromStdString(doc.status().message()).contains("deleted"),
             doc.status().message().c_str());
  }
  void encryptedPdfAsksAndCancelStoresNothing() {
    const std::string plain =
        Write("enc-plain.pdf", testing::MakePdf({{"classified words"}, "", ""}));
    const std::string locked = dir_.filePath("enc.pdf").toStdString();
    if (!testing::EncryptWithQpdf(plain, locked, "pw1", "owner")) QSKIP("qpdf not installed");
    auto lib = NewLibrary();
    ImportOptions o = Options();
    int asked = 0;
    o.password = [&](const std::string&, bool) -> std::optional<std::string> {
      ++asked;
      return std::nullopt;
    };
    auto cancelled = ImportBatch(*lib, {locked}, o);
    QCOMPARE(asked, 1);
    QCOMPARE(cancelled[0].outcome, FileOutcome::kFailed);
    QVERIFY(QString::fromStdString(cancelled[0].error).contains("needs a password"));
    QVERIFY(lib->ListDocuments()->empty());  // not even a "failed" row
    o.password = [](const std::string&, bool retry) -> std::optional<std::string> {
      if (retry) return std::nullopt;
      return "wrong";
    };
    auto wrong = ImportBatch(*lib, {locked}, o);
    QVERIFY(QString::fromStdString(wrong[0].error).contains("wrong password"));
    QCOMPARE(CountReady(*lib), 0);
    o.password = [](const std::string&, bool) -> std::optional<std::string> { return "pw1"; };
    auto right = ImportBatch(*lib, {locked}, o);
    // (the store may call it "replaced": it replaces the row that recorded the failure)
    QVERIFY2(right[0].outcome != FileOutcome::kFailed, right[0].error.c_str());
    QCOMPARE(CountReady(*lib), 1);
    QCOMPARE(Search(*lib, "classified", {})->size(), size_t{1});
  }
  void twentyPagePdfSearchHitsTheRightPages() {
    auto lib = NewLibrary();
    testing::PdfSpec spec;
    for (int i = 1; i <= 20; ++i) spec.pages.push_back(PageText(i));
    spec.title = "Twenty Pages";
    const std::string path = Write("twenty.pdf", testing::MakePdf(spec));
    auto results = ImportBatch(*lib, {path}, Options());
    QVERIFY2(results[0].outcome == FileOutcome::kAdded, results[0].error.c_str());
    QCOMPARE(results[0].pages, 20);
    for (int page = 1; page <= 20; ++page) {
      auto hits = Search(*lib, PageWord(page), {});
      QVERIFY2(hits.ok(), hits.status().message().c_str());
      QCOMPARE(hits->size(), size_t{1});
      QCOMPARE((*hits)[0].page, page);
      QCOMPARE((*hits)[0].title, std::string("Twenty Pages"));
    }
  }
  void foldersContributeTheirDocumentsSorted() {
    QTemporaryDir root;
    std::filesystem::create_directories(root.filePath("sub/deeper").toStdString());
    for (const char* f :
         {"b.pdf", "a.txt", "sub/c.MD", "sub/deeper/d.markdown", "skip.docx", "sub/e.png"}) {
      testing::WriteBytes(root.filePath(f).toStdString(), "x");
    }
    const std::string r = root.path().toStdString();
    const auto paths = CollectImportPaths({r, r + "/skip.docx"});
    const std::vector<std::string> expected = {r + "/a.txt", r + "/b.pdf", r + "/sub/c.MD",
                                               r + "/sub/deeper/d.markdown", r + "/skip.docx"};
    QCOMPARE(paths, expected);
  }
};

QTEST_GUILESS_MAIN(TestImporter)
#include "test_importer.moc"
