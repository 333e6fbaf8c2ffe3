// folio_bm25(chunks_fts, dfs): BM25 (k1 = 1.2, b = 0.75, like FTS5's bm25()) whose
// per-phrase document frequencies come from the caller, as text "n0,n1,...", one per phrase
// of the MATCH expression in order. FTS5's own bm25() counts every phrase's documents
// over the whole index on each query — a full scan for a word in every chunk, and for a
// phrase of such words a full positional scan — which alone would blow the latency budget
// on a large library. The caller knows the counts (or a close estimate) from cheap probes.
//
// Returns the score, higher is better (FTS5's bm25() returns its negation).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "docstore/sqlite.h"

namespace folio::docstore {

inline constexpr const char kRankFunctionName[] = "folio_bm25";

// Registers folio_bm25 on this connection (Library::Open does it).
Status RegisterRankFunction(sql::Database& db);

// The words of `text` as FTS5's unicode61 tokenizer (remove_diacritics 2) sees them, without
// the index's Porter stemming: "Measured Clocks" -> {"measured", "clocks"}, "Café" -> {"cafe"}.
// Search tells a literal phrase from its other word forms with it.
Result<std::vector<std::string>> UnstemmedWords(sql::Database& db, std::string_view text);

}  // namespace folio::docstore
