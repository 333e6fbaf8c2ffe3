// Chunker properties on seeded random documents: sizes, overlap, page ranges, exact byte
// ranges into the joined text, UTF-8 boundaries, determinism.
#include <QtTest>

#include <cstring>
#include <random>
#include <string>

#include "docstore/chunker.h"
#include "docstore/text_import.h"

using namespace folio::docstore;

namespace {

// Random prose: words (some multi-byte), sentences, paragraphs, spread over pages.
std::vector<Page> RandomPages(uint32_t seed, int page_count, bool cjk) {
  std::mt19937 rng(seed);
  const char* words[] = {"state",
                         "space",
                         "model",
                         "selective",
                         "scan",
                         "attention",
                         "layer",
                         "caf\xC3\xA9",
                         "na\xC3\xAFve",
                         "\xE2\x82\xAC"
                         "5",
                         "token",
                         "expert"};
  std::vector<Page> pages;
  for (int p = 0; p < page_count; ++p) {
    std::string text;
    const size_t target = 500 + rng() % 4000;
    while (text.size() < target) {
      const int sentences = 1 + static_cast<int>(rng() % 6);
      for (int s = 0; s < sentences; ++s) {
        const int n = 3 + static_cast<int>(rng() % 20);
        for (int w = 0; w < n; ++w) {
          if (cjk) {
            text += "\xE6\x97\xA5\xE6\x9C\xAC";
          } else {
            text += words[rng() % (sizeof words / sizeof *words)];
            text += ' ';
          }
        }
        text += cjk ? "\xE3\x80\x82" : ". ";
      }
      text += "\n\n";
    }
    pages.push_back({p + 1, text});
  }
  return pages;
}

int PageAt(const std::vector<int64_t>& starts, int64_t offset) {
  int page = 0;
  for (size_t i = 0; i < starts.size(); ++i) {
    if (starts[i] <= offset) page = static_cast<int>(i) + 1;
  }
  return page;
}

}  // namespace

class TestChunker : public QObject {
  Q_OBJECT
 private:
  void CheckProperties(const std::vector<Page>& pages, const ChunkerOptions& opt) {
    std::vector<int64_t> starts;
    const std::string joined = JoinPages(pages, &starts);
    const auto chunks = ChunkPages(pages, opt);
    QVERIFY(!chunks.empty());
    double overlap_total = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
      const Chunk& c = chunks[i];
      QCOMPARE(c.ordinal, static_cast<int>(i));
      QVERIFY(c.char_begin >= 0 && c.char_begin < c.char_end);
      QVERIFY(c.char_end <= static_cast<int64_t>(joined.size()));
      // The text is exactly the byte range of the joined text.
      QCOMPARE(c.text, joined.substr(c.char_begin, c.char_end - c.char_begin));
      QVERIFY(IsValidUtf8(c.text));  // so neither end is inside a character
      QVERIFY(c.text.size() <= opt.max_bytes);
      if (i + 1 < chunks.size()) QVERIFY2(c.text.size() + 16 >= opt.min_bytes, c.text.c_str());
      QCOMPARE(c.first_page, PageAt(starts, c.char_begin));
      QCOMPARE(c.last_page, PageAt(starts, c.char_end - 1));
      if (i > 0) {
        const Chunk& prev = chunks[i - 1];
        QVERIFY(c.char_begin > prev.char_begin);  // progress
        QVERIFY(c.char_begin < prev.char_end);    // overlap
        const double ov = static_cast<double>(prev.char_end - c.char_begin) / prev.text.size();
        QVERIFY2(ov <= opt.overlap * 1.6, qPrintable(QString::number(ov)));
        overlap_total += ov;
      }
    }
    // Every non-space byte is covered by some chunk.
    size_t covered_to = 0;
    for (const auto& c : chunks) {
      for (size_t b = covered_to; b < static_cast<size_t>(c.char_begin); ++b) {
        QVERIFY(std::strchr(" \n\f\t", joined[b]) != nullptr);
      }
      covered_to = std::max(covered_to, static_cast<size_t>(c.char_end));
    }
    for (size_t b = covered_to; b < joined.size(); ++b) QVERIFY(std::strchr(" \n\f\t", joined[b]));
    if (chunks.size() > 3) {
      const double mean = overlap_total / (chunks.size() - 1);
      QVERIFY2(mean > opt.overlap * 0.4 && mean < opt.overlap * 1.6,
               qPrintable(QString::number(mean)));
    }
  }

 private slots:
  void propertiesHoldOnRandomProse() {
    for (uint32_t seed = 1; seed <= 40; ++seed) {
      CheckProperties(RandomPages(seed, 1 + seed % 9, false), {});
      if (QTest::currentTestFailed()) QFAIL(qPrintable(QString("seed %1").arg(seed)));
    }
  }
  void propertiesHoldOnCjkWithoutSpaces() {
    for (uint32_t seed = 100; seed < 110; ++seed) {
      CheckProperties(RandomPages(seed, 3, true), {});
      if (QTest::currentTestFailed()) QFAIL(qPrintable(QString("seed %1").arg(seed)));
    }
  }
  void propertiesHoldOnTextWithNoBreaksAtAll() {
    std::string s;
    while (s.size() < 10000) s += "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80x";  // 2-, 3-, 4-byte chars
    CheckProperties({{1, s}, {2, s}}, {});
  }
  void endsAtSentencesWhenNoParagraphFits() {
    std::string s;
    for (int i = 0; i < 200; ++i) s += "Sentence number " + std::to_string(i) + " ends here. ";
    const auto chunks = ChunkPages({{1, s}});
    QVERIFY(chunks.size() > 3);
    for (size_t i = 0; i + 1 < chunks.size(); ++i) {
      QVERIFY2(chunks[i].text.back() == '.', chunks[i].text.c_str());
      QVERIFY(chunks[i + 1].text.rfind("Sentence", 0) == 0);  // the overlap starts a sentence
    }
  }
  void chunksSpanningPagesKnowBothPages() {
    const std::string para(900, 'a');
    const auto chunks = ChunkPages({{1, "alpha " + para}, {2, "beta " + para}, {3, "gamma"}});
    bool spans = false;
    for (const auto& c : chunks) spans |= c.first_page != c.last_page;
    QVERIFY(spans);
    QCOMPARE(chunks.back().last_page, 3);
  }
  void sameInputGivesSameChunks() {
    const auto pages = RandomPages(77, 5, false);
    const auto a = ChunkPages(pages), b = ChunkPages(pages);
    QCOMPARE(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      QCOMPARE(a[i].char_begin, b[i].char_begin);
      QCOMPARE(a[i].char_end, b[i].char_end);
    }
  }
  void emptyPagesGiveNoChunks() {
    QVERIFY(ChunkPages({{1, ""}, {2, "  \n"}}).empty());
    const auto one = ChunkPages({{1, ""}, {2, "short text"}});
    QCOMPARE(one.size(), size_t{1});
    QCOMPARE(one[0].first_page, 2);
  }
};

QTEST_GUILESS_MAIN(TestChunker)
#include "test_chunker.moc"
