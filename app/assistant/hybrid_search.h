// Hybrid passage search (issue 7): BM25 over the words (docstore::Search) and, when the
// library holds embeddings for the loaded model, dense cosine over the chunk vectors,
// fused by reciprocal rank fusion. Without a model (or before any chunk is embedded) the
// results are BM25's alone, in BM25's order. Results read like AI21 Semantic Search:
// passage, document, page, score.
//
//   Embedder* e = ...;                       // null: words only
//   HybridSearch hs(library, e);
//   auto hits = hs.Search("how do glaciers move", {}).value();
//   // hits[i].passage, .title, .page, .score (RRF: sum of 1 / (k + rank))
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "app/assistant/embeddings.h"
#include "docstore/search.h"
#include "docstore/store.h"

namespace folio::assistant {

struct HybridOptions {
  int limit = 20;                // results at most
  std::vector<int64_t> doc_ids;  // only these documents; empty = all
  int snippet_bytes = 240;
  int rrf_k = 60;       // the RRF constant (Cormack et al. 2009)
  int candidates = 50;  // each ranking's depth before fusion (at least `limit`)
};

struct HybridHit {
  int64_t chunk_id = 0;
  int64_t doc_id = 0;
  std::string title;    // the document
  int page = 1;         // BM25's matched page, else the chunk's first page
  std::string snippet;  // short quote (BM25's when it matched, else the passage's start)
  std::string passage;  // the whole chunk text
  double score = 0;     // RRF score when fused; BM25's score (-bm25) when words only
  int bm25_rank = 0;    // 1-based; 0 = not in the BM25 list
  int dense_rank = 0;   // 1-based; 0 = not in the dense list (or no dense search)
  double cosine = 0;    // query-passage cosine when dense ran
};

// Reciprocal rank fusion: each list is ids best first; score(id) = sum over lists holding
// it of 1 / (k + rank), rank 1-based. Best first; ties by the id's best (smallest) rank,
// then by id.
std::vector<std::pair<int64_t, double>> ReciprocalRankFusion(
    const std::vector<std::vector<int64_t>>& rankings, int k);

class HybridSearch {
 public:
  // `library` must outlive this; `embedder` (may be null: BM25 only) too.
  HybridSearch(docstore::Library& library, Embedder* embedder);

  Result<std::vector<HybridHit>> Search(const std::string& query, const HybridOptions& options);

  // Whether the library holds vectors for the embedder's model_key (false without one).
  Result<bool> HasEmbeddings();
  // The dense ranking alone: (chunk id, cosine) best first, at most `limit`.
  Result<std::vector<std::pair<int64_t, double>>> DenseRank(const std::string& query,
                                                            const std::vector<int64_t>& doc_ids,
                                                            int limit);

 private:
  struct Row {
    int64_t doc_id = 0;
    int first_page = 1;
    std::string title;
    std::string text;
  };
  // The stored vectors of one model_key as a row-major [n, dim] matrix, with the chunks'
  // places; reloaded when the stored count or largest chunk id changes.
  struct Matrix {
    std::pair<int64_t, int64_t> signature{-1, -1};
    int64_t dim = 0;
    std::vector<int64_t> ids;
    std::vector<float> data;
    std::map<int64_t, Row> rows;  // chunk id -> its document, page, text
  };
  Result<std::pair<int64_t, int64_t>> Signature(const std::string& key);
  Result<Matrix*> LoadMatrix();

  docstore::Library& library_;
  Embedder* embedder_;
  std::map<std::string, Matrix> cache_;  // by model_key
};

}  // namespace folio::assistant
