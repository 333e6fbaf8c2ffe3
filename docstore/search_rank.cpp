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

// The connection's FTS5 extension API (documented way: SELECT fts5(?1) with a pointer).
Result<fts5_api*> Fts5Api(sql::Database& db) {
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
  return api;
}

// xTokenize callback: appends each token (not the colocated synonyms) to a vector<string>.
int CollectToken(void* out, int flags, const char* token, int size, int /*start*/, int /*end*/) {
  if (flags & FTS5_TOKEN_COLOCATED) return SQLITE_OK;
  static_cast<std::vector<std::string>*>(out)->emplace_back(token, static_cast<size_t>(size));
  return SQLITE_OK;
}

}  // namespace

Result<std::vector<std::string>> UnstemmedWords(sql::Database& db, std::string_view text) {
  FOLIO_ASSIGN_OR_RETURN(fts5_api * api, Fts5Api(db));
  void* user = nullptr;
  fts5_tokenizer tok{};
  int rc = api->xFindTokenizer(api, "unicode61", &user, &tok);
  if (rc != SQLITE_OK) return db.Error(rc, "finding the unicode61 tokenizer");
  // Same options as the index's tokenizer below its Porter stage (schema.cpp, v3).
  const char* args[] = {"remove_diacritics", "2"};
  Fts5Tokenizer* t = nullptr;
  rc = tok.xCreate(user, args, 2, &t);
  if (rc != SQLITE_OK) return db.Error(rc, "creating the unicode61 tokenizer");
  std::vector<std::string> words;
  rc = tok.xTokenize(t, &words, FTS5_TOKENIZE_DOCUMENT, text.data(), static_cast<int>(text.size()),
                     &CollectToken);
  tok.xDelete(t);
  if (rc != SQLITE_OK) return db.Error(rc, "splitting text into words");
  return words;
}

Status RegisterRankFunction(sql::Database& db) {
  FOLIO_ASSIGN_OR_RETURN(fts5_api * api, Fts5Api(db));
  const int rc = api->xCreateFunction(api, kRankFunctionName, nullptr, &FolioBm25, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : db.Error(rc, "registering the search ranking");
}

}  // namespace folio::docstore
