#include "app/assistant/citations.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <regex>
#include <set>

#include "engine/tokenizer.h"

namespace folio::assistant {
namespace {

constexpr int kMaxRangePages = 50;

// "[doc 2, page 14]", "doc 2, pp. 3-4", "document 1 page 2".
const std::regex& DocPageRe() {
  static const std::regex re(
      R"(\[?\s*doc(?:ument)?\s*(\d+)\s*[,:;]?\s*(?:pages|page|pp\.?|p\.?)\s*(\d+)(?:\s*(?:-|–|to|and)\s*(\d+))?\s*\]?)",
      std::regex::icase);
  return re;
}
// "page 14", "p. 14", "pages 3-4", "pages 3 and 4", "pages 3, 4".
const std::regex& PageRe() {
  static const std::regex re(R"(\b(?:pages|page|pp\.|p\.)\s*(\d+)(?:\s*(?:-|–|to|and|,)\s*(\d+))?)",
                             std::regex::icase);
  return re;
}
// A document named on its own: "doc 2", "document 2".
const std::regex& DocRe() {
  static const std::regex re(R"(\bdoc(?:ument)?\s*(\d+))", std::regex::icase);
  return re;
}

int ToInt(const std::string& s) {
  if (s.empty() || s.size() > 6) return 0;
  return std::stoi(s);
}

void AddRange(int doc, int first, int last, size_t b, size_t e, std::vector<PageReference>* out) {
  if (first <= 0) return;
  if (last < first || last - first >= kMaxRangePages) last = first;
  for (int p = first; p <= last; ++p) out->push_back({doc, p, b, e});
}

// The sentence around byte `at` of `text` (between . ! ? or newlines).
std::string SentenceAround(const std::string& text, size_t at) {
  size_t b = at, e = at;
  while (b > 0 && !std::strchr(".!?\n", text[b - 1])) --b;
  while (e < text.size() && !std::strchr(".!?\n", text[e])) ++e;
  return text.substr(b, e - b);
}

size_t SharedWords(const std::vector<std::string>& a, const std::set<std::string>& b) {
  size_t n = 0;
  for (const std::string& w : a) n += b.count(w);
  return n;
}

bool EndsWith(const std::string& w, const char* tail) {
  const size_t n = std::strlen(tail);
  return w.size() >= n && w.compare(w.size() - n, n, tail) == 0;
}

// English inflections folded the way the search index's Porter stemmer mostly does, so a
// passage found through "measured" is quoted for a question that says "measuring":
// -ies -> -y, -sses -> -ss, plural -s, -ed, -ing (keeping at least three letters).
// Irregular forms (built/build) stay apart, as they do in the index.
std::string FoldWordForm(std::string w) {
  auto strip = [&w](size_t n, const char* add = "") {
    w.resize(w.size() - n);
    w += add;
  };
  // Plurals first, then -ing/-ed on what is left (strings -> string -> str, as string).
  if (EndsWith(w, "ies") && w.size() >= 5) {
    strip(3, "y");
  } else if (EndsWith(w, "sses")) {
    strip(2);
  } else if (EndsWith(w, "s") && !EndsWith(w, "ss") && !EndsWith(w, "us") && !EndsWith(w, "is") &&
             w.size() >= 4) {
    strip(1);
  }
  if (EndsWith(w, "ing") && w.size() >= 6) {
    strip(3);
  } else if (EndsWith(w, "ed") && w.size() >= 5) {
    strip(2);
  }
  return w;
}

}  // namespace

std::vector<std::string> ContentWords(const std::string& text) {
  std::vector<std::string> words;
  std::string w;
  auto flush = [&] {
    if (w.size() >= 3) words.push_back(FoldWordForm(std::move(w)));
    w.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      w.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
    }
  }
  flush();
  return words;
}

double WordOverlap(const std::string& answer, const std::string& context) {
  const std::vector<std::string> a = ContentWords(answer);
  if (a.empty()) return 0;
  const std::vector<std::string> c = ContentWords(context);
  const std::set<std::string> cs(c.begin(), c.end());
  return static_cast<double>(SharedWords(a, cs)) / static_cast<double>(a.size());
}

std::string BestSentence(const std::string& text, const std::string& probe, size_t max_bytes) {
  const std::vector<std::string> pw = ContentWords(probe);
  const std::set<std::string> ps(pw.begin(), pw.end());
  std::string best;
  size_t best_score = 0;
  size_t b = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && !std::strchr(".!?\n", text[i])) continue;
    std::string s = text.substr(b, std::min(text.size(), i + 1) - b);
    b = i + 1;
    const size_t first = s.find_first_not_of(" \t\n\f");
    if (first == std::string::npos) continue;
    s = s.substr(first);
    const size_t score = SharedWords(ContentWords(s), ps);
    if (best.empty() || score > best_score) {
      best = s;
      best_score = score;
    }
  }
  if (best.size() > max_bytes) {
    best.resize(ValidUtf8PrefixLength(best.substr(0, max_bytes)));
    best += "…";
  }
  return best;
}

std::vector<PageReference> FindPageReferences(const std::string& answer) {
  std::vector<PageReference> refs;
  std::vector<std::pair<size_t, size_t>> taken;
  for (auto it = std::sregex_iterator(answer.begin(), answer.end(), DocPageRe());
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    const size_t b = static_cast<size_t>(m.position(0)), e = b + static_cast<size_t>(m.length(0));
    taken.push_back({b, e});
    AddRange(ToInt(m[1]), ToInt(m[2]), m[3].matched ? ToInt(m[3]) : 0, b, e, &refs);
  }
  for (auto it = std::sregex_iterator(answer.begin(), answer.end(), PageRe());
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    const size_t b = static_cast<size_t>(m.position(0)), e = b + static_cast<size_t>(m.length(0));
    const bool inside = std::any_of(taken.begin(), taken.end(),
                                    [&](const auto& t) { return b < t.second && e > t.first; });
    if (inside) continue;
    // The document named last before this reference, if any.
    int doc = 0;
    for (auto d =
             std::sregex_iterator(answer.begin(), answer.begin() + static_cast<long>(b), DocRe());
         d != std::sregex_iterator(); ++d) {
      doc = ToInt((*d)[1]);
    }
    AddRange(doc, ToInt(m[1]), m[2].matched ? ToInt(m[2]) : 0, b, e, &refs);
  }
  std::stable_sort(refs.begin(), refs.end(), [](const PageReference& a, const PageReference& b) {
    return a.begin < b.begin;
  });
  return refs;
}

std::vector<Citation> ResolveCitations(const std::string& answer,
                                       const std::vector<SourceDocument>& docs,
                                       const std::vector<ContextBlock>& blocks,
                                       const std::vector<ChunkOnPage>& chunks) {
  // Pages the model saw: (doc index, page) -> the text it saw there.
  auto seen_text = [&](int doc_index, int page) -> std::string {
    std::string t;
    for (const ContextBlock& b : blocks)
      if (b.doc_index == doc_index && b.page <= page && page <= b.last_page) t += b.text + "\n";
    return t;
  };
  std::vector<Citation> out;
  std::set<std::pair<int, int>> done;
  for (const PageReference& r : FindPageReferences(answer)) {
    const std::string sentence = SentenceAround(answer, r.begin);
    int doc_index = r.doc_index;
    if (doc_index == 0) {  // unnamed: the only holder, else the best overlap
      size_t best = 0;
      int holders = 0;
      for (const SourceDocument& d : docs) {
        const std::string t = seen_text(d.index, r.page);
        if (t.empty()) continue;
        ++holders;
        const std::vector<std::string> tw = ContentWords(t);
        const size_t score = SharedWords(ContentWords(sentence), {tw.begin(), tw.end()});
        if (holders == 1 || score > best) {
          best = score;
          doc_index = d.index;
        }
      }
    }
    const std::string context = seen_text(doc_index, r.page);
    if (doc_index == 0 || context.empty()) continue;  // not a page the model saw
    if (!done.insert({doc_index, r.page}).second) continue;
    const SourceDocument* doc = nullptr;
    for (const SourceDocument& d : docs)
      if (d.index == doc_index) doc = &d;
    Citation c;
    c.doc_id = doc->doc_id;
    c.doc_index = doc_index;
    c.title = doc->title;
    c.page = r.page;
    c.answer_begin = r.begin;
    c.answer_end = r.end;
    // The passage: the chunk on that page sharing most words with the sentence.
    const std::vector<std::string> sw = ContentWords(sentence);
    const std::set<std::string> ss(sw.begin(), sw.end());
    size_t best = 0;
    for (const ChunkOnPage& ch : chunks) {
      if (ch.doc_id != c.doc_id || r.page < ch.first_page || r.page > ch.last_page) continue;
      const size_t score = SharedWords(ContentWords(ch.text), ss);
      if (c.chunk_id == 0 || score > best) {
        best = score;
        c.chunk_id = ch.chunk_id;
        c.quote = BestSentence(ch.text, sentence, 300);
      }
    }
    if (c.chunk_id == 0) c.quote = BestSentence(context, sentence, 300);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace folio::assistant
