// Word search: exact phrase before loose terms (as typed before other word forms), stemmed
// words, user text never parsed as FTS5 syntax, the document filter, page numbers of hits,
// snippet spans on the matched words.
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "docstore/search.h"
#include "docstore/store.h"
#include "store_test_util.h"

using namespace folio;
using namespace folio::docstore;
using folio::docstore::testing::Filler;
using folio::docstore::testing::MakeDocument;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string SpanText(const SearchHit& h, const HighlightSpan& s) {
  return h.snippet.substr(static_cast<size_t>(s.begin), static_cast<size_t>(s.end - s.begin));
}

}  // namespace

class TestSearch : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  std::unique_ptr<Library> lib_;
  int64_t fox_doc_ = 0;    // the exact phrase once
  int64_t loose_doc_ = 0;  // the words many times, never as the phrase
  int64_t paged_doc_ = 0;  // 20 pages, "beacon<N>" on page N
  int64_t accent_doc_ = 0;

 private slots:
  void initTestCase() {
    auto lib = Library::Open(dir_.filePath("search.sqlite").toStdString());
    QVERIFY2(lib.ok(), lib.status().message().c_str());
    lib_ = std::move(lib).value();
    std::mt19937 rng(42);
    auto store = [&](const ImportedDocument& d) {
      auto r = lib_->StoreDocument(d);
      if (!r.ok()) qFatal("%s", r.status().message().c_str());
      return r->doc_id;
    };
    fox_doc_ = store(MakeDocument(
        "/fox.txt", "Fox story",
        {Filler(rng, 80) + " The quick brown fox jumps over the lazy dog. " + Filler(rng, 80)}));
    std::string loose;
    for (int i = 0; i < 6; ++i)
      loose += "fox quick brown? no: brown quick fox. " + Filler(rng, 10) + " ";
    loose_doc_ = store(MakeDocument("/loose.txt", "Loose words", {loose}));
    std::vector<std::string> pages;
    for (int p = 1; p <= 20; ++p) {
      pages.push_back(Filler(rng, 60) + " beacon" + std::to_string(p) + " near the harbour " +
                      Filler(rng, 60));
    }
    // Chunks of ~1,500 bytes span several pages: the page must come from the hit's offset.
    paged_doc_ = store(MakeDocument("/paged.txt", "Twenty pages", pages, 1500));
    accent_doc_ = store(MakeDocument("/cafe.txt", "Cafés",
                                     {"Le Café de Flore serves crème brûlée. " + Filler(rng, 40)}));
  }

  void exactPhraseComesBeforeLooseTerms() {
    auto hits = Search(*lib_, "quick brown fox", {});
    QVERIFY2(hits.ok(), hits.status().message().c_str());
    QVERIFY(hits->size() >= 2);
    QCOMPARE((*hits)[0].doc_id, fox_doc_);
    QVERIFY((*hits)[0].exact_phrase);
    QVERIFY(!(*hits)[1].exact_phrase);
    QCOMPARE((*hits)[1].doc_id, loose_doc_);
    // The loose document ranks first for the terms alone: the phrase order is not an accident.
    auto terms = Search(*lib_, "fox quick", {});
    QCOMPARE((*terms)[0].doc_id, loose_doc_);
  }

  void resultsHaveNoDuplicateChunks() {
    auto hits = Search(*lib_, "quick brown fox", {});
    std::set<int64_t> ids;
    for (const auto& h : *hits) QVERIFY(ids.insert(h.chunk_id).second);
  }

  void stopwordsDoNotMatchOnTheirOwn() {
    const FtsQueries q = BuildFtsQueries("the fox and the dog");
    QCOMPARE(q.terms, std::string("\"fox\" OR \"dog\""));
    QCOMPARE(q.phrase, std::string("\"the fox and the dog\""));
    // A query of stopwords only still searches for them.
    QCOMPARE(BuildFtsQueries("to be").terms, std::string("\"to\" OR \"be\""));
  }

  void ftsSyntaxInUserTextNeverErrors_data() {
    QTest::addColumn<QString>("query");
    for (const char* q : {"\"",
                          "\"\"",
                          "\"unbalanced fox",
                          "NEAR(fox dog)",
                          "NEAR(fox dog, 2)",
                          "fox*",
                          "*",
                          "-fox",
                          "fox -dog",
                          "text:fox",
                          "text : fox",
                          "{text}: fox",
                          "(fox",
                          "fox)",
                          "()",
                          "AND",
                          "OR",
                          "NOT",
                          "fox AND",
                          "NOT fox",
                          "^fox",
                          "+fox",
                          "fox + dog",
                          "'",
                          "\\",
                          "%",
                          "fox; DROP TABLE chunks; --",
                          "",
                          "   ",
                          "\t\n",
                          "—",
                          "“quoted”",
                          "fox\"dog",
                          "fox''dog",
                          "a:b:c",
                          "rowid:1",
                          "chunks_fts:x",
                          "x OR OR y",
                          "\x01\x02"}) {
      QTest::newRow(q) << QString::fromUtf8(q);
    }
  }
  void ftsSyntaxInUserTextNeverErrors() {
    QFETCH(QString, query);
    auto hits = Search(*lib_, query.toStdString(), {});
    QVERIFY2(hits.ok(), hits.status().message().c_str());
    QVERIFY(lib_->CheckIntegrity().ok());  // nothing was written (or dropped)
  }

  void operatorWordsAreSearchedAsWords() {
    // "near" is an FTS5 keyword (NEAR) in upper case; here it is just a word in the text.
    auto hits = Search(*lib_, "NEAR", {});
    QVERIFY(hits.ok());
    QVERIFY(!hits->empty());
    QCOMPARE(hits->front().doc_id, paged_doc_);
    auto quoted = Search(*lib_, "\"fox\"", {});
    QVERIFY(!quoted->empty());
  }

  void documentFilterKeepsOnlyThoseDocuments() {
    SearchOptions opt;
    opt.doc_ids = {loose_doc_};
    auto hits = Search(*lib_, "quick brown fox", opt);
    QVERIFY(hits.ok());
    QVERIFY(!hits->empty());
    for (const auto& h : *hits) QCOMPARE(h.doc_id, loose_doc_);
    opt.doc_ids = {paged_doc_, accent_doc_};
    QVERIFY(Search(*lib_, "quick brown fox", opt)->empty());
  }

  void limitIsRespected() {
    SearchOptions opt;
    opt.limit = 3;
    auto hits = Search(*lib_, "harbour", opt);
    QCOMPARE(hits->size(), size_t{3});
  }

  void pageIsWhereTheHitFalls() {
    for (int p = 1; p <= 20; ++p) {
      auto hits = Search(*lib_, "beacon" + std::to_string(p), {});
      QVERIFY(hits.ok());
      QCOMPARE(hits->size(), size_t{1});
      QCOMPARE(hits->front().doc_id, paged_doc_);
      QCOMPARE(hits->front().title, std::string("Twenty pages"));
      QVERIFY2(hits->front().page == p,
               qPrintable(QString("beacon%1 found on page %2").arg(p).arg(hits->front().page)));
    }
    // And the page really holds the word.
    auto hits = Search(*lib_, "beacon13", {});
    auto page = lib_->GetPage(paged_doc_, hits->front().page);
    QVERIFY(page->text.find("beacon13") != std::string::npos);
  }

  void spansCoverTheMatchedWords() {
    for (const char* q : {"quick brown fox", "harbour beacon7", "lazy dog"}) {
      auto hits = Search(*lib_, q, {});
      QVERIFY(!hits->empty());
      for (const auto& h : *hits) {
        QVERIFY2(!h.spans.empty(), q);
        QVERIFY(h.snippet.size() < 400);
        for (const auto& s : h.spans) {
          QVERIFY(0 <= s.begin && s.begin < s.end && s.end <= static_cast<int>(h.snippet.size()));
          const std::string word = Lower(SpanText(h, s));
          QVERIFY2(h.exact_phrase ? std::string(q).find(word) == 0
                                  : std::string(q).find(word) != std::string::npos,
                   (word + " is not a word of '" + q + "'").c_str());
        }
      }
    }
    auto phrase = Search(*lib_, "quick brown fox", {});
    QCOMPARE(Lower(SpanText(phrase->front(), phrase->front().spans.front())),
             std::string("quick brown fox"));
  }

  void diacriticsAreFoldedAndSpansKeepThem() {
    auto hits = Search(*lib_, "creme brulee cafe", {});
    QVERIFY(hits.ok());
    QVERIFY(!hits->empty());
    QCOMPARE(hits->front().doc_id, accent_doc_);
    std::set<std::string> words;
    for (const auto& s : hits->front().spans) words.insert(SpanText(hits->front(), s));
    QVERIFY(words.count("Café"));
    QVERIFY(words.count("crème"));
    QVERIFY(words.count("brûlée"));
  }

  void snippetIsValidUtf8AroundTheHit() {
    auto hits = Search(*lib_, "beacon20", {});
    const std::string& s = hits->front().snippet;
    QVERIFY(QString::fromUtf8(s.data(), static_cast<int>(s.size())).toUtf8().toStdString() == s);
    QVERIFY(s.find('\f') == std::string::npos && s.find('\n') == std::string::npos);
    QVERIFY(s.find("beacon20") != std::string::npos);
  }

  void scoresEqualFts5Bm25OnALibraryUnderTheBudget() {
    SearchOptions opt;
    opt.limit = 50;
    const std::string query = "harbour lazy beacon4 ipsum";
    auto hits = Search(*lib_, query, opt);
    QVERIFY(hits.ok());
    QVERIFY(hits->size() > 5);
    auto st = lib_->database().PrepareUncached(
        "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 "
        "ORDER BY rank LIMIT 50");
    QVERIFY(st.ok());
    st->Bind(1, BuildFtsQueries(query).terms);
    for (const auto& h : *hits) {
      QVERIFY(*st->Step());
      QCOMPARE(h.chunk_id, st->ColumnInt64(0));
      QVERIFY2(std::abs(h.score - st->ColumnDouble(1)) < 1e-9 * std::max(1.0, std::abs(h.score)),
               qPrintable(QString("%1 vs %2").arg(h.score).arg(st->ColumnDouble(1))));
    }
  }

  // The index is stemmed (schema v3): a word finds its other forms, and the exact phrase as
  // typed still comes before the phrase in other word forms, whatever their scores.
  void wordFormsMatchAndTheLiteralPhraseComesFirst_data() {
    QTest::addColumn<QString>("query");
    QTest::newRow("plain") << "measured the clocks";
    QTest::newRow("quoted") << "\"Measured the CLOCKS\"";
  }
  void wordFormsMatchAndTheLiteralPhraseComesFirst() {
    QFETCH(QString, query);
    QTemporaryDir dir;
    auto lib = Library::Open(dir.filePath("stems.sqlite").toStdString());
    QVERIFY(lib.ok());
    std::mt19937 rng(11);
    auto store = [&](const char* path, const std::string& text) {
      auto r = (*lib)->StoreDocument(MakeDocument(path, path, {text}));
      if (!r.ok()) qFatal("%s", r.status().message().c_str());
      return r->doc_id;
    };
    const int64_t literal =
        store("/as-typed", Filler(rng, 60) + " we measured the clocks at noon. " + Filler(rng, 60));
    const int64_t forms = store("/other-forms", "measuring the clock, measuring the clock again");
    const int64_t loose = store("/loose", "a clock " + Filler(rng, 30) + " to measure");
    auto hits = Search(**lib, query.toStdString(), {});
    QVERIFY2(hits.ok(), hits.status().message().c_str());
    QCOMPARE(hits->size(), size_t{3});
    QCOMPARE((*hits)[0].doc_id, literal);
    QVERIFY((*hits)[0].exact_phrase && (*hits)[0].literal_phrase);
    QCOMPARE((*hits)[1].doc_id, forms);
    QVERIFY((*hits)[1].exact_phrase && !(*hits)[1].literal_phrase);
    QCOMPARE((*hits)[2].doc_id, loose);
    QVERIFY(!(*hits)[2].exact_phrase);
    // The other forms score higher (shorter, twice): the order is the literal check's.
    QVERIFY2((*hits)[1].score > (*hits)[0].score,
             qPrintable(QString("%1 <= %2").arg((*hits)[1].score).arg((*hits)[0].score)));
    QCOMPARE(SpanText((*hits)[0], (*hits)[0].spans.front()), std::string("measured the clocks"));
    QCOMPARE(SpanText((*hits)[1], (*hits)[1].spans.front()), std::string("measuring the clock"));
    // Single words find every form.
    for (const char* word : {"clocks", "clock", "measuring", "measured"}) {
      auto one = Search(**lib, word, {});
      QVERIFY(one.ok());
      QVERIFY2(one->size() == 3, word);
    }
  }

  void nothingToSearchForIsEmptyNotAnError() {
    auto hits = Search(*lib_, "  ?!  ", {});
    QVERIFY(hits.ok());
    QVERIFY(hits->empty());
  }
};

// Past a few thousand matches a query is ranked among its newest matches, and very common
// words give way to rarer ones: results stay right where it matters.
class TestSearchLargeLibrary : public QObject {
  Q_OBJECT
 private slots:
  void rareWordsAreFoundAmongVeryCommonOnes() {
    QTemporaryDir dir;
    auto lib = Library::Open(dir.filePath("large.sqlite").toStdString());
    QVERIFY(lib.ok());
    std::mt19937 rng(5);
    // 60 documents x 100 chunks, every chunk with "common"; one old chunk with "needle".
    for (int d = 0; d < 60; ++d) {
      std::vector<std::string> pages;
      for (int p = 0; p < 10; ++p) {
        std::string text;
        for (int c = 0; c < 10; ++c) {
          text += Filler(rng, 12) + " common ";
          if (d == 0 && p == 0 && c == 1) text += "needle ";
        }
        pages.push_back(text);
      }
      QVERIFY((*lib)->StoreDocument(MakeDocument("/d" + std::to_string(d), "D", pages, 100)).ok());
    }
    {
      // More chunks hold "common" than search ranks in full (kRankBudget, 4,000).
      auto st = (*lib)->database().PrepareUncached("SELECT count(*) FROM chunks");
      QVERIFY(st.ok() && *st->Step());
      QVERIFY(st->ColumnInt64(0) > 5000);
    }
    auto common = Search(**lib, "common", {});
    QVERIFY(common.ok());
    QCOMPARE(common->size(), size_t{20});
    auto needle = Search(**lib, "common needle", {});
    QVERIFY(needle.ok());
    QVERIFY(!needle->empty());
    const std::string& snippet = needle->front().snippet;
    QVERIFY2(snippet.find("needle") != std::string::npos, snippet.c_str());
    QCOMPARE(needle->front().page, 1);
    // The filter still finds the oldest document's chunks.
    SearchOptions only_first;
    only_first.doc_ids = {1};
    auto first = Search(**lib, "common", only_first);
    QVERIFY(!first->empty());
    for (const auto& h : *first) QCOMPARE(h.doc_id, int64_t{1});
  }
};

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  TestSearch search;
  TestSearchLargeLibrary large;
  return QTest::qExec(&search, argc, argv) | QTest::qExec(&large, argc, argv);
}
#include "test_search.moc"
