#include "docstore/search.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_set>

#include "docstore/search_rank.h"

namespace folio::docstore {
namespace {

// Ranked ids only: snippets and page mapping are computed for the few rows kept, never for
// every match. Every query runs over a rowid range: the whole index, or one document's
// chunks (its ids are contiguous, as one transaction inserts them; the doc_id check guards).
// ?5 is the per-phrase document counts for folio_bm25 (search_rank.h).
constexpr const char kRankedInRange[] =
    "SELECT rowid, folio_bm25(chunks_fts, ?5) AS score FROM chunks_fts "
    "WHERE chunks_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3 ORDER BY score DESC LIMIT ?4";
constexpr const char kRankedInDocument[] =
    "SELECT chunks_fts.rowid, folio_bm25(chunks_fts, ?5) AS score FROM chunks_fts "
    "JOIN chunks c ON c.id = chunks_fts.rowid "
    "WHERE chunks_fts MATCH ?1 AND chunks_fts.rowid BETWEEN ?2 AND ?3 AND c.doc_id = ?6 "
    "ORDER BY score DESC LIMIT ?4";
// How many of the newest ?4 matches exist, and the oldest of them. Walking rowids costs no
// ranking, so this is cheap even for a word in every chunk.
constexpr const char kNewestMatches[] =
    "SELECT count(*), min(rowid) FROM (SELECT rowid FROM chunks_fts "
    "WHERE chunks_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3 ORDER BY rowid DESC LIMIT ?4)";
constexpr const char kMaxChunkId[] = "SELECT coalesce(max(id), 0) FROM chunks";
constexpr const char kDocumentChunkRange[] =
    "SELECT min(id), max(id) FROM chunks WHERE doc_id = ?1";
// One kept row: its text with the matched words between \x01 and \x02.
constexpr const char kHitDetails[] =
    "SELECT c.doc_id, d.title, c.char_begin, c.first_page, c.last_page, c.text, "
    "highlight(chunks_fts, 0, char(1), char(2)) "
    "FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
    "JOIN documents d ON d.id = c.doc_id "
    "WHERE chunks_fts MATCH ?1 AND chunks_fts.rowid = ?2";
// The last page starting at or before a byte offset, within the chunk's pages.
constexpr const char kPageAtOffset[] =
    "SELECT number FROM pages WHERE doc_id = ?1 AND number BETWEEN ?2 AND ?3 "
    "AND char_begin <= ?4 ORDER BY number DESC LIMIT 1";

constexpr char kMarkOpen = '\x01';
constexpr char kMarkClose = '\x02';
constexpr size_t kMaxWords = 24;

const std::unordered_set<std::string_view>& Stopwords() {
  static const std::unordered_set<std::string_view> kWords = {
      "a",     "about", "above",  "after", "again", "all",   "also", "am",   "an",  "and",   "any",
      "are",   "as",    "at",     "be",    "been",  "being", "but",  "by",   "can", "could", "did",
      "do",    "does",  "doing",  "for",   "from",  "had",   "has",  "have", "he",  "her",   "here",
      "hers",  "him",   "his",    "how",   "i",     "if",    "in",   "into", "is",  "it",    "its",
      "me",    "more",  "most",   "my",    "no",    "nor",   "not",  "of",   "on",  "or",    "our",
      "ours",  "she",   "should", "so",    "some",  "such",  "than", "that", "the", "their", "them",
      "then",  "there", "these",  "they",  "this",  "those", "to",   "too",  "us",  "was",   "we",
      "were",  "what",  "when",   "where", "which", "while", "who",  "whom", "why", "will",  "with",
      "would", "you",   "your"};
  return kWords;
}

// Words: runs of ASCII letters and digits and of non-ASCII bytes (which FTS5's unicode61
// tokenizer sorts out inside the quotes). Everything else — quotes, *, -, :, (, ^, + — only
// separates words, so no user text can become FTS5 syntax.
std::vector<std::string> SplitWords(const std::string& text) {
  std::vector<std::string> words;
  std::string cur;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) || ch >= 0x80) {
      cur += static_cast<char>(ch < 0x80 ? std::tolower(ch) : ch);
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  if (words.size() > kMaxWords) words.resize(kMaxWords);
  return words;
}

std::string Quote(const std::string& word) {
  std::string q = "\"";
  for (char c : word) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Ranking reads each matching row's length, a few microseconds a row: a word found in every
// one of 100,000 chunks would take most of a second. Past this many matches in a range, a
// query is ranked among its newest matches only, and such common words are left out of the
// first loose-terms pass while rarer query words are there to rank by (their weight is small
// next to the rarer words'). Libraries with fewer chunks than this always rank exactly.
constexpr int kRankBudget = 4000;

struct Ranked {
  int64_t chunk_id;
  double score;
};

// A rowid range to search: the whole index, or one document's chunks.
struct RowidRange {
  int64_t lo = 1;
  int64_t hi = 0;
  int64_t doc_id = 0;  // 0: any document
};

Result<int64_t> MaxChunkId(sql::Database& db) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db.Prepare(kMaxChunkId));
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnInt64(0) : 0;
}

Result<std::vector<RowidRange>> DocumentRanges(sql::Database& db,
                                               const std::vector<int64_t>& doc_ids) {
  std::vector<RowidRange> ranges;
  for (int64_t id : std::set<int64_t>(doc_ids.begin(), doc_ids.end())) {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db.Prepare(kDocumentChunkRange));
    st.Bind(1, id);
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row && !st.ColumnIsNull(0)) ranges.push_back({st.ColumnInt64(0), st.ColumnInt64(1), id});
  }
  return ranges;
}

// The newest kRankBudget matches of a query in a range.
struct Window {
  int64_t start = 0;    // oldest rowid worth ranking: the range's start unless capped
  int64_t matches = 0;  // matches from `start` on
  bool capped = false;  // there may be more matches before `start`
};

// Windows of queries over ranges, remembered: the phrase and the loose terms probe the same
// words.
class WindowProbe {
 public:
  explicit WindowProbe(sql::Database& db) : db_(db) {}

  Result<Window> Get(const std::string& fts_query, const RowidRange& r) {
    const auto key = std::make_tuple(fts_query, r.lo, r.hi);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_.Prepare(kNewestMatches));
    st.Bind(1, fts_query);
    st.Bind(2, r.lo);
    st.Bind(3, r.hi);
    st.Bind(4, kRankBudget);
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    Window w;
    w.matches = row ? st.ColumnInt64(0) : 0;
    w.capped = w.matches >= kRankBudget;
    w.start = w.capped ? st.ColumnInt64(1) : r.lo;
    memo_[key] = w;
    return w;
  }

  // Documents holding the query in the range: exact when under the budget, else scaled
  // from the density of its newest matches.
  Result<int64_t> DocumentCount(const std::string& fts_query, const RowidRange& r) {
    FOLIO_ASSIGN_OR_RETURN(Window w, Get(fts_query, r));
    if (!w.capped) return w.matches;
    const double span = static_cast<double>(r.hi - r.lo + 1);
    const double seen = static_cast<double>(r.hi - w.start + 1);
    return std::min<int64_t>(r.hi - r.lo + 1,
                             static_cast<int64_t>(static_cast<double>(w.matches) * span / seen));
  }

 private:
  sql::Database& db_;
  std::map<std::tuple<std::string, int64_t, int64_t>, Window> memo_;
};

// Where ranking starts in a range: range.lo to rank every match.
using WindowFn = std::function<Result<int64_t>(const RowidRange&)>;

// The best `limit` rows of `fts_query` over all ranges, best first. `counts` is folio_bm25's
// per-phrase document counts.
Result<std::vector<Ranked>> RankedIds(sql::Database& db, const std::string& fts_query,
                                      const std::string& counts,
                                      const std::vector<RowidRange>& ranges, int limit,
                                      const WindowFn& window) {
  std::vector<Ranked> out;
  for (const RowidRange& r : ranges) {
    FOLIO_ASSIGN_OR_RETURN(int64_t start, window(r));
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st,
                           db.Prepare(r.doc_id ? kRankedInDocument : kRankedInRange));
    st.Bind(1, fts_query);
    st.Bind(2, start);
    st.Bind(3, r.hi);
    st.Bind(4, limit);
    st.Bind(5, counts);
    if (r.doc_id) st.Bind(6, r.doc_id);
    for (;;) {
      FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.ColumnInt64(0), st.ColumnDouble(1)});
    }
  }
  // Scores from different ranges compare: the term weights are over the whole index.
  std::stable_sort(out.begin(), out.end(),
                   [](const Ranked& a, const Ranked& b) { return a.score > b.score; });
  if (out.size() > static_cast<size_t>(limit)) out.resize(static_cast<size_t>(limit));
  return out;
}

// Splits FTS5 highlight() output into the plain text and the marked byte ranges.
bool StripMarks(std::string_view marked, std::string_view original,
                std::vector<HighlightSpan>* spans) {
  std::string plain;
  plain.reserve(original.size());
  HighlightSpan open{};
  for (char c : marked) {
    if (c == kMarkOpen) {
      open.begin = static_cast<int>(plain.size());
    } else if (c == kMarkClose) {
      open.end = static_cast<int>(plain.size());
      spans->push_back(open);
    } else {
      plain += c;
    }
  }
  // Text that itself holds a marker byte would give wrong spans: better none.
  if (plain != original) spans->clear();
  return !spans->empty();
}

bool IsUtf8Continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// A window of about `budget` bytes around the first span, cut at spaces and never inside
// a UTF-8 sequence; returns [begin, end).
std::pair<size_t, size_t> SnippetWindow(std::string_view text, const HighlightSpan* first,
                                        size_t budget) {
  const size_t n = text.size();
  if (n <= budget) return {0, n};
  size_t begin = first ? static_cast<size_t>(first->begin) : 0;
  begin = begin > budget / 4 ? begin - budget / 4 : 0;
  size_t end = std::min(n, begin + budget);
  if (begin > 0) {
    const size_t limit = first ? static_cast<size_t>(first->begin) : end;
    const size_t space = text.find(' ', begin);
    if (space != std::string_view::npos && space < limit) begin = space + 1;
  }
  while (begin < n && IsUtf8Continuation(text[begin])) ++begin;
  if (end < n) {
    const size_t floor = first ? static_cast<size_t>(first->end) : begin;
    const size_t space = text.rfind(' ', end);
    if (space != std::string_view::npos && space > floor) end = space;
    while (end > begin && end < n && IsUtf8Continuation(text[end])) --end;
  }
  return {begin, end};
}

void BuildSnippet(std::string text, const std::vector<HighlightSpan>& spans, int budget,
                  SearchHit* hit) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v') c = ' ';
  }
  const HighlightSpan* first = spans.empty() ? nullptr : &spans.front();
  const auto [begin, end] = SnippetWindow(text, first, static_cast<size_t>(std::max(budget, 40)));
  static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // "…"
  const std::string prefix = begin > 0 ? std::string(kEllipsis) : std::string();
  hit->snippet = prefix;
  hit->snippet.append(text, begin, end - begin);
  if (end < text.size()) hit->snippet += kEllipsis;
  const int shift = static_cast<int>(prefix.size()) - static_cast<int>(begin);
  for (const HighlightSpan& s : spans) {
    if (s.begin < static_cast<int>(begin) || s.end > static_cast<int>(end)) continue;
    hit->spans.push_back({s.begin + shift, s.end + shift});
  }
}

Result<int> PageAtOffset(sql::Database& db, int64_t doc_id, int first_page, int last_page,
                         int64_t offset) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db.Prepare(kPageAtOffset));
  st.Bind(1, doc_id);
  st.Bind(2, first_page);
  st.Bind(3, last_page);
  st.Bind(4, offset);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnInt(0) : first_page;
}

// Whether a matched span of `text` holds `literal` (unstemmed words, search_rank.h) in order.
Result<bool> HoldsLiteral(sql::Database& db, std::string_view text,
                          const std::vector<HighlightSpan>& spans,
                          const std::vector<std::string>& literal) {
  for (const HighlightSpan& s : spans) {
    FOLIO_ASSIGN_OR_RETURN(auto words,
                           UnstemmedWords(db, text.substr(static_cast<size_t>(s.begin),
                                                          static_cast<size_t>(s.end - s.begin))));
    if (std::search(words.begin(), words.end(), literal.begin(), literal.end()) != words.end()) {
      return true;
    }
  }
  return false;
}

// Title, page of the first matched word, snippet and spans of one ranked chunk. `literal`
// (phrase pass only) sets literal_phrase.
Result<std::optional<SearchHit>> HitDetails(sql::Database& db, const std::string& fts_query,
                                            const Ranked& r, bool phrase, int budget,
                                            const std::vector<std::string>* literal = nullptr) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db.Prepare(kHitDetails));
  st.Bind(1, fts_query);
  st.Bind(2, r.chunk_id);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<SearchHit>();  // removed since it was ranked
  SearchHit hit;
  hit.chunk_id = r.chunk_id;
  hit.score = r.score;
  hit.exact_phrase = phrase;
  hit.doc_id = st.ColumnInt64(0);
  hit.title = st.ColumnText(1);
  const int64_t chunk_begin = st.ColumnInt64(2);
  const int first_page = st.ColumnInt(3);
  const int last_page = st.ColumnInt(4);
  std::string text = st.ColumnText(5);
  std::vector<HighlightSpan> spans;
  StripMarks(st.ColumnTextView(6), text, &spans);
  st.Reset();  // done with this row before the next query
  if (literal && !literal->empty()) {
    FOLIO_ASSIGN_OR_RETURN(hit.literal_phrase, HoldsLiteral(db, text, spans, *literal));
  }
  const int64_t hit_offset = chunk_begin + (spans.empty() ? 0 : spans.front().begin);
  FOLIO_ASSIGN_OR_RETURN(hit.page, PageAtOffset(db, hit.doc_id, first_page, last_page, hit_offset));
  BuildSnippet(std::move(text), spans, budget, &hit);
  return std::optional<SearchHit>(std::move(hit));
}

// `highlight_query` marks the words in snippets: the ranking query or a wider one.
Status AppendHits(sql::Database& db, const std::string& fts_query, const std::string& counts,
                  const std::string& highlight_query, bool phrase, const SearchOptions& opt,
                  const std::vector<RowidRange>& ranges, const WindowFn& window,
                  std::set<int64_t>* seen, std::vector<SearchHit>* out) {
  const int want = opt.limit - static_cast<int>(out->size());
  if (fts_query.empty() || want <= 0) return Status::Ok();
  // Ask for enough rows that the ones already found cannot starve the rest.
  FOLIO_ASSIGN_OR_RETURN(auto ranked, RankedIds(db, fts_query, counts, ranges,
                                                want + static_cast<int>(seen->size()), window));
  for (const Ranked& r : ranked) {
    if (static_cast<int>(out->size()) >= opt.limit) break;
    if (!seen->insert(r.chunk_id).second) continue;
    FOLIO_ASSIGN_OR_RETURN(auto hit, HitDetails(db, highlight_query, r, phrase, opt.snippet_bytes));
    if (hit) out->push_back(std::move(*hit));
  }
  return Status::Ok();
}

// With a stemmed index the phrase query also matches the phrase's other word forms. The rows
// holding the words as typed come first, so more rows than wanted are ranked for them to be
// found among: this many times as many.
constexpr int kPhraseCandidateFactor = 3;

// The exact-phrase pass: the literal phrase's rows, then its other word forms, each by score.
Status AppendPhraseHits(sql::Database& db, const std::string& phrase, const std::string& counts,
                        const SearchOptions& opt, const std::vector<RowidRange>& ranges,
                        const WindowFn& window, std::set<int64_t>* seen,
                        std::vector<SearchHit>* out) {
  const int want = opt.limit - static_cast<int>(out->size());
  if (phrase.empty() || want <= 0) return Status::Ok();
  // phrase is "w1 w2 ..." quoted; the words never hold a quote (SplitWords), so no unescaping.
  const std::string_view inner = std::string_view(phrase).substr(1, phrase.size() - 2);
  FOLIO_ASSIGN_OR_RETURN(const std::vector<std::string> literal, UnstemmedWords(db, inner));
  FOLIO_ASSIGN_OR_RETURN(
      auto ranked,
      RankedIds(db, phrase, counts, ranges,
                kPhraseCandidateFactor * want + static_cast<int>(seen->size()), window));
  std::vector<SearchHit> hits;
  for (const Ranked& r : ranked) {
    if (seen->count(r.chunk_id)) continue;
    FOLIO_ASSIGN_OR_RETURN(auto hit, HitDetails(db, phrase, r, true, opt.snippet_bytes, &literal));
    if (hit) hits.push_back(std::move(*hit));
  }
  std::stable_partition(hits.begin(), hits.end(),
                        [](const SearchHit& h) { return h.literal_phrase; });
  for (SearchHit& h : hits) {
    if (static_cast<int>(out->size()) >= opt.limit) break;
    seen->insert(h.chunk_id);
    out->push_back(std::move(h));
  }
  return Status::Ok();
}

std::string OrOf(const std::vector<std::string>& quoted_terms) {
  std::string q;
  for (const auto& t : quoted_terms) {
    if (!q.empty()) q += " OR ";
    q += t;
  }
  return q;
}

}  // namespace

FtsQueries BuildFtsQueries(const std::string& user_text) {
  const std::vector<std::string> words = SplitWords(user_text);
  FtsQueries q;
  if (words.empty()) return q;
  if (words.size() >= 2) {
    std::string joined;
    for (const auto& w : words) {
      if (!joined.empty()) joined += ' ';
      joined += w;
    }
    q.phrase = Quote(joined);
    std::set<std::string> unique;
    for (const auto& w : words) {
      if (unique.insert(w).second) q.phrase_words.push_back(Quote(w));
    }
  }
  std::vector<std::string> meaningful;
  for (const auto& w : words) {
    if (!Stopwords().count(w)) meaningful.push_back(w);
  }
  const std::vector<std::string>& terms = meaningful.empty() ? words : meaningful;
  std::set<std::string> unique;
  for (const auto& w : terms) {
    if (unique.insert(w).second) q.quoted_terms.push_back(Quote(w));
  }
  q.terms = OrOf(q.quoted_terms);
  return q;
}

Result<std::vector<SearchHit>> Search(Library& library, const std::string& user_text,
                                      const SearchOptions& options) {
  std::vector<SearchHit> out;
  const FtsQueries q = BuildFtsQueries(user_text);
  if (options.limit <= 0 || q.terms.empty()) return out;
  sql::Database& db = library.database();
  FOLIO_ASSIGN_OR_RETURN(const int64_t max_id, MaxChunkId(db));
  if (max_id == 0) return out;
  const RowidRange whole{1, max_id, 0};
  std::vector<RowidRange> ranges{whole};
  if (!options.doc_ids.empty()) {
    FOLIO_ASSIGN_OR_RETURN(ranges, DocumentRanges(db, options.doc_ids));
  }
  WindowProbe probe(db);
  auto count_of = [&](const std::string& t) { return probe.DocumentCount(t, whole); };
  const WindowFn everything = [](const RowidRange& r) -> Result<int64_t> { return r.lo; };
  std::set<int64_t> seen;

  // 1. The exact phrase (as typed first, then its other word forms). Checking word positions
  // is the costly part, so it runs where its least common word has at most kRankBudget
  // matches (everywhere when one word is that rare). It cannot be in more chunks than that word.
  if (!q.phrase.empty()) {
    int64_t phrase_count = max_id;
    for (const auto& w : q.phrase_words) {
      FOLIO_ASSIGN_OR_RETURN(int64_t n, count_of(w));
      phrase_count = std::min(phrase_count, n);
    }
    const WindowFn phrase_window = [&](const RowidRange& r) -> Result<int64_t> {
      int64_t start = r.hi;
      for (const auto& w : q.phrase_words) {
        FOLIO_ASSIGN_OR_RETURN(Window win, probe.Get(w, r));
        start = std::min(start, win.start);
      }
      return start;
    };
    FOLIO_RETURN_IF_ERROR(AppendPhraseHits(db, q.phrase, std::to_string(phrase_count), options,
                                           ranges, phrase_window, &seen, &out));
  }

  // 2. The loose terms: the rarer ones ranked over all their matches, then (when some were
  // too common for that) all of them among their newest matches.
  std::vector<std::string> selective;
  std::string selective_counts, all_counts;
  for (const auto& t : q.quoted_terms) {
    FOLIO_ASSIGN_OR_RETURN(int64_t n, count_of(t));
    if (!all_counts.empty()) all_counts += ',';
    all_counts += std::to_string(n);
    bool common = false;
    for (const RowidRange& r : ranges) {
      FOLIO_ASSIGN_OR_RETURN(Window win, probe.Get(t, r));
      common = common || win.capped;
    }
    if (common) continue;
    selective.push_back(t);
    if (!selective_counts.empty()) selective_counts += ',';
    selective_counts += std::to_string(n);
  }
  if (selective.size() == q.quoted_terms.size()) {
    FOLIO_RETURN_IF_ERROR(AppendHits(db, q.terms, all_counts, q.terms, false, options, ranges,
                                     everything, &seen, &out));
    return out;
  }
  if (!selective.empty()) {
    FOLIO_RETURN_IF_ERROR(AppendHits(db, OrOf(selective), selective_counts, q.terms, false, options,
                                     ranges, everything, &seen, &out));
  }
  const WindowFn newest = [&](const RowidRange& r) -> Result<int64_t> {
    FOLIO_ASSIGN_OR_RETURN(Window win, probe.Get(q.terms, r));
    return win.start;
  };
  FOLIO_RETURN_IF_ERROR(
      AppendHits(db, q.terms, all_counts, q.terms, false, options, ranges, newest, &seen, &out));
  return out;
}

}  // namespace folio::docstore
