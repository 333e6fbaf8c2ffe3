#include "docstore/search_rank.h"

#include <sqlite3.h>

#include <charconv>
#include <cmath>
#include <memory>
#include <vector>

namespace folio::docstore {
namespace {

constexpr double kK1 = 1.2;
constexpr double kB = 0.75;

// What every row of one query shares, computed on its first row.
struct QueryWeights {
  std::vector<double> idf;  // per phrase
  double avg_tokens = 1;    // average row length in tokens
};

// "n0,n1,..." -> counts; a missing or malformed entry counts as "every row" (weight ~0).
std::vector<int64_t> ParseCounts(const char* text, int size) {
  std::vector<int64_t> out;
  const char* p = text;
  const char* end = text + size;
  while (p < end) {
    int64_t v = -1;
    auto [next, ec] = std::from_chars(p, end, v);
    out.push_back(ec == std::errc() ? v : -1);
    p = next;
    while (p < end && *p != ',') ++p;
    if (p < end) ++p;
  }
  return out;
}

std::unique_ptr<QueryWeights> ComputeWeights(const Fts5ExtensionApi* api, Fts5Context* fts,
                                             sqlite3_value* counts_arg) {
  auto w = std::make_unique<QueryWeights>();
  sqlite3_int64 rows = 0, tokens = 0;
  if (api->xRowCount(fts, &rows) != SQLITE_OK) return nullptr;
  if (api->xColumnTotalSize(fts, -1, &tokens) != SQLITE_OK) return nullptr;
  w->avg_tokens =
      rows > 0 ? std::max(1.0, static_cast<double>(tokens) / static_cast<double>(rows)) : 1.0;
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(counts_arg));
  const std::vector<int64_t> counts =
      text ? ParseCounts(text, sqlite3_value_bytes(counts_arg)) : std::vector<int64_t>();
  const int phrases = api->xPhraseCount(fts);
  for (int i = 0; i < phrases; ++i) {
    const int64_t n = i < static_cast<int>(counts.size()) && counts[i] >= 0 ? counts[i] : rows;
    // Same formula and floor as FTS5's bm25(): a word in over half the rows weighs ~nothing.
    const double idf =
        std::log((static_cast<double>(rows - n) + 0.5) / (static_cast<double>(n) + 0.5));
    w->idf.push_back(idf > 1e-6 ? idf : 1e-6);
  }
  return w;
}

void FolioBm25(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* ctx, int argc,
               sqlite3_value** argv) {
  auto* w = static_cast<QueryWeights*>(api->xGetAuxdata(fts, 0));
  if (!w) {
    auto fresh = ComputeWeights(api, fts, argc > 0 ? argv[0] : nullptr);
    if (!fresh) {
      sqlite3_result_error(ctx, "folio_bm25: cannot read the index statistics", -1);
      return;
    }
    w = fresh.get();
    // On failure SQLite calls the deleter itself, so ownership passes either way.
    if (api->xSetAuxdata(fts, fresh.release(),
                         [](void* p) { delete static_cast<QueryWeights*>(p); }) != SQLITE_OK) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
  }
  int row_tokens = 0;
  if (api->xColumnSize(fts, -1, &row_tokens) != SQLITE_OK) {
    sqlite3_result_error(ctx, "folio_bm25: cannot read the row length", -1);
    return;
  }
  const double norm = kK1 * (1 - kB + kB * row_tokens / w->avg_tokens);
  double score = 0;
  for (int i = 0; i < static_cast<int>(w->idf.size()); ++i) {
    Fts5PhraseIter it;
    int col = 0, off = 0, tf = 0;
    if (api->xPhraseFirst(fts, i, &it, &col, &off) != SQLITE_OK) continue;
    for (; col >= 0; api->xPhraseNext(fts, &it, &col, &off)) ++tf;
    if (tf > 0) score += w->idf[static_cast<size_t>(i)] * tf * (kK1 + 1) / (tf + norm);
  }
  sqlite3_result_double(ctx, score);
}

}  // namespace

Status RegisterRankFunction(sql::Database& db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), "SELECT fts5(?1)", -1, &st, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_pointer(st, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if (!api || api->iVersion < 2) {
    return Unsupported("this system's SQLite was built without FTS5; Folio's search needs it");
  }
  rc = api->xCreateFunction(api, kRankFunctionName, nullptr, &FolioBm25, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : db.Error(rc, "registering the search ranking");
}

}  // namespace folio::docstore
