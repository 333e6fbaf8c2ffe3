#include "docstore/chunker.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace folio::docstore {
namespace {

// How good a place is to end a chunk (higher is better).
enum BreakLevel {
  kNoBreak = -1,
  kCharBreak = 0,
  kWordBreak = 1,
  kLineBreak = 2,
  kSentenceBreak = 3,
  kParagraphBreak = 4
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
bool IsContinuation(char c) {
  return (static_cast<uint8_t>(c) & 0xC0) == 0x80;
}

// Ends with a full-width sentence terminator (。！？), which needs no following space.
bool EndsWithCjkTerminator(std::string_view text, size_t e) {
  if (e < 3) return false;
  const std::string_view tail = text.substr(e - 3, 3);
  return tail == "\xE3\x80\x82" || tail == "\xEF\xBC\x81" || tail == "\xEF\xBC\x9F";
}

bool EndsSentence(std::string_view text, size_t e) {
  size_t i = e;
  // Closing quotes and brackets may follow the terminator: `end." Next`.
  while (i > 0 && e - i < 4 && text[i - 1] != '\0' &&
         std::strchr("\"')]", text[i - 1]) != nullptr) {
    --i;
  }
  if (i > 0 && (text[i - 1] == '.' || text[i - 1] == '!' || text[i - 1] == '?')) return true;
  return EndsWithCjkTerminator(text, i);
}

// The level of ending a chunk at byte `e` (the chunk is [begin, e)).
BreakLevel LevelAt(std::string_view text, size_t e) {
  if (e >= text.size()) return kParagraphBreak;
  if (IsContinuation(text[e])) return kNoBreak;
  const bool token_end = e > 0 && !IsSpace(text[e - 1]) && IsSpace(text[e]);
  if (!token_end) return EndsWithCjkTerminator(text, e) ? kSentenceBreak : kCharBreak;
  int newlines = 0;  // look a short way into the whitespace run that follows
  for (size_t i = e; i < text.size() && i < e + 64 && IsSpace(text[i]); ++i) {
    if (text[i] == '\f') return kParagraphBreak;
    newlines += text[i] == '\n';
  }
  if (newlines >= 2) return kParagraphBreak;
  if (EndsSentence(text, e)) return kSentenceBreak;
  return newlines ? kLineBreak : kWordBreak;
}

// The best end in [lo, hi]: the highest level, the latest position among equals.
size_t FindEnd(std::string_view text, size_t lo, size_t hi) {
  size_t best = hi;
  int best_level = kNoBreak;
  for (size_t e = hi; e >= lo; --e) {
    const int level = LevelAt(text, e);
    if (level > best_level) {
      best_level = level;
      best = e;
      if (level == kParagraphBreak) break;
    }
    if (e == 0) break;
  }
  return best;
}

// How good a place is to start a chunk: after a sentence end (2), after a space (1), any
// character boundary (0).
int StartLevelAt(std::string_view text, size_t s) {
  if (IsContinuation(text[s]) || IsSpace(text[s])) return -1;
  if (s == 0) return 2;
  if (!IsSpace(text[s - 1])) return EndsWithCjkTerminator(text, s) ? 2 : 0;
  size_t i = s;
  while (i > 0 && s - i < 64 && IsSpace(text[i - 1])) --i;  // bounded: whitespace runs may be long
  return (i == 0 || EndsSentence(text, i)) ? 2 : 1;
}

// The next chunk's start in [lo, hi]: the best level, the nearest to `target` among equals.
size_t FindStart(std::string_view text, size_t lo, size_t target, size_t hi) {
  size_t best = target;
  int best_level = -2;
  size_t best_distance = 0;
  for (size_t s = lo; s <= hi; ++s) {
    const int level = StartLevelAt(text, s);
    const size_t distance = s > target ? s - target : target - s;
    if (level > best_level || (level == best_level && distance < best_distance)) {
      best = s;
      best_level = level;
      best_distance = distance;
    }
  }
  return best;
}

size_t SkipSpace(std::string_view text, size_t i) {
  while (i < text.size() && IsSpace(text[i])) ++i;
  return i;
}

size_t TrimEnd(std::string_view text, size_t begin, size_t end) {
  while (end > begin && IsSpace(text[end - 1])) --end;
  return end;
}

}  // namespace

std::string JoinPages(const std::vector<Page>& pages, std::vector<int64_t>* page_starts) {
  size_t total = 0;
  for (const auto& p : pages) total += p.text.size() + std::strlen(kPageSeparator);
  std::string joined;
  joined.reserve(total);
  page_starts->clear();
  for (size_t i = 0; i < pages.size(); ++i) {
    if (i > 0) joined += kPageSeparator;
    page_starts->push_back(static_cast<int64_t>(joined.size()));
    joined += pages[i].text;
  }
  return joined;
}

std::vector<Chunk> ChunkPages(const std::vector<Page>& pages, const ChunkerOptions& options) {
  std::vector<int64_t> starts;
  const std::string joined = JoinPages(pages, &starts);
  const std::string_view text = joined;
  const size_t n = text.size();
  const size_t min_bytes = std::max<size_t>(options.min_bytes, 8);
  const size_t max_bytes = std::max(options.max_bytes, min_bytes + 4);
  const auto page_of = [&](size_t offset) {
    const auto it = std::upper_bound(starts.begin(), starts.end(), static_cast<int64_t>(offset));
    return pages[static_cast<size_t>(it - starts.begin()) - 1].number;
  };

  std::vector<Chunk> chunks;
  size_t begin = SkipSpace(text, 0);
  while (begin < n) {
    size_t end = n;
    if (n - begin > max_bytes) end = FindEnd(text, begin + min_bytes, begin + max_bytes);
    end = TrimEnd(text, begin, end);
    if (end <= begin) break;  // cannot happen: begin is not whitespace
    Chunk c;
    c.ordinal = static_cast<int>(chunks.size());
    c.char_begin = static_cast<int64_t>(begin);
    c.char_end = static_cast<int64_t>(end);
    c.first_page = page_of(begin);
    c.last_page = page_of(end - 1);
    c.text.assign(text.substr(begin, end - begin));
    chunks.push_back(std::move(c));
    if (SkipSpace(text, end) >= n) break;
    // Overlap: start again about overlap x length before the end, within +-50% of that.
    const auto span = static_cast<double>(end - begin) * options.overlap;
    const auto back = static_cast<size_t>(span);
    if (back == 0) {
      begin = SkipSpace(text, end);
      continue;
    }
    const size_t lo = std::max(begin + 1, end - std::min(end - begin - 1, back + back / 2));
    const size_t hi = std::max(lo, end - std::max<size_t>(1, back / 2));
    begin = FindStart(text, lo, end - back, hi);
    if (IsSpace(text[begin]) || IsContinuation(text[begin])) begin = SkipSpace(text, end);
  }
  return chunks;
}

}  // namespace folio::docstore
