// PDF extraction out of process: known text on known pages, metadata, and every hostile
// shape of RELIABILITY 1-4 ending in a clear error (or a recovery) with this process alive.
#include <QTemporaryDir>
#include <QtTest>

#include <string>

#include "common/pdf_writer.h"
#include "docstore/pdf_import.h"

using namespace folio;
using namespace folio::docstore;

namespace {

PdfImportOptions Options() {
  PdfImportOptions o;
  o.helper_path = FOLIO_BINARY_DIR "/bin/folio-pdf-extract";
  o.limits.timeout_seconds = 30;
  return o;
}

bool Contains(const std::string& haystack, const char* needle) {
  return haystack.find(needle) != std::string::npos;
}

// "P3Q": a word that appears on page 3 only.
std::string Marker(int page) {
  std::string m = "P";
  m += std::to_string(page);
  m += 'Q';
  return m;
}

}  // namespace

class TestPdfImport : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  std::string Write(const char* name, const std::string& bytes) {
    const std::string path = dir_.filePath(name).toStdString();
    return testing::WriteBytes(path, bytes) ? path : "";
  }
  // An extraction that must fail with `code` and a message containing `words`.
  void ExpectError(const std::string& path, const PdfImportOptions& opt, ErrorCode code,
                   const char* words) {
    auto r = ExtractPdf(path, opt);
    QVERIFY2(!r.ok(), "extraction should have failed");
    QVERIFY2(r.status().code() == code, r.status().message().c_str());
    QVERIFY2(Contains(r.status().message(), words), r.status().message().c_str());
  }

 private slots:
  void extractsKnownTextOnKnownPagesWithMetadata() {
    testing::PdfSpec spec;
    for (int i = 1; i <= 5; ++i) spec.pages.push_back("Page marker " + Marker(i) + " here.");
    spec.title = "Known Title";
    spec.author = "Ada Author";
    std::vector<int> progress;
    PdfImportOptions opt = Options();
    opt.progress = [&](int done, int total) {
      QCOMPARE(total, 5);
      progress.push_back(done);
    };
    auto r = ExtractPdf(Write("known.pdf", testing::MakePdf(spec)), opt);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->title, std::string("Known Title"));
    QCOMPARE(r->author, std::string("Ada Author"));
    QCOMPARE(r->pages.size(), size_t{5});
    for (int i = 1; i <= 5; ++i) {
      QCOMPARE(r->pages[i - 1].number, i);
      const std::string own = Marker(i), next = Marker(i % 5 + 1);
      QVERIFY(Contains(r->pages[i - 1].text, own.c_str()));
      QVERIFY(!Contains(r->pages[i - 1].text, next.c_str()));
    }
    QCOMPARE(progress, (std::vector<int>{1, 2, 3, 4, 5}));
  }
  void zeroByteTruncatedAndNonPdfAreDamaged() {
    const std::string good = testing::MakePdf({{"Some text"}, "", ""});
    ExpectError(Write("zero.pdf", ""), Options(), ErrorCode::kCorrupt, "damaged or not a PDF");
    ExpectError(Write("head.pdf", good.substr(0, 20)), Options(), ErrorCode::kCorrupt,
                "damaged or not a PDF");
    ExpectError(Write("jpeg.pdf", "\xFF\xD8\xFF\xE0 not a pdf at all"), Options(),
                ErrorCode::kCorrupt, "damaged or not a PDF");
    // Cut in the middle: a reader may rebuild what is left; it must not crash or hang.
    auto half = ExtractPdf(Write("half.pdf", good.substr(0, good.size() / 2)), Options());
    QVERIFY(half.ok() || half.status().code() == ErrorCode::kCorrupt);
  }
  void brokenXrefIsRecovered() {
    auto r = ExtractPdf(Write("xref.pdf", testing::MakePdfWithBrokenXref(
                                              {{"Recovered alpha", "Recovered beta"}, "", ""})),
                        Options());
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->pages.size(), size_t{2});
    QVERIFY(Contains(r->pages[1].text, "Recovered beta"));
  }
  void circularPageTreeEndsCleanly() {
    auto r = ExtractPdf(Write("loop.pdf", testing::MakePdfWithCircularPageTree()), Options());
    if (r.ok()) {
      QVERIFY(r->pages.size() <= 2);
    } else {
      QVERIFY2(Contains(r.status().message(), "damaged"), r.status().message().c_str());
    }
  }
  void tenThousandDeepNestingEndsCleanly() {
    auto r = ExtractPdf(Write("deep.pdf", testing::MakePdfWithDeepNesting(10000)), Options());
    if (r.ok()) {
      QCOMPARE(r->pages.size(), size_t{1});
      QVERIFY(Contains(r->pages[0].text, "Deep nesting survivor"));
    } else {
      QVERIFY2(Contains(r.status().message(), "damaged"), r.status().message().c_str());
    }
  }
  void pageTreeClaimingMillionsOfPagesIsBounded() {
    auto r = ExtractPdf(Write("claims.pdf", testing::MakePdfClaimingPages(5000000)), Options());
    if (r.ok()) {
      QVERIFY(r->pages.size() <= 1);
    } else {
      QVERIFY2(r.status().code() == ErrorCode::kResourceExhausted ||
                   r.status().code() == ErrorCode::kCorrupt,
               r.status().message().c_str());
    }
  }
  void tooManyPagesIsTooLarge() {
    testing::PdfSpec spec;
    for (int i = 0; i < 30; ++i) spec.pages.push_back("page " + std::to_string(i));
    PdfImportOptions opt = Options();
    opt.limits.max_pages = 10;
    ExpectError(Write("many.pdf", testing::MakePdf(spec)), opt, ErrorCode::kResourceExhausted,
                "too large");
  }
  void decompressionBombIsTooLarge() {
#if defined(__SANITIZE_ADDRESS__)
    QSKIP("AddressSanitizer builds run the helper without RLIMIT_AS (ASan reserves terabytes)");
#endif
    // A 200 MB content stream from a file of a few hundred KB; the helper may use 256 MB.
    PdfImportOptions opt = Options();
    opt.limits.helper_memory_bytes = int64_t{256} << 20;
    ExpectError(Write("bomb.pdf", testing::MakePdfFlateBomb(int64_t{200} << 20)), opt,
                ErrorCode::kResourceExhausted, "too large");
  }
  void moreTextThanTheCapIsTooLarge() {
    testing::PdfSpec spec;
    for (int i = 0; i < 30; ++i) spec.pages.push_back(std::string(3000, 'w'));
    PdfImportOptions opt = Options();
    opt.limits.max_text_bytes = 32 << 10;
    ExpectError(Write("wordy.pdf", testing::MakePdf(spec)), opt, ErrorCode::kResourceExhausted,
                "too large");
  }
  void pageThatNeverFinishesTimesOut() {
    PdfImportOptions opt = Options();
    opt.limits.timeout_seconds = 2;
    const std::string path = Write("slow.pdf", testing::MakePdfSlowPage(20000000));
    ExpectError(path, opt, ErrorCode::kTimeout, "timed out");
  }
  void encryptedAsksAndAcceptsTheRightPassword() {
    const std::string plain = Write("plain.pdf", testing::MakePdf({{"Secret page text"}, "", ""}));
    const std::string locked = dir_.filePath("locked.pdf").toStdString();
    if (!testing::EncryptWithQpdf(plain, locked, "userpw", "ownerpw")) QSKIP("qpdf not installed");
    // No callback: a clear error.
    ExpectError(locked, Options(), ErrorCode::kCancelled, "needs a password");
    // Wrong, then right.
    std::vector<bool> asked;
    PdfImportOptions opt = Options();
    opt.password = [&](const std::string& path, bool retry) -> std::optional<std::string> {
      if (path != locked) return std::nullopt;
      asked.push_back(retry);
      return asked.size() == 1 ? "nope" : "userpw";
    };
    auto r = ExtractPdf(locked, opt);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QVERIFY(Contains(r->pages[0].text, "Secret page text"));
    QCOMPARE(asked, (std::vector<bool>{false, true}));
    // Only wrong passwords: "wrong password".
    opt.password = [](const std::string&, bool retry) -> std::optional<std::string> {
      if (retry) return std::nullopt;
      return "still wrong";
    };
    ExpectError(locked, opt, ErrorCode::kInvalidArgument, "wrong password");
    // Cancel at the prompt.
    opt.password = [](const std::string&, bool) -> std::optional<std::string> {
      return std::nullopt;
    };
    ExpectError(locked, opt, ErrorCode::kCancelled, "needs a password");
  }
  void aCrashingReaderIsReportedAndTheCallerLives() {
    // Stands in for a Poppler segfault: a reader that dies of SIGSEGV mid-run.
    const std::string reader = Write("crashing-reader.sh", "#!/bin/sh\nkill -SEGV $$\n");
    QVERIFY(QFile::setPermissions(QString::fromStdString(reader),
                                  QFileDevice::ReadOwner | QFileDevice::ExeOwner));
    PdfImportOptions opt = Options();
    opt.helper_path = reader;
    ExpectError(Write("crash.pdf", testing::MakePdf({{"x"}, "", ""})), opt, ErrorCode::kCorrupt,
                "the PDF reader crashed");
  }
  void aReaderThatHangsIsKilledAfterThePageTimeout() {
    const std::string reader = Write("hanging-reader.sh", "#!/bin/sh\nexec sleep 600\n");
    QVERIFY(QFile::setPermissions(QString::fromStdString(reader),
                                  QFileDevice::ReadOwner | QFileDevice::ExeOwner));
    PdfImportOptions opt = Options();
    opt.helper_path = reader;
    opt.limits.page_timeout_seconds = 0.5;
    ExpectError(Write("hang.pdf", testing::MakePdf({{"x"}, "", ""})), opt, ErrorCode::kTimeout,
                "timed out");
  }
  void missingHelperIsAClearError() {
    PdfImportOptions opt = Options();
    opt.helper_path = "/nonexistent/folio-pdf-extract";
    ExpectError(Write("any.pdf", testing::MakePdf({{"x"}, "", ""})), opt, ErrorCode::kNotFound,
                "folio-pdf-extract");
  }
};

QTEST_GUILESS_MAIN(TestPdfImport)
#include "test_pdf_import.moc"
