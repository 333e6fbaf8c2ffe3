// Text import: every encoding the brief names, the binary check, the size cap that keeps a
// 2 GB single line from being read, titles and pseudo-pages.
#include <QTemporaryDir>
#include <QtTest>

#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>

#include "common/pdf_writer.h"
#include "docstore/text_import.h"

using namespace folio;
using namespace folio::docstore;

namespace {

std::string Utf16(const std::u16string& s, bool little_endian, bool bom = true) {
  std::string out;
  auto put = [&](char16_t u) {
    const char lo = static_cast<char>(u & 0xFF), hi = static_cast<char>(u >> 8);
    out += little_endian ? std::string{lo, hi} : std::string{hi, lo};
  };
  if (bom) put(0xFEFF);
  for (char16_t u : s) put(u);
  return out;
}

}  // namespace

class TestTextImport : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  std::string Write(const char* name, const std::string& bytes) {
    const std::string path = dir_.filePath(name).toStdString();
    if (!testing::WriteBytes(path, bytes)) return "";
    return path;
  }

 private slots:
  void utf8WithoutBomIsKept() {
    auto d = DecodeText("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    QVERIFY(d.ok());
    QCOMPARE(d->utf8, std::string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    QCOMPARE(d->encoding, std::string("UTF-8"));
    QVERIFY(d->warnings.empty());
  }
  void utf8BomIsStripped() {
    auto d = DecodeText("\xEF\xBB\xBFhello");
    QVERIFY(d.ok());
    QCOMPARE(d->utf8, std::string("hello"));
    QCOMPARE(d->encoding, std::string("UTF-8 with BOM"));
  }
  void utf16LittleAndBigEndianWithBomDecode() {
    const std::u16string s = u"Gr\u00fc\u00dfe \u20ac \U0001F600\r\nline";
    for (bool le : {true, false}) {
      auto d = DecodeText(Utf16(s, le));
      QVERIFY(d.ok());
      QCOMPARE(d->utf8, std::string("Gr\xC3\xBC\xC3\x9F"
                                    "e \xE2\x82\xAC \xF0\x9F\x98\x80\nline"));
      QCOMPARE(d->encoding, std::string(le ? "UTF-16LE" : "UTF-16BE"));
    }
  }
  void utf16UnpairedSurrogateBecomesReplacementWithWarning() {
    std::u16string s = u"a";
    s.push_back(0xD800);
    s += u"b";
    auto d = DecodeText(Utf16(s, true));
    QVERIFY(d.ok());
    QCOMPARE(d->utf8, std::string("a\xEF\xBF\xBD"
                                  "b"));
    QCOMPARE(d->warnings.size(), size_t{1});
  }
  void invalidUtf8FallsBackToLatin1WithWarning() {
    auto d = DecodeText("na\xEFve caf\xE9");  // Latin-1 bytes: not valid UTF-8
    QVERIFY(d.ok());
    QCOMPARE(d->utf8, std::string("na\xC3\xAFve caf\xC3\xA9"));
    QCOMPARE(d->encoding, std::string("Latin-1"));
    QCOMPARE(d->warnings.size(), size_t{1});
    QVERIFY(QString::fromStdString(d->warnings[0]).contains("Latin-1"));
  }
  void overlongsAndSurrogatesAreNotUtf8() {
    QVERIFY(IsValidUtf8("plain ascii long enough for the fast path"));
    QVERIFY(!IsValidUtf8("\xC0\xAF"));          // overlong '/'
    QVERIFY(!IsValidUtf8("\xED\xA0\x80"));      // UTF-16 surrogate
    QVERIFY(!IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    QVERIFY(!IsValidUtf8("abc\xE2\x82"));       // truncated at the end
    QVERIFY(IsValidUtf8("\xF4\x8F\xBF\xBF"));
  }
  void randomBytesAlwaysDecodeToValidUtf8OrBinary() {
    std::mt19937 rng(42);
    for (int i = 0; i < 2000; ++i) {
      std::string s(rng() % 64, '\0');
      for (char& c : s) c = static_cast<char>(rng());
      auto d = DecodeText(s);
      if (!d.ok()) {
        QCOMPARE(d.status().code(), ErrorCode::kUnsupported);
        continue;
      }
      QVERIFY(IsValidUtf8(d->utf8));
    }
  }
  void nulBytesMeanBinaryAndAreRejected() {
    auto d = DecodeText(std::string("ELF\0\0\x01\x02", 7));
    QVERIFY(!d.ok());
    QVERIFY(QString::fromStdString(d.status().message()).contains("binary file, not text"));
    const std::string path = Write("blob.txt", std::string("text\0more", 9));
    auto doc = ImportTextFile(path, DocumentKind::kText, {});
    QVERIFY(!doc.ok());
    QVERIFY(QString::fromStdString(doc.status().message()).contains("binary"));
  }
  void lineEndsAreNormalised() {
    auto d = DecodeText("a\r\nb\rc\n");
    QVERIFY(d.ok());
    QCOMPARE(d->utf8, std::string("a\nb\nc\n"));
  }
  void twoGigabyteSingleLineIsRefusedUnread() {
    // A sparse 2 GB file: checking the size first means it is never read.
    const std::string path = dir_.filePath("huge.txt").toStdString();
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    QVERIFY(fd >= 0);
    QVERIFY(::ftruncate(fd, int64_t{2} << 30) == 0);
    QVERIFY(::pwrite(fd, "x", 1, 0) == 1);
    ::close(fd);
    auto doc = ImportTextFile(path, DocumentKind::kText, {});
    QVERIFY(!doc.ok());
    QCOMPARE(doc.status().code(), ErrorCode::kResourceExhausted);
    QVERIFY(QString::fromStdString(doc.status().message()).contains("too large"));
  }
  void longSingleLineUnderTheCapIsPagedInBoundedPieces() {
    std::string line;
    std::mt19937 rng(7);
    while (line.size() < 2000000) line += "word" + std::to_string(rng() % 1000) + " ";
    const std::string path = Write("line.txt", line);
    TextImportOptions opt;
    opt.max_file_bytes = 4 << 20;
    auto doc = ImportTextFile(path, DocumentKind::kText, opt);
    QVERIFY(doc.ok());
    QVERIFY(doc->pages.size() > 500);
    for (const auto& p : doc->pages) QVERIFY(p.text.size() <= opt.page_bytes * 3 / 2);
  }
  void pagesSplitAtParagraphsNearTheTarget() {
    std::string text;
    for (int i = 0; i < 60; ++i)
      text += "Paragraph " + std::to_string(i) + std::string(300, 'x') + ".\n\n";
    const auto pages = SplitIntoPages(text, 3000);
    QVERIFY(pages.size() >= 5);
    std::string rejoined;
    for (size_t i = 0; i < pages.size(); ++i) {
      QCOMPARE(pages[i].number, static_cast<int>(i) + 1);
      QVERIFY(pages[i].text.rfind("Paragraph ", 0) == 0);  // starts at a paragraph
      QVERIFY(pages[i].text.back() == '.');                // ends at one
      if (i + 1 < pages.size())
        QVERIFY(pages[i].text.size() >= 1500 && pages[i].text.size() <= 4500);
      rejoined += pages[i].text + "\n\n";
    }
    QCOMPARE(rejoined, text);  // nothing lost, nothing repeated
  }
  void pagesNeverCutInsideAUtf8Character() {
    std::string text;
    while (text.size() < 20000) text += "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";  // no spaces
    for (const auto& p : SplitIntoPages(text, 3000)) QVERIFY(IsValidUtf8(p.text));
  }
  void markdownTitleIsTheFirstHeading() {
    QCOMPARE(MarkdownTitle("intro text\n\n## Second-level  ##\n# Top\n"),
             std::string("Second-level"));
    QCOMPARE(MarkdownTitle("---\ntitle: x\n# not a heading\n---\nSetext title\n====\n"),
             std::string("Setext title"));
    QCOMPARE(MarkdownTitle("#hashtag is not a heading\n"), std::string(""));
    const std::string md = Write("notes.md", "Some preface.\n\n# Mamba Notes\n\nBody.\n");
    auto doc = ImportTextFile(md, DocumentKind::kMarkdown, {});
    QVERIFY(doc.ok());
    QCOMPARE(doc->title, std::string("Mamba Notes"));
    const std::string txt = Write("plain.txt", "# not a title in a .txt\n");
    auto t = ImportTextFile(txt, DocumentKind::kText, {});
    QVERIFY(t.ok());
    QCOMPARE(t->title, std::string("plain.txt"));
  }
  void emptyFileIsAClearError() {
    auto doc = ImportTextFile(Write("empty.txt", ""), DocumentKind::kText, {});
    QVERIFY(!doc.ok());
    QVERIFY(QString::fromStdString(doc.status().message()).contains("empty"));
  }
};

QTEST_GUILESS_MAIN(TestTextImport)
#include "test_text_import.moc"
