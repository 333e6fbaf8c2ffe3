// folio-cli embed | semantic-search | embed-eval: chunk embeddings from the loaded model
// (app/assistant/embeddings.h) and hybrid BM25 + dense search over them.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/assistant/assistant.h"
#include "app/assistant/embeddings.h"
#include "app/assistant/hybrid_search.h"
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/library_cli.h"

namespace folio::cli {
namespace {

using json = nlohmann::json;

std::atomic<bool> g_cancel{false};
extern "C" void OnEmbedInterrupt(int) {
  g_cancel.store(true);
}

// --model DIR opened, with an embedder at --layer (default: DefaultEmbeddingLayer).
struct Loaded {
  std::unique_ptr<assistant::LoadedModel> model;
  std::unique_ptr<assistant::Embedder> embedder;
};

Result<Loaded> OpenEmbedder(const std::string& dir, int64_t threads, int64_t layer) {
  Loaded l;
  FOLIO_ASSIGN_OR_RETURN(l.model, assistant::LoadedModel::Open(dir, static_cast<int>(threads)));
  assistant::EmbedderOptions eo;
  if (layer != -1000) eo.layer = static_cast<int>(layer);
  FOLIO_ASSIGN_OR_RETURN(
      l.embedder,
      assistant::Embedder::Create(*l.model->backend, *l.model->tokenizer, l.model->model_key, eo));
  return l;
}

}  // namespace

int RunEmbed(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  const std::string model = args.GetOr("model", "");
  const int64_t threads = args.GetInt("threads", 0);
  const int64_t layer = args.GetInt("layer", -1000);
  int rc = kExitOk;
  auto lib = OpenLibraryOrReport(args, &rc);  // resolves and checks the path
  if (!lib) return rc;
  if (!args.error().empty()) return Fail(args.error());
  if (model.empty()) return Fail("embed needs --model DIR (the checkpoint whose layers embed)");
  auto loaded = OpenEmbedder(model, threads, layer);
  if (!loaded.ok()) return Fail(loaded.status().message());
  const std::string path = lib->path();
  lib.reset();
  std::signal(SIGINT, OnEmbedInterrupt);
  std::fprintf(stderr, "embedding with layer %d (key %s)\n", loaded->embedder->layer(),
               loaded->embedder->model_key().c_str());
  auto r = assistant::RunEmbeddingJob(
      path, *loaded->embedder, &g_cancel, [](int64_t done, int64_t total) {
        std::fprintf(stderr, "\rembedded %lld / %lld chunks", static_cast<long long>(done),
                     static_cast<long long>(total));
      });
  std::signal(SIGINT, SIG_DFL);
  std::fprintf(stderr, "\n");
  if (!r.ok()) return Fail(r.status().message());
  std::printf("%lld chunks: %lld already embedded, %lld computed%s\n",
              static_cast<long long>(r->total), static_cast<long long>(r->existing),
              static_cast<long long>(r->computed),
              r->cancelled ? " (cancelled: run embed again to continue)" : "");
  return r->cancelled ? kExitPartial : kExitOk;
}

int RunSemanticSearch(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"json"});
  const bool as_json = args.Flag("json");
  const std::string model = args.GetOr("model", "");
  const int64_t threads = args.GetInt("threads", 0);
  const int64_t layer = args.GetInt("layer", -1000);
  assistant::HybridOptions opt;
  opt.limit = static_cast<int>(args.GetInt("limit", 10));
  const auto docs = args.Get("docs");
  int rc = kExitOk;
  auto lib = OpenLibraryOrReport(args, &rc);
  if (!lib) return rc;
  if (!args.error().empty()) return Fail(args.error());
  if (docs && !ParseIdList(*docs, &opt.doc_ids)) {
    return Fail("--docs expects ids like 3,17,42, got '" + *docs + "'");
  }
  std::string query;
  for (const auto& p : args.positionals()) query += (query.empty() ? "" : " ") + p;
  if (query.empty() || opt.limit <= 0) {
    return Fail("semantic-search expects a query and --limit N with N >= 1");
  }
  Loaded loaded;
  if (!model.empty()) {
    auto l = OpenEmbedder(model, threads, layer);
    if (!l.ok()) return Fail(l.status().message());
    loaded = std::move(*l);
  }
  assistant::HybridSearch hs(*lib, loaded.embedder.get());
  auto dense = hs.HasEmbeddings();
  if (!dense.ok()) return Fail(dense.status().message());
  if (!model.empty() && !*dense) {
    std::fprintf(stderr,
                 "no embeddings for this model yet (run folio-cli embed --model %s): "
                 "words only\n",
                 model.c_str());
  }
  auto hits = hs.Search(query, opt);
  if (!hits.ok()) return Fail(hits.status().message());
  for (const auto& h : *hits) {
    if (as_json) {
      std::printf("%s\n", json({{"doc_id", h.doc_id},
                                {"document", h.title},
                                {"page", h.page},
                                {"score", h.score},
                                {"passage", h.passage},
                                {"snippet", h.snippet},
                                {"chunk_id", h.chunk_id},
                                {"bm25_rank", h.bm25_rank},
                                {"dense_rank", h.dense_rank}})
                              .dump()
                              .c_str());
    } else {
      std::printf("%s, p. %d  (doc %lld, score %.4f; words #%d, meaning #%d)\n    %s\n",
                  h.title.c_str(), h.page, static_cast<long long>(h.doc_id), h.score, h.bm25_rank,
                  h.dense_rank, h.snippet.c_str());
    }
  }
  if (!as_json && hits->empty()) std::printf("no passage matches '%s'\n", query.c_str());
  return kExitOk;
}

// Dense-only retrieval quality of every layer on a labelled set: for each query, the rank
// of its relevant passage among all passages by cosine. Prints a table; asserts nothing.
int RunEmbedEval(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  const std::string model = args.GetOr("model", "");
  const std::string data = args.GetOr("data", "tests/app/data/semantic_eval.json");
  const int64_t threads = args.GetInt("threads", 0);
  if (!args.error().empty()) return Fail(args.error());
  if (model.empty()) return Fail("embed-eval needs --model DIR");
  std::ifstream in(data);
  if (!in) return Fail("cannot read " + data + " (pass --data FILE)");
  json set = json::parse(in, nullptr, false);
  if (set.is_discarded() || !set.contains("passages") || !set.contains("queries")) {
    return Fail(data + " is not {\"passages\": [{id, text}], \"queries\": [{text, relevant}]}");
  }
  auto loaded = OpenEmbedder(model, threads, -1000);
  if (!loaded.ok()) return Fail(loaded.status().message());
  auto& e = *loaded->embedder;
  const int L = static_cast<int>(loaded->model->backend->config().num_hidden_layers);
  const int layers = L + 2;  // observer indices -1..L

  // vecs[layer + 1][item]: passages first, then queries.
  std::vector<std::string> ids;
  std::vector<std::string> texts;
  for (const auto& p : set["passages"]) {
    ids.push_back(p.value("id", ""));
    texts.push_back(p.value("text", ""));
  }
  const size_t np = texts.size();
  std::vector<size_t> want;
  for (const auto& q : set["queries"]) {
    texts.push_back(q.value("text", ""));
    size_t at = np;
    for (size_t i = 0; i < np; ++i) at = ids[i] == q.value("relevant", "") ? i : at;
    if (at == np) return Fail("query '" + q.value("text", "") + "' names an unknown passage");
    want.push_back(at);
  }
  std::vector<std::vector<std::vector<float>>> vecs(static_cast<size_t>(layers));
  for (const auto& t : texts) {
    auto v = e.EmbedLayers(t, -1, L);
    if (!v.ok()) return Fail(v.status().message());
    for (int l = 0; l < layers; ++l)
      vecs[static_cast<size_t>(l)].push_back((*v)[static_cast<size_t>(l)]);
  }
  const double nq = static_cast<double>(want.size());
  std::printf("%zu passages, %zu queries, model %s\n", np, want.size(), model.c_str());
  std::printf("chance: recall@1 %.3f  recall@3 %.3f\n", 1.0 / np, 3.0 / np);
  std::printf("%6s %9s %9s %7s\n", "layer", "recall@1", "recall@3", "MRR");
  int best = -1;
  double best_mrr = -1;
  for (int l = 0; l < layers; ++l) {
    const auto& V = vecs[static_cast<size_t>(l)];
    double r1 = 0, r3 = 0, mrr = 0;
    for (size_t q = 0; q < want.size(); ++q) {
      auto dot = [&](size_t a, size_t b) {
        double s = 0;
        for (size_t j = 0; j < V[a].size(); ++j) s += static_cast<double>(V[a][j]) * V[b][j];
        return s;
      };
      const double target = dot(np + q, want[q]);
      int rank = 1;
      for (size_t p = 0; p < np; ++p) rank += p != want[q] && dot(np + q, p) > target;
      r1 += rank <= 1;
      r3 += rank <= 3;
      mrr += 1.0 / rank;
    }
    std::printf("%6d %9.3f %9.3f %7.3f\n", l - 1, r1 / nq, r3 / nq, mrr / nq);
    if (mrr / nq > best_mrr) best_mrr = mrr / nq, best = l - 1;
  }
  std::printf("best layer by MRR: %d; default layer for this model: %d\n", best,
              assistant::DefaultEmbeddingLayer(L));
  return kExitOk;
}

}  // namespace folio::cli
