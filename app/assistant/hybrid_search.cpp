#include "app/assistant/hybrid_search.h"

#include <algorithm>
#include <set>

namespace folio::assistant {
namespace {

// The first ~`bytes` of `text`, whitespace flattened, cut at a space (and never inside a
// UTF-8 sequence), with "…" when cut.
std::string Lead(const std::string& text, int bytes) {
  std::string flat;
  bool space = false;
  for (char c : text) {
    const bool ws = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
    if (ws) {
      space = !flat.empty();
      continue;
    }
    if (space) flat += ' ';
    space = false;
    flat += c;
  }
  if (bytes <= 0 || flat.size() <= static_cast<size_t>(bytes)) return flat;
  size_t cut = flat.rfind(' ', static_cast<size_t>(bytes));
  if (cut == std::string::npos || cut == 0) {
    cut = static_cast<size_t>(bytes);
    while (cut > 0 && (static_cast<unsigned char>(flat[cut]) & 0xC0) == 0x80) --cut;
  }
  return flat.substr(0, cut) + "…";
}

}  // namespace

std::vector<std::pair<int64_t, double>> ReciprocalRankFusion(
    const std::vector<std::vector<int64_t>>& rankings, int k) {
  std::map<int64_t, std::pair<double, size_t>> acc;  // id -> (score, best rank)
  for (const auto& list : rankings) {
    std::set<int64_t> seen;  // an id listed twice counts at its first place only
    for (size_t r = 0; r < list.size(); ++r) {
      if (!seen.insert(list[r]).second) continue;
      auto [it, fresh] = acc.try_emplace(list[r], 0.0, r + 1);
      it->second.first += 1.0 / (k + static_cast<double>(r + 1));
      it->second.second = std::min(it->second.second, r + 1);
      (void)fresh;
    }
  }
  std::vector<std::pair<int64_t, double>> out;
  for (const auto& [id, s] : acc) out.emplace_back(id, s.first);
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    const size_t ra = acc[a.first].second, rb = acc[b.first].second;
    if (ra != rb) return ra < rb;
    return a.first < b.first;
  });
  return out;
}

HybridSearch::HybridSearch(docstore::Library& library, Embedder* embedder)
    : library_(library), embedder_(embedder) {}

Result<std::pair<int64_t, int64_t>> HybridSearch::Signature(const std::string& key) {
  FOLIO_ASSIGN_OR_RETURN(
      auto st, library_.database().Prepare("SELECT COUNT(*), COALESCE(MAX(chunk_id), 0) FROM "
                                           "chunk_embeddings WHERE model_key = ?1"));
  st.Bind(1, key);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  std::pair<int64_t, int64_t> sig{0, 0};
  if (row) sig = {st.ColumnInt64(0), st.ColumnInt64(1)};
  st.Reset();
  return sig;
}

Result<bool> HybridSearch::HasEmbeddings() {
  if (!embedder_) return false;
  FOLIO_ASSIGN_OR_RETURN(auto sig, Signature(embedder_->model_key()));
  return sig.first > 0;
}

Result<HybridSearch::Matrix*> HybridSearch::LoadMatrix() {
  const std::string& key = embedder_->model_key();
  FOLIO_ASSIGN_OR_RETURN(auto sig, Signature(key));
  Matrix& m = cache_[key];
  if (m.signature == sig) return &m;
  m = Matrix{};
  // Where each chunk lives (ready documents only: a failed import has no chunks anyway).
  std::map<int64_t, Row> places;
  FOLIO_ASSIGN_OR_RETURN(auto docs, library_.ListDocuments());
  for (const auto& d : docs) {
    if (d.status != "ready") continue;
    FOLIO_ASSIGN_OR_RETURN(auto chunks, library_.GetChunks(d.id));
    for (auto& c : chunks) {
      places[c.id] = Row{d.id, c.chunk.first_page, d.title, std::move(c.chunk.text)};
    }
  }
  FOLIO_ASSIGN_OR_RETURN(auto stored, library_.GetEmbeddings(key));
  m.dim = embedder_->dim();
  for (auto& e : stored) {
    auto it = places.find(e.chunk_id);
    if (it == places.end() || static_cast<int64_t>(e.vector.size()) != m.dim) continue;
    m.ids.push_back(e.chunk_id);
    m.data.insert(m.data.end(), e.vector.begin(), e.vector.end());
    m.rows[e.chunk_id] = std::move(it->second);
  }
  m.signature = sig;
  return &m;
}

Result<std::vector<std::pair<int64_t, double>>> HybridSearch::DenseRank(
    const std::string& query, const std::vector<int64_t>& doc_ids, int limit) {
  std::vector<std::pair<int64_t, double>> out;
  if (!embedder_ || limit <= 0) return out;
  FOLIO_ASSIGN_OR_RETURN(Matrix * m, LoadMatrix());
  if (m->ids.empty()) return out;
  auto q = embedder_->Embed(query);
  if (!q.ok()) {
    if (q.status().code() == ErrorCode::kInvalidArgument) return out;  // no token
    return q.status();
  }
  const std::set<int64_t> only(doc_ids.begin(), doc_ids.end());
  // Both sides are unit vectors: the dot product is the cosine.
  for (size_t i = 0; i < m->ids.size(); ++i) {
    if (!only.empty() && !only.count(m->rows[m->ids[i]].doc_id)) continue;
    const float* row = m->data.data() + i * static_cast<size_t>(m->dim);
    double dot = 0;
    for (int64_t j = 0; j < m->dim; ++j) dot += static_cast<double>(row[j]) * (*q)[j];
    out.emplace_back(m->ids[i], dot);
  }
  const size_t n = std::min(out.size(), static_cast<size_t>(limit));
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  out.resize(n);
  return out;
}

Result<std::vector<HybridHit>> HybridSearch::Search(const std::string& query,
                                                    const HybridOptions& options) {
  if (options.limit < 1) return InvalidArgument("search limit must be at least 1");
  if (options.rrf_k < 1) return InvalidArgument("the RRF constant k must be at least 1");
  const int depth = std::max(options.candidates, options.limit);
  FOLIO_ASSIGN_OR_RETURN(bool dense, HasEmbeddings());

  docstore::SearchOptions so;
  so.limit = dense ? depth : options.limit;
  so.doc_ids = options.doc_ids;
  so.snippet_bytes = options.snippet_bytes;
  FOLIO_ASSIGN_OR_RETURN(auto words, docstore::Search(library_, query, so));

  std::vector<std::pair<int64_t, double>> near;
  if (dense) {
    FOLIO_ASSIGN_OR_RETURN(near, DenseRank(query, options.doc_ids, depth));
  }

  // One hit per chunk: BM25's data where it matched, else the chunk's own.
  std::map<int64_t, HybridHit> hits;
  std::vector<int64_t> word_ids, near_ids;
  for (size_t i = 0; i < words.size(); ++i) {
    const auto& w = words[i];
    if (hits.count(w.chunk_id)) continue;
    HybridHit h;
    h.chunk_id = w.chunk_id;
    h.doc_id = w.doc_id;
    h.title = w.title;
    h.page = w.page;
    h.snippet = w.snippet;
    h.score = w.score;
    h.bm25_rank = static_cast<int>(word_ids.size()) + 1;
    word_ids.push_back(w.chunk_id);
    hits[w.chunk_id] = std::move(h);
  }
  Matrix* m = nullptr;
  if (dense) {
    FOLIO_ASSIGN_OR_RETURN(m, LoadMatrix());
  }
  for (size_t i = 0; i < near.size(); ++i) {
    const Row& row = m->rows[near[i].first];
    HybridHit& h = hits[near[i].first];
    if (h.bm25_rank == 0) {
      h.chunk_id = near[i].first;
      h.doc_id = row.doc_id;
      h.title = row.title;
      h.page = row.first_page;
      h.snippet = Lead(row.text, options.snippet_bytes);
    }
    h.passage = row.text;
    h.dense_rank = static_cast<int>(i) + 1;
    h.cosine = near[i].second;
    near_ids.push_back(near[i].first);
  }

  std::vector<HybridHit> out;
  if (!dense) {
    for (int64_t id : word_ids) out.push_back(std::move(hits[id]));
  } else {
    for (const auto& [id, score] : ReciprocalRankFusion({word_ids, near_ids}, options.rrf_k)) {
      if (static_cast<int>(out.size()) >= options.limit) break;
      hits[id].score = score;
      out.push_back(std::move(hits[id]));
    }
  }
  // The whole passage for hits that only BM25 found.
  std::map<int64_t, std::map<int64_t, std::string>> texts;  // doc -> chunk -> text
  for (auto& h : out) {
    if (!h.passage.empty()) continue;
    if (!texts.count(h.doc_id)) {
      FOLIO_ASSIGN_OR_RETURN(auto chunks, library_.GetChunks(h.doc_id));
      auto& t = texts[h.doc_id];
      for (auto& c : chunks) t[c.id] = std::move(c.chunk.text);
    }
    h.passage = texts[h.doc_id][h.chunk_id];
  }
  return out;
}

}  // namespace folio::assistant
