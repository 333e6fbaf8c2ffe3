// Internal to the Jinja subset: splitting a template into text and tags, and tokenizing
// the expressions inside tags (jinja_lex.cpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/jinja_ast.h"

namespace folio::jinja {

inline constexpr int kMaxDepth = 200;  // nesting of blocks and expressions

Status SyntaxError(int line, int col, const std::string& what);
Status UnsupportedAt(int line, int col, const std::string& what);

// Line and column (1-based) of a byte offset.
class LineMap {
 public:
  explicit LineMap(std::string_view s) {
    starts_.push_back(0);
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] == '\n') starts_.push_back(i + 1);
  }
  std::pair<int, int> At(size_t offset) const {
    size_t lo = 0, hi = starts_.size();
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      (starts_[mid] <= offset ? lo : hi) = mid;
    }
    return {static_cast<int>(lo + 1), static_cast<int>(offset - starts_[lo] + 1)};
  }

 private:
  std::vector<size_t> starts_;
};

struct Chunk {
  enum class Kind : uint8_t { kText, kExpr, kStmt, kComment } kind;
  std::string text;       // text, or the tag's inside without delimiters and modifiers
  size_t offset = 0;      // where `text` starts in the source
  size_t tag_offset = 0;  // where the tag's "{" is (for messages)
  bool strip_before = false, strip_after = false, keep_before = false;
};

// Splits the source into text and tags, applying whitespace control ({%- -%}, {%+) and
// Hugging Face's trim_blocks and lstrip_blocks; comments are dropped.
Result<std::vector<Chunk>> SplitChunks(std::string_view src, const LineMap& lines);

struct Token {
  enum class Kind : uint8_t { kName, kInt, kFloat, kString, kOp, kEnd } kind;
  std::string text;
  Value value;
  int line = 0, col = 0;
};

// Tokens of a tag's inside `s`, which starts at byte `base` of the source.
Result<std::vector<Token>> Tokenize(const std::string& s, size_t base, const LineMap& lines);

}  // namespace folio::jinja
