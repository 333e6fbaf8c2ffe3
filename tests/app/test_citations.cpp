// Citations, context rendering and extractive answers: no model needed.
#include <QTemporaryDir>
#include <QtTest>

#include "app/assistant/assistant.h"
#include "app/assistant/citations.h"
#include "app/assistant/prompt.h"
#include "app_test_util.h"

using namespace folio;
using namespace folio::assistant;

class TestCitations : public QObject {
  Q_OBJECT

  std::vector<SourceDocument> Docs() {
    SourceDocument a{11,
                     1,
                     "Scan notes",
                     "ha",
                     {{1, "Intro to scans."},
                      {2, "The selective scan is linear in length."},
                      {3, "Memory use is constant."}}};
    SourceDocument b{12,
                     2,
                     "Attention",
                     "hb",
                     {{1, "Attention is quadratic."}, {2, "Keys and values are cached."}}};
    return {a, b};
  }

 private slots:
  // Every written form, in order, with its document when the answer names one.
  void findsEveryReferenceForm() {
    const std::string answer =
        "It is linear [doc 1, page 2]. Memory, p. 3. Doc 2 caches keys on pages 1-2. "
        "See pp. 4 and 5, Page 7.";
    auto refs = FindPageReferences(answer);
    std::vector<std::pair<int, int>> got;
    for (const auto& r : refs) got.push_back({r.doc_index, r.page});
    // "p. 3" names no document: the last one named before it (doc 1) is recorded.
    const std::vector<std::pair<int, int>> want = {{1, 2}, {1, 3}, {2, 1}, {2, 2},
                                                   {2, 4}, {2, 5}, {2, 7}};
    QCOMPARE(got, want);
    auto lone = FindPageReferences("Intro on page 1.");
    QCOMPARE(lone.size(), size_t{1});
    QCOMPARE(lone[0].doc_index, 0);
    QCOMPARE(lone[0].page, 1);
    QCOMPARE(answer.substr(refs[0].begin, refs[0].end - refs[0].begin),
             std::string("[doc 1, page 2]"));
  }

  // Resolved to pages the model saw; an unseen page (doc 2, page 9) is dropped, not
  // invented; an unnamed page goes to the only document holding it; duplicates once.
  void resolvesOnlyPagesTheModelSaw() {
    const auto docs = Docs();
    const auto blocks = PromptBuilder::WholeBlocks(docs);
    std::vector<ChunkOnPage> chunks = {
        {11, 101, 2, 2, "Intro. The selective scan is linear in length."},
        {11, 102, 3, 3, "Memory use is constant."},
        {12, 201, 2, 2, "Keys and values are cached."}};
    const std::string answer =
        "The scan is linear [doc 1, page 2], again [doc 1, page 2]. Memory is constant (page 3). "
        "Keys are cached [doc 2, page 2]; nothing on [doc 2, page 9].";
    auto cites = ResolveCitations(answer, docs, blocks, chunks);
    QCOMPARE(cites.size(), size_t{3});
    QCOMPARE(cites[0].doc_id, int64_t{11});
    QCOMPARE(cites[0].page, 2);
    QCOMPARE(cites[0].chunk_id, int64_t{101});
    QCOMPARE(cites[0].quote, std::string("The selective scan is linear in length."));
    QCOMPARE(cites[0].title, std::string("Scan notes"));
    QCOMPARE(cites[1].doc_id, int64_t{11});
    QCOMPARE(cites[1].page, 3);
    QCOMPARE(cites[1].chunk_id, int64_t{102});
    QCOMPARE(cites[2].doc_id, int64_t{12});
    QCOMPARE(cites[2].page, 2);
    // Retrieval mode: only the excerpt pages exist for the model.
    std::vector<ContextBlock> excerpt = {{1, 11, 3, 3, 102, 1, "Memory use is constant."}};
    auto few = ResolveCitations(answer, docs, excerpt, chunks);
    QCOMPARE(few.size(), size_t{1});
    QCOMPARE(few[0].page, 3);
  }

  // An unnamed page held by two documents goes to the one whose text the sentence shares.
  void ambiguousPageGoesToTheMatchingDocument() {
    const auto docs = Docs();
    auto cites = ResolveCitations("Keys and values are cached (page 2).", docs,
                                  PromptBuilder::WholeBlocks(docs), {});
    QCOMPARE(cites.size(), size_t{1});
    QCOMPARE(cites[0].doc_id, int64_t{12});
    QCOMPARE(cites[0].quote, std::string("Keys and values are cached."));
  }

  // The context the model sees, exactly.
  void rendersContextWithPageMarkers() {
    const auto docs = Docs();
    std::vector<ContextBlock> blocks = {
        {1, 11, 2, 2, 0, 0, "The selective scan is linear in length."},
        {2, 12, 1, 1, 0, 0, "Attention is quadratic."}};
    QCOMPARE(RenderContext(docs, blocks, AnswerMode::kWhole),
             std::string("\n=== doc 1: Scan notes ===\n[doc 1, page 2]\nThe selective scan is "
                         "linear in length.\n\n=== doc 2: Attention ===\n[doc 2, page 1]\n"
                         "Attention is quadratic.\n"));
    QVERIFY(
        RenderContext(docs, blocks, AnswerMode::kRetrieval).find("[doc 1, page 2] (excerpt)\n") !=
        std::string::npos);
  }

  void contentWordsFoldRegularInflections() {
    const std::vector<std::string> want = {"clock", "measur", "measur", "study", "glass", "bus",
                                           "analysis", "str", "str", "built", "build", "seed"};
    QCOMPARE(ContentWords("Clocks measured MEASURING studies glasses bus analysis string "
                          "strings built build seed"),
             want);
    QCOMPARE(WordOverlap("the clocks measured", "the clock measuring"), 1.0);
  }

  void overlapCountsContentWords() {
    QCOMPARE(WordOverlap("linear scan wibble", "the selective scan is linear"), 2.0 / 3.0);
    QCOMPARE(WordOverlap("", "anything"), 0.0);
  }

  // Without a model: quotes of the best passages, labelled as quotes, naming the page.
  void extractiveAnswerNamesTheRightPage() {
    QTemporaryDir dir;
    auto lib = docstore::Library::Open((dir.path() + "/lib.sqlite").toStdString());
    QVERIFY(lib.ok());
    auto doc = testing::MakeDocument(
        "/docs/a.txt", "Field guide",
        {testing::Filler(1, 120),
         testing::Filler(2, 80) + " The heron nests in tall reeds by the estuary. " +
             testing::Filler(3, 40),
         testing::Filler(4, 120)});
    auto other = testing::MakeDocument("/docs/b.txt", "Other", {testing::Filler(5, 200)});
    auto stored = (*lib)->StoreDocument(doc);
    QVERIFY(stored.ok());
    QVERIFY((*lib)->StoreDocument(other).ok());
    AssistantOptions opt;
    opt.cache.disk = false;
    auto a = Assistant::Create(**lib, nullptr, opt);
    QVERIFY(a.ok());
    std::string streamed;
    auto ans =
        (*a)->Ask("where does the heron nest", {}, [&](std::string_view p) { streamed += p; });
    QVERIFY2(ans.ok(), ans.status().message().c_str());
    QCOMPARE(ans->mode, AnswerMode::kExtractive);
    QVERIFY(ans->in_context);
    QVERIFY(!ans->citations.empty());
    QCOMPARE(ans->citations[0].doc_id, stored->doc_id);
    QCOMPARE(ans->citations[0].page, 2);
    QVERIFY(ans->citations[0].quote.find("heron") != std::string::npos);
    QVERIFY(ans->text.find("not a generated answer") != std::string::npos);
    QVERIFY(ans->text.find("Field guide, page 2") != std::string::npos);
    QCOMPARE(streamed, ans->text);
    // Words the documents lack: said plainly, not in context.
    auto none = (*a)->Ask("zeppelin", {}, {});
    QVERIFY(none.ok());
    QVERIFY(!none->in_context);
    QVERIFY(none->citations.empty());
  }

  // The search index is stemmed (schema v3): a passage found through other word forms is
  // quoted at the sentence sharing most of them, not at one sharing a single literal word.
  void extractiveQuoteFollowsOtherWordForms() {
    QTemporaryDir dir;
    auto lib = docstore::Library::Open((dir.path() + "/lib.sqlite").toStdString());
    QVERIFY(lib.ok());
    auto doc = testing::MakeDocument(
        "/docs/a.txt", "Sea clocks",
        {testing::Filler(3, 144) + "The drift of rivers is slow. " +
         "Harrison measured the drift of his clocks at sea. " +
         testing::Filler(4, 60)});
    QVERIFY((*lib)->StoreDocument(doc).ok());
    AssistantOptions opt;
    opt.cache.disk = false;
    auto a = Assistant::Create(**lib, nullptr, opt);
    QVERIFY(a.ok());
    auto ans = (*a)->Ask("measuring clock drift", {}, {});
    QVERIFY2(ans.ok(), ans.status().message().c_str());
    QVERIFY(!ans->citations.empty());
    QVERIFY2(ans->citations[0].quote == "Harrison measured the drift of his clocks at sea.",
             ans->citations[0].quote.c_str());
  }

  // The quote is the passage's sentence that answers, whole, with PDF line breaks joined,
  // even when the search snippet's window would start elsewhere in the chunk.
  void extractiveQuoteIsTheWholeAnsweringSentence() {
    QTemporaryDir dir;
    auto lib = docstore::Library::Open((dir.path() + "/lib.sqlite").toStdString());
    QVERIFY(lib.ok());
    auto doc = testing::MakeDocument(
        "/docs/a.pdf", "Field guide",
        {testing::Filler(7, 144) + "The heron\nnests in tall\nreeds by the estuary. " +
         testing::Filler(8, 30)});
    QVERIFY((*lib)->StoreDocument(doc).ok());
    AssistantOptions opt;
    opt.cache.disk = false;
    auto a = Assistant::Create(**lib, nullptr, opt);
    QVERIFY(a.ok());
    auto ans = (*a)->Ask("where does the heron nest", {}, {});
    QVERIFY2(ans.ok(), ans.status().message().c_str());
    QVERIFY(!ans->citations.empty());
    QVERIFY2(ans->citations[0].quote == "The heron nests in tall reeds by the estuary.",
             ans->citations[0].quote.c_str());
    QVERIFY(ans->text.find("\"The heron nests in tall reeds by the estuary.\"") !=
            std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestCitations)
#include "test_citations.moc"
