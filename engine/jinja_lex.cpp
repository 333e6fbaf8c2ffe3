// Jinja subset: template text and tags, expression tokens. See jinja_lex.h.
#include "engine/jinja_lex.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace folio::jinja {

Status SyntaxError(int line, int col, const std::string& what) {
  return InvalidArgument("chat template, " + Where(line, col) + ": " + what);
}
Status UnsupportedAt(int line, int col, const std::string& what) {
  return Unsupported("chat template, " + Where(line, col) + ": " + what +
                     " is not supported by Folio's template renderer");
}

namespace {

// Finds the closing delimiter of a tag, skipping string literals inside expressions.
size_t FindClose(std::string_view s, size_t from, std::string_view close, bool strings) {
  char quote = 0;
  for (size_t i = from; i + close.size() <= s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (strings && (c == '\'' || c == '"'))
      quote = c;
    else if (s.compare(i, close.size(), close) == 0)
      return i;
  }
  return std::string_view::npos;
}

}  // namespace

Result<std::vector<Chunk>> SplitChunks(std::string_view src, const LineMap& lines) {
  std::vector<Chunk> out;
  size_t pos = 0;
  while (pos < src.size()) {
    size_t open = std::string_view::npos;
    for (const char* o : {"{{", "{%", "{#"}) open = std::min(open, src.find(o, pos));
    if (open == std::string_view::npos) {
      out.push_back({Chunk::Kind::kText, std::string(src.substr(pos)), pos});
      break;
    }
    if (open > pos)
      out.push_back({Chunk::Kind::kText, std::string(src.substr(pos, open - pos)), pos});
    const char kind = src[open + 1];
    Chunk c{kind == '{'   ? Chunk::Kind::kExpr
            : kind == '%' ? Chunk::Kind::kStmt
                          : Chunk::Kind::kComment,
            {},
            open + 2};
    c.tag_offset = open;
    size_t begin = open + 2;
    if (begin < src.size() && (src[begin] == '-' || src[begin] == '+')) {
      (src[begin] == '-' ? c.strip_before : c.keep_before) = true;
      ++begin;
    }
    const std::string_view close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const size_t end = FindClose(src, begin, close, kind != '#');
    if (end == std::string_view::npos) {
      auto [l, col] = lines.At(open);
      return SyntaxError(
          l, col, std::string("tag opened here is never closed with '") + std::string(close) + "'");
    }
    size_t content_end = end;
    if (content_end > begin && (src[content_end - 1] == '-' || src[content_end - 1] == '+')) {
      c.strip_after = src[content_end - 1] == '-';
      --content_end;
    }
    c.text = std::string(src.substr(begin, content_end - begin));
    c.offset = begin;
    out.push_back(std::move(c));
    pos = end + 2;
  }
  // Whitespace control and lstrip_blocks look at the text before each tag as written, so
  // they run before trim_blocks removes newlines after tags.
  auto is_block = [](const Chunk& c) { return c.kind != Chunk::Kind::kExpr; };
  for (size_t k = 1; k < out.size(); ++k) {
    const Chunk& c = out[k];
    Chunk& prev = out[k - 1];
    if (c.kind == Chunk::Kind::kText || prev.kind != Chunk::Kind::kText) continue;
    if (c.strip_before) {
      prev.text.erase(prev.text.find_last_not_of(" \t\r\n\f\v") + 1);
    } else if (is_block(c) && !c.keep_before) {
      const size_t nl = prev.text.find_last_of('\n');
      const size_t from = nl == std::string::npos ? 0 : nl + 1;
      const bool at_line_start = nl != std::string::npos || k == 1;
      if (at_line_start && prev.text.find_first_not_of(" \t", from) == std::string::npos)
        prev.text.erase(from);
    }
  }
  for (size_t k = 0; k + 1 < out.size(); ++k) {
    const Chunk& c = out[k];
    Chunk& next = out[k + 1];
    if (c.kind == Chunk::Kind::kText || next.kind != Chunk::Kind::kText) continue;
    if (c.strip_after) {
      const size_t first = next.text.find_first_not_of(" \t\r\n\f\v");
      next.text.erase(0, first == std::string::npos ? next.text.size() : first);
    } else if (is_block(c)) {
      if (next.text.rfind("\r\n", 0) == 0)
        next.text.erase(0, 2);
      else if (next.text.rfind("\n", 0) == 0)
        next.text.erase(0, 1);
    }
  }
  std::vector<Chunk> kept;
  for (auto& c : out)
    if (c.kind != Chunk::Kind::kComment && !(c.kind == Chunk::Kind::kText && c.text.empty()))
      kept.push_back(std::move(c));
  return kept;
}

// ---- Expression tokens -----------------------------------------------------------------

Result<std::vector<Token>> Tokenize(const std::string& s, size_t base, const LineMap& lines) {
  static const char* kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                               "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                               "]",  "{",  "}",  ".",  ",",  ":",  "|"};
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    auto [line, col] = lines.At(base + i);
    if (i >= s.size()) {
      out.push_back({Token::Kind::kEnd, "", {}, line, col});
      return out;
    }
    const char c = s[i];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Kind::kName, s.substr(i, j - i), {}, line, col});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      bool is_float = false;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      std::string num = s.substr(i, j - i);
      num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
      Token t{is_float ? Token::Kind::kFloat : Token::Kind::kInt, num, {}, line, col};
      t.value = is_float ? Value::Float(std::strtod(num.c_str(), nullptr))
                         : Value::Int(std::strtoll(num.c_str(), nullptr, 10));
      out.push_back(std::move(t));
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) {
          v += s[j];
          continue;
        }
        const char e = s[++j];
        switch (e) {
          case 'n':
            v += '\n';
            break;
          case 't':
            v += '\t';
            break;
          case 'r':
            v += '\r';
            break;
          case '\\':
          case '\'':
          case '"':
            v += e;
            break;
          default:
            v += '\\';
            v += e;  // Python keeps unknown escapes as written
        }
      }
      if (j >= s.size()) return SyntaxError(line, col, "string literal is never closed");
      out.push_back({Token::Kind::kString, "string", Value::Str(std::move(v)), line, col});
      i = j + 1;
    } else {
      bool matched = false;
      for (const char* op : kOps) {
        const size_t n = std::strlen(op);
        if (s.compare(i, n, op) == 0) {
          out.push_back({Token::Kind::kOp, op, {}, line, col});
          i += n;
          matched = true;
          break;
        }
      }
      if (!matched) return SyntaxError(line, col, std::string("unexpected character '") + c + "'");
    }
  }
}

}  // namespace folio::jinja
