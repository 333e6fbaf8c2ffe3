#include "docstore/search.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_set>

namespace folio::docstore {
namespace {

// Ranked ids only: snippets and page mapping are computed for the few rows kept, never for
// every match (that is what keeps a common word fast on 100k chunks).
constexpr const char kRankedAll[] =
    "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 "
    "ORDER BY rank LIMIT ?2";
constexpr const char kRankedInDocs[] =
    "SELECT chunks_fts.rowid, bm25(chunks_fts) FROM chunks_fts "
    "JOIN chunks c ON c.id = chunks_fts.rowid "
    "WHERE chunks_fts MATCH ?1 AND c.doc_id IN (SELECT value FROM json_each(?3)) "
    "ORDER BY rank LIMIT ?2";
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
      "a",     "about", "above", "after", "again", "all",   "also",  "am",    "an",
      "and",   "any",   "are",   "as",    "at",    "be",    "been",  "being", "but",
      "by",    "can",   "could", "did",   "do",    "does",  "doing", "for",   "from",
      "had",   "has",   "have",  "he",    "her",   "here",  "hers",  "him",   "his",
      "how",   "i",     "if",    "in",    "into",  "is",    "it",    "its",   "me",
      "more",  "most",  "my",    "no",    "nor",   "not",   "of",    "on",    "or",
      "our",   "ours",  "she",   "should", "so",   "some",  "such",  "than",  "that",
      "the",   "their", "them",  "then",  "there", "these", "they",  "this",  "those",
      "to",    "too",   "us",    "was",   "we",    "were",  "what",  "when",  "where",
      "which", "while", "who",   "whom",  "why",   "will",  "with",  "would", "you",
      "your"};
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

struct Ranked {
  int64_t chunk_id;
  double score;
};

Result<std::vector<Ranked>> RankedIds(sql::Database& db, const std::string& fts_query,
                                      const std::string& docs_json, int limit) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st,
                         db.Prepare(docs_json.empty() ? kRankedAll : kRankedInDocs));
  st.Bind(1, fts_query);
  st.Bind(2, limit);
  if (!docs_json.empty()) st.Bind(3, docs_json);
  std::vector<Ranked> out;
  for (;;) {
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back({st.ColumnInt64(0), -st.ColumnDouble(1)});
  }
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

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

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

// Title, page of the first matched word, snippet and spans of one ranked chunk.
Result<std::optional<SearchHit>> HitDetails(sql::Database& db, const std::string& fts_query,
                                            const Ranked& r, bool phrase, int budget) {
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
  const int64_t hit_offset = chunk_begin + (spans.empty() ? 0 : spans.front().begin);
  FOLIO_ASSIGN_OR_RETURN(hit.page, PageAtOffset(db, hit.doc_id, first_page, last_page, hit_offset));
  BuildSnippet(std::move(text), spans, budget, &hit);
  return std::optional<SearchHit>(std::move(hit));
}

Status AppendHits(sql::Database& db, const std::string& fts_query, bool phrase,
                  const SearchOptions& opt, const std::string& docs_json,
                  std::set<int64_t>* seen, std::vector<SearchHit>* out) {
  const int want = opt.limit - static_cast<int>(out->size());
  if (fts_query.empty() || want <= 0) return Status::Ok();
  // Ask for enough rows that the ones already found by the phrase cannot starve the rest.
  FOLIO_ASSIGN_OR_RETURN(auto ranked,
                         RankedIds(db, fts_query, docs_json, want + static_cast<int>(seen->size())));
  for (const Ranked& r : ranked) {
    if (static_cast<int>(out->size()) >= opt.limit) break;
    if (!seen->insert(r.chunk_id).second) continue;
    FOLIO_ASSIGN_OR_RETURN(auto hit, HitDetails(db, fts_query, r, phrase, opt.snippet_bytes));
    if (hit) out->push_back(std::move(*hit));
  }
  return Status::Ok();
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
  }
  std::vector<std::string> meaningful;
  for (const auto& w : words) {
    if (!Stopwords().count(w)) meaningful.push_back(w);
  }
  const std::vector<std::string>& terms = meaningful.empty() ? words : meaningful;
  std::set<std::string> unique;
  for (const auto& w : terms) {
    if (!unique.insert(w).second) continue;
    if (!q.terms.empty()) q.terms += " OR ";
    q.terms += Quote(w);
  }
  return q;
}

Result<std::vector<SearchHit>> Search(Library& library, const std::string& user_text,
                                      const SearchOptions& options) {
  std::vector<SearchHit> out;
  if (options.limit <= 0) return out;
  const FtsQueries q = BuildFtsQueries(user_text);
  std::string docs_json;
  if (!options.doc_ids.empty()) {
    docs_json = "[";
    for (size_t i = 0; i < options.doc_ids.size(); ++i) {
      if (i) docs_json += ',';
      docs_json += std::to_string(options.doc_ids[i]);
    }
    docs_json += "]";
  }
  std::set<int64_t> seen;
  sql::Database& db = library.database();
  FOLIO_RETURN_IF_ERROR(AppendHits(db, q.phrase, true, options, docs_json, &seen, &out));
  FOLIO_RETURN_IF_ERROR(AppendHits(db, q.terms, false, options, docs_json, &seen, &out));
  return out;
}

}  // namespace folio::docstore
