// Word search over the library's chunks with FTS5 BM25: the exact phrase first (the words as
// typed before their other forms), then the OR of the meaningful terms, merged without
// duplicates. The index is Porter-stemmed (schema v3): "clocks" finds "clock". User text is
// never parsed as FTS5 query syntax: it is split into words and every word is quoted.
//
// Cost is bounded on large libraries: a query with more than a few thousand matches is
// ranked among its newest matches only, and words that common are left out of the loose
// pass while rarer query words are there (see kRankBudget in search.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "docstore/store.h"

namespace folio::docstore {

struct SearchOptions {
  int limit = 20;                // results at most
  std::vector<int64_t> doc_ids;  // only these documents; empty = all
  int snippet_bytes = 240;       // about this long, cut at word boundaries
};

// [begin, end) byte offsets into SearchHit::snippet of one matched word.
struct HighlightSpan {
  int begin = 0;
  int end = 0;
};

struct SearchHit {
  int64_t doc_id = 0;
  std::string title;
  int page = 1;                 // the page where the first matched word falls
  double score = 0;             // BM25 (see search_rank.h): higher is better
  bool exact_phrase = false;    // found by the exact-phrase query (any word forms, as the index
                                // is stemmed: "measuring the clock" for "measured the clocks")
  bool literal_phrase = false;  // and with the words as typed (case and accents aside): such
                                // hits come before the phrase's other word forms
  std::string snippet;          // UTF-8, "…" where cut, whitespace flattened to spaces
  std::vector<HighlightSpan> spans;
  int64_t chunk_id = 0;
};

// The FTS5 queries a user's text becomes (exposed for tests):
//   phrase: "w1 w2 w3" (all words, stopwords too); empty when fewer than two words
//   terms:  "w1" OR "w3" (stopwords dropped; all words when every word is one)
struct FtsQueries {
  std::string phrase;
  std::string terms;
  std::vector<std::string> quoted_terms;  // the terms of `terms`, each quoted
  std::vector<std::string> phrase_words;  // the phrase's distinct words, each quoted
};
FtsQueries BuildFtsQueries(const std::string& user_text);

// Empty results (not an error) when the text has no searchable word.
Result<std::vector<SearchHit>> Search(Library& library, const std::string& user_text,
                                      const SearchOptions& options);

}  // namespace folio::docstore
