// Semantic search (issue 7) on the tiny random Jamba made here: the embedder (deterministic,
// unit-norm, independent of the prefill chunk size), the background embedding job (one
// vector per chunk, resume, cancel), reciprocal rank fusion against hand-computed ranks,
// and hybrid search (BM25 alone without embeddings; fused passages with document, page and
// score with them). The weights are random: these tests pin down the machinery, not quality.
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <random>

#include "app/assistant/assistant.h"
#include "app/assistant/embeddings.h"
#include "app/assistant/hybrid_search.h"
#include "app_test_util.h"
#include "docstore/search.h"
#include "engine/tiny_model.h"

using namespace folio;
using namespace folio::assistant;

namespace {

double Norm(const std::vector<float>& v) {
  double ss = 0;
  for (float x : v) ss += static_cast<double>(x) * x;
  return std::sqrt(ss);
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e9;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

}  // namespace

class TestSemanticSearch : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  std::unique_ptr<LoadedModel> model_;
  std::unique_ptr<Embedder> embedder_;

  std::unique_ptr<Embedder> MakeEmbedder(int64_t prefill_chunk, int layer = kAutoLayer) {
    EmbedderOptions o;
    o.prefill_chunk = prefill_chunk;
    o.layer = layer;
    auto e = Embedder::Create(*model_->backend, *model_->tokenizer, model_->model_key, o);
    return e.ok() ? std::move(*e) : nullptr;
  }

  // A library at DIR/NAME/lib.sqlite with two documents: "Alpha" (3 pages) and "Beta"
  // (2 pages), one chunk per page: 5 chunks.
  std::string NewLibrary(const char* name) {
    const QString d = dir_.path() + "/" + name;
    QDir().mkpath(d);
    const std::string path = (d + "/lib.sqlite").toStdString();
    auto lib = docstore::Library::Open(path);
    if (!lib.ok()) return "";
    auto a = (*lib)->StoreDocument(testing::MakeDocument(
        "/d/alpha.txt", "Alpha",
        {testing::Filler(1, 40) + " glacier ice flows downhill.", testing::Filler(2, 40),
         testing::Filler(3, 40) + " copper signal harbor."}));
    auto b = (*lib)->StoreDocument(testing::MakeDocument(
        "/d/beta.txt", "Beta", {testing::Filler(4, 50), testing::Filler(5, 30) + " copper."}));
    if (!a.ok() || !b.ok()) return "";
    return path;
  }

  std::map<int64_t, std::string> ChunkTexts(docstore::Library& lib) {
    std::map<int64_t, std::string> out;
    auto docs = lib.ListDocuments();
    if (!docs.ok()) return out;
    for (const auto& d : *docs) {
      auto chunks = lib.GetChunks(d.id);
      if (!chunks.ok()) continue;
      for (const auto& c : *chunks) out[c.id] = c.chunk.text;
    }
    return out;
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const std::string model_dir = (dir_.path() + "/tiny").toStdString();
    auto made = MakeTinyModel(model_dir, 11);
    QVERIFY2(made.ok(), made.status().message().c_str());
    auto m = LoadedModel::Open(model_dir, 2);
    QVERIFY2(m.ok(), m.status().message().c_str());
    model_ = std::move(*m);
    embedder_ = MakeEmbedder(256);
    QVERIFY(embedder_);
  }

  void embeddingIsDeterministicAndUnitNorm() {
    const std::string text = testing::Filler(21, 60);
    auto a = embedder_->Embed(text);
    auto b = embedder_->Embed(text);
    QVERIFY2(a.ok(), a.status().message().c_str());
    QVERIFY(b.ok());
    QCOMPARE(static_cast<int64_t>(a->size()), model_->backend->config().hidden_size);
    QCOMPARE(*a, *b);  // bit for bit: a fresh session each time
    QVERIFY(std::fabs(Norm(*a) - 1.0) < 1e-5);
    auto other = embedder_->Embed(testing::Filler(22, 60));
    QVERIFY(other.ok());
    QVERIFY(MaxAbsDiff(*a, *other) > 1e-3);  // another text, another vector
  }

  void embeddingDoesNotDependOnThePrefillChunk() {
    const std::string text = testing::Filler(23, 80);
    auto whole = MakeEmbedder(512);
    auto small = MakeEmbedder(3);
    auto single = MakeEmbedder(1);
    QVERIFY(whole && small && single);
    auto w = whole->Embed(text);
    auto s = small->Embed(text);
    auto o = single->Embed(text);
    QVERIFY(w.ok() && s.ok() && o.ok());
    QVERIFY2(MaxAbsDiff(*w, *s) < 1e-4, std::to_string(MaxAbsDiff(*w, *s)).c_str());
    QVERIFY2(MaxAbsDiff(*w, *o) < 1e-4, std::to_string(MaxAbsDiff(*w, *o)).c_str());
  }

  void everyLayerPassMatchesSingleLayerEmbeds() {
    const int L = static_cast<int>(model_->backend->config().num_hidden_layers);
    const std::string text = testing::Filler(24, 30);
    auto all = embedder_->EmbedLayers(text, -1, L);
    QVERIFY2(all.ok(), all.status().message().c_str());
    QCOMPARE(static_cast<int>(all->size()), L + 2);
    for (int l = -1; l <= L; ++l) {
      auto e = MakeEmbedder(256, l);
      QVERIFY(e);
      QVERIFY(e->model_key() != embedder_->model_key() || l == embedder_->layer());
      auto v = e->Embed(text);
      QVERIFY(v.ok());
      QVERIFY(MaxAbsDiff(*v, (*all)[static_cast<size_t>(l + 1)]) < 1e-6);
    }
    // Layers differ from one another (the observer reports each one, not one repeated).
    QVERIFY(MaxAbsDiff((*all)[0], (*all)[static_cast<size_t>(L + 1)]) > 1e-3);
  }

  void rejectsALayerOutsideTheModel() {
    const int L = static_cast<int>(model_->backend->config().num_hidden_layers);
    EmbedderOptions o;
    o.layer = L + 1;
    auto e = Embedder::Create(*model_->backend, *model_->tokenizer, "k", o);
    QVERIFY(!e.ok());
    QCOMPARE(e.status().code(), ErrorCode::kInvalidArgument);
    o.layer = -2;
    QVERIFY(!Embedder::Create(*model_->backend, *model_->tokenizer, "k", o).ok());
  }

  void jobStoresOneVectorPerChunkStopsOnCancelAndResumes() {
    const std::string path = NewLibrary("job");
    QVERIFY(!path.empty());
    std::atomic<bool> cancel{false};
    std::vector<std::pair<int64_t, int64_t>> seen;
    EmbeddingJobOptions jo;
    jo.batch = 2;
    // Cancel as soon as the first batch is stored: the job stops before the next chunk.
    auto first = RunEmbeddingJob(
        path, *embedder_, &cancel,
        [&](int64_t done, int64_t total) {
          seen.emplace_back(done, total);
          if (done >= 2) cancel.store(true);
        },
        jo);
    QVERIFY2(first.ok(), first.status().message().c_str());
    QVERIFY(first->cancelled);
    QCOMPARE(first->total, int64_t{5});
    QCOMPARE(first->computed, int64_t{2});
    QCOMPARE(seen.front(), std::make_pair(int64_t{0}, int64_t{5}));
    QCOMPARE(seen.back(), std::make_pair(int64_t{2}, int64_t{5}));

    auto lib = docstore::Library::Open(path);
    QVERIFY(lib.ok());
    auto stored = (*lib)->GetEmbeddings(embedder_->model_key());
    QVERIFY(stored.ok());
    QCOMPARE(stored->size(), size_t{2});

    cancel.store(false);
    seen.clear();
    auto second = RunEmbeddingJob(
        path, *embedder_, &cancel, [&](int64_t d, int64_t t) { seen.emplace_back(d, t); }, jo);
    QVERIFY(second.ok());
    QVERIFY(!second->cancelled);
    QCOMPARE(second->existing, int64_t{2});
    QCOMPARE(second->computed, int64_t{3});
    QCOMPARE(seen.back(), std::make_pair(int64_t{5}, int64_t{5}));

    // One vector per chunk, each the chunk text's embedding.
    const auto texts = ChunkTexts(**lib);
    stored = (*lib)->GetEmbeddings(embedder_->model_key());
    QVERIFY(stored.ok());
    QCOMPARE(stored->size(), texts.size());
    for (const auto& e : *stored) {
      auto v = embedder_->Embed(texts.at(e.chunk_id));
      QVERIFY(v.ok());
      QVERIFY(MaxAbsDiff(*v, e.vector) < 1e-6);
    }
    // Nothing left: a third run computes nothing.
    auto third = RunEmbeddingJob(path, *embedder_, nullptr, {}, jo);
    QVERIFY(third.ok());
    QCOMPARE(third->computed, int64_t{0});
    QCOMPARE(third->existing, int64_t{5});
  }

  void rrfMatchesHandComputedRanks() {
    // k = 60: id 1: 1/61 + 1/62 = .032522; id 3: 1/63 + 1/61 = .032266;
    //         id 2: 1/62 = .016129;        id 4: 1/63 = .015873.
    auto fused = ReciprocalRankFusion({{1, 2, 3}, {3, 1, 4}}, 60);
    QCOMPARE(fused.size(), size_t{4});
    const int64_t order[] = {1, 3, 2, 4};
    for (size_t i = 0; i < 4; ++i) QCOMPARE(fused[i].first, order[i]);
    QVERIFY(std::fabs(fused[0].second - (1.0 / 61 + 1.0 / 62)) < 1e-12);
    QVERIFY(std::fabs(fused[1].second - (1.0 / 63 + 1.0 / 61)) < 1e-12);
    QVERIFY(std::fabs(fused[3].second - 1.0 / 63) < 1e-12);
    // k = 1 changes the scores, not this order: 1: 1/2 + 1/3; 3: 1/4 + 1/2; 2: 1/3; 4: 1/4.
    auto k1 = ReciprocalRankFusion({{1, 2, 3}, {3, 1, 4}}, 1);
    QVERIFY(std::fabs(k1[0].second - (1.0 / 2 + 1.0 / 3)) < 1e-12);
    QCOMPARE(k1[1].first, int64_t{3});
    // One list that is deep beats a shallow appearance in two: [7] + [8, 9, 7] vs 8 ...
    // 7: 1/61 + 1/63 = .032266; 8: 1/62 = .016129; 9: 1/63.
    auto deep = ReciprocalRankFusion({{7}, {8, 9, 7}}, 60);
    QCOMPARE(deep[0].first, int64_t{7});
    QCOMPARE(deep[1].first, int64_t{8});
    QCOMPARE(deep[2].first, int64_t{9});
    // Equal scores: the better best rank first, then the smaller id.
    auto tie = ReciprocalRankFusion({{6, 5}, {5, 6}}, 60);
    QCOMPARE(tie[0].first, int64_t{5});
    QCOMPARE(tie[1].first, int64_t{6});
    QVERIFY(ReciprocalRankFusion({}, 60).empty());
  }

  void withoutEmbeddingsHybridEqualsBm25() {
    const std::string path = NewLibrary("bm25");
    QVERIFY(!path.empty());
    auto lib = docstore::Library::Open(path);
    QVERIFY(lib.ok());
    for (Embedder* e : {static_cast<Embedder*>(nullptr), embedder_.get()}) {
      HybridSearch hs(**lib, e);
      auto has = hs.HasEmbeddings();
      QVERIFY(has.ok() && !*has);
      for (const char* q : {"copper signal", "glacier", "river stone market", "nothingmatches"}) {
        HybridOptions ho;
        ho.limit = 4;
        docstore::SearchOptions so;
        so.limit = 4;
        auto words = docstore::Search(**lib, q, so);
        auto hybrid = hs.Search(q, ho);
        QVERIFY(words.ok() && hybrid.ok());
        QCOMPARE(hybrid->size(), words->size());
        for (size_t i = 0; i < words->size(); ++i) {
          QCOMPARE((*hybrid)[i].chunk_id, (*words)[i].chunk_id);
          QCOMPARE((*hybrid)[i].page, (*words)[i].page);
          QCOMPARE((*hybrid)[i].score, (*words)[i].score);
          QCOMPARE((*hybrid)[i].snippet, (*words)[i].snippet);
          QCOMPARE((*hybrid)[i].bm25_rank, static_cast<int>(i) + 1);
          QCOMPARE((*hybrid)[i].dense_rank, 0);
          QVERIFY(!(*hybrid)[i].passage.empty());
        }
      }
    }
  }

  void withEmbeddingsReturnsFusedPassagesWithDocumentPageAndScore() {
    const std::string path = NewLibrary("hybrid");
    QVERIFY(!path.empty());
    auto job = RunEmbeddingJob(path, *embedder_);
    QVERIFY2(job.ok(), job.status().message().c_str());
    auto lib = docstore::Library::Open(path);
    QVERIFY(lib.ok());
    const auto texts = ChunkTexts(**lib);
    HybridSearch hs(**lib, embedder_.get());
    auto has = hs.HasEmbeddings();
    QVERIFY(has.ok() && *has);

    HybridOptions ho;
    ho.limit = 5;
    auto hits = hs.Search("glacier ice", ho);
    QVERIFY2(hits.ok(), hits.status().message().c_str());
    QCOMPARE(hits->size(), size_t{5});  // dense ranks every chunk
    auto dense = hs.DenseRank("glacier ice", {}, 50);
    QVERIFY(dense.ok());
    QCOMPARE(dense->size(), size_t{5});
    double last = 1e9;
    int with_words = 0;
    for (const auto& h : *hits) {
      QVERIFY(h.title == "Alpha" || h.title == "Beta");
      QVERIFY(h.page >= 1 && h.page <= 3);
      QCOMPARE(h.passage, texts.at(h.chunk_id));
      QVERIFY(!h.snippet.empty());
      QVERIFY(h.dense_rank >= 1);
      QCOMPARE((*dense)[static_cast<size_t>(h.dense_rank - 1)].first, h.chunk_id);
      // The score is the RRF of its two ranks (k = 60).
      double expect = 1.0 / (60 + h.dense_rank);
      if (h.bm25_rank > 0) {
        expect += 1.0 / (60 + h.bm25_rank);
        ++with_words;
        QCOMPARE(h.title, std::string("Alpha"));  // only Alpha's page 1 has these words
        QCOMPARE(h.page, 1);
      }
      QVERIFY(std::fabs(h.score - expect) < 1e-12);
      QVERIFY(h.score <= last);
      last = h.score;
    }
    QCOMPARE(with_words, 1);

    // A query no word matches still finds passages by meaning, from the chosen documents.
    auto docs = (*lib)->ListDocuments();
    QVERIFY(docs.ok());
    int64_t beta = 0;
    for (const auto& d : *docs) beta = d.title == "Beta" ? d.id : beta;
    ho.doc_ids = {beta};
    auto meaning = hs.Search("zzqxv wobbly", ho);
    QVERIFY(meaning.ok());
    QCOMPARE(meaning->size(), size_t{2});
    for (const auto& h : *meaning) {
      QCOMPARE(h.doc_id, beta);
      QCOMPARE(h.bm25_rank, 0);
      QVERIFY(h.dense_rank >= 1);
      QVERIFY(h.page >= 1 && h.page <= 2);
      QVERIFY(h.score > 0);
    }

    // A document added and embedded later is picked up (the cached matrix is reloaded).
    auto c = (*lib)->StoreDocument(
        testing::MakeDocument("/d/gamma.txt", "Gamma", {testing::Filler(9, 20)}));
    QVERIFY(c.ok());
    QVERIFY(RunEmbeddingJob(path, *embedder_).ok());
    auto wider = hs.DenseRank("anything", {c->doc_id}, 10);
    QVERIFY(wider.ok());
    QCOMPARE(wider->size(), size_t{1});
  }

  // The assistant's quotes without a model stay BM25's; with a model and embeddings its
  // retrieval goes through the same hybrid search (it still answers).
  void assistantAnswersWithEmbeddingsStored() {
    const std::string path = NewLibrary("assist");
    QVERIFY(!path.empty());
    QVERIFY(RunEmbeddingJob(path, *embedder_).ok());
    auto lib = docstore::Library::Open(path);
    QVERIFY(lib.ok());
    AssistantOptions o;
    o.max_new_tokens = 4;
    o.cache.disk = false;
    auto a = Assistant::Create(**lib, model_.get(), o);
    QVERIFY2(a.ok(), a.status().message().c_str());
    auto ans = (*a)->Ask("copper signal?", {});
    QVERIFY2(ans.ok(), ans.status().message().c_str());
    auto plain = Assistant::Create(**lib, nullptr, o);
    QVERIFY(plain.ok());
    auto quotes = (*plain)->Ask("copper signal", {});
    QVERIFY(quotes.ok());
    docstore::SearchOptions so;
    so.limit = o.extractive_quotes;
    auto words = docstore::Search(**lib, "copper signal", so);
    QVERIFY(words.ok());
    QCOMPARE(quotes->citations.size(), words->size());
    for (size_t i = 0; i < words->size(); ++i) {
      QCOMPARE(quotes->citations[i].chunk_id, (*words)[i].chunk_id);
    }
  }
};

QTEST_GUILESS_MAIN(TestSemanticSearch)
#include "test_semantic_search.moc"
