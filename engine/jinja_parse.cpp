// Jinja subset: splitting the source into text and tags (with Hugging Face's trim_blocks
// and lstrip_blocks), tokenizing expressions, and parsing into the AST of jinja_ast.h.
#include <cctype>
#include <cstring>
#include <set>

#include "engine/jinja_lex.h"

namespace folio::jinja {

std::string Where(int line, int col) {
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

namespace {

// ---- Expression parser (precedence as Jinja2's parser) -----------------------------------

class ExprParser {
 public:
  explicit ExprParser(std::vector<Token> toks) : t_(std::move(toks)) {}

  const Token& Peek(size_t ahead = 0) const { return t_[std::min(p_ + ahead, t_.size() - 1)]; }
  bool IsOp(const char* op, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kOp && Peek(ahead).text == op;
  }
  bool IsName(const char* n, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kName && Peek(ahead).text == n;
  }
  bool AtEnd() const { return Peek().kind == Token::Kind::kEnd; }
  const Token& Next() { return t_[std::min(p_++, t_.size() - 1)]; }
  Status Expect(const char* op) {
    if (!IsOp(op)) return Unexpected(std::string("'") + op + "'");
    ++p_;
    return Status::Ok();
  }
  Status Unexpected(const std::string& wanted) const {
    const Token& t = Peek();
    const std::string got = t.kind == Token::Kind::kEnd ? "the end of the tag" : "'" + t.text + "'";
    return SyntaxError(t.line, t.col, "expected " + wanted + ", found " + got);
  }
  Result<std::string> ExpectName() {
    if (Peek().kind != Token::Kind::kName) return Unexpected("a name");
    return Next().text;
  }

  // Tuple without parentheses (`a, b`), as in `{% set x = a, b %}` and `for` targets.
  Result<ExprPtr> ParseTuple(bool allow_cond = true) {
    FOLIO_ASSIGN_OR_RETURN(ExprPtr first, allow_cond ? ParseExpr() : ParseOr());
    FOLIO_RETURN_IF_ERROR(CheckDepth(first));
    if (!IsOp(",")) return first;
    auto tup = NewExpr(Expr::Type::kTuple, *first);
    tup->args.push_back(first);
    while (IsOp(",")) {
      ++p_;
      if (AtEnd() || IsName("if")) break;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr e, allow_cond ? ParseExpr() : ParseOr());
      tup->args.push_back(e);
    }
    return tup;
  }

  Result<ExprPtr> ParseExpr() {
    if (++depth_ > kMaxDepth)
      return SyntaxError(Peek().line, Peek().col, "expression nested too deeply");
    auto r = ParseCond();
    --depth_;
    if (r.ok() && depth_ == 0) FOLIO_RETURN_IF_ERROR(CheckDepth(*r));
    return r;
  }

  // Long operator chains nest to the left; rendering recurses that deep, so cap it.
  static Status CheckDepth(const ExprPtr& root) {
    std::vector<std::pair<const Expr*, int>> stack = {{root.get(), 1}};
    while (!stack.empty()) {
      auto [e, d] = stack.back();
      stack.pop_back();
      if (d > kMaxDepth) return SyntaxError(e->line, e->col, "expression nested too deeply");
      for (const auto& a : e->args)
        if (a) stack.emplace_back(a.get(), d + 1);
      for (const auto& [k, a] : e->kwargs) stack.emplace_back(a.get(), d + 1);
      for (const auto& [k, v] : e->pairs)
        stack.emplace_back(k.get(), d + 1), stack.emplace_back(v.get(), d + 1);
      if (e->star) stack.emplace_back(e->star.get(), d + 1);
    }
    return Status::Ok();
  }

 private:
  static ExprPtr NewExpr(Expr::Type type, int line, int col) {
    auto e = std::make_shared<Expr>();
    e->type = type;
    e->line = line;
    e->col = col;
    return e;
  }
  static ExprPtr NewExpr(Expr::Type type, const Expr& at) { return NewExpr(type, at.line, at.col); }
  ExprPtr NewExpr(Expr::Type type) const { return NewExpr(type, Peek().line, Peek().col); }

  Result<ExprPtr> ParseCond() {
    FOLIO_ASSIGN_OR_RETURN(ExprPtr body, ParseOr());
    while (IsName("if")) {
      auto e = NewExpr(Expr::Type::kCond, *body);
      ++p_;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      ExprPtr other;
      if (IsName("else")) {
        ++p_;
        FOLIO_ASSIGN_OR_RETURN(other, ParseCond());
      }
      e->args = {body, cond, other};
      body = e;
    }
    return body;
  }
  Result<ExprPtr> ParseOr() {
    FOLIO_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      auto e = NewExpr(Expr::Type::kOr);
      ++p_;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      e->args = {left, right};
      left = e;
    }
    return left;
  }
  Result<ExprPtr> ParseAnd() {
    FOLIO_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      auto e = NewExpr(Expr::Type::kAnd);
      ++p_;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      e->args = {left, right};
      left = e;
    }
    return left;
  }
  Result<ExprPtr> ParseNot() {
    if (IsName("not")) {
      if (++unary_ > kMaxDepth)
        return SyntaxError(Peek().line, Peek().col, "too many 'not' in a row");
      auto e = NewExpr(Expr::Type::kUnary);
      e->name = "not";
      ++p_;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr inner, ParseNot());
      e->args = {inner};
      return e;
    }
    return ParseCompare();
  }
  Result<ExprPtr> ParseCompare() {
    FOLIO_ASSIGN_OR_RETURN(ExprPtr left, ParseMath1());
    while (true) {
      std::string op;
      if (Peek().kind == Token::Kind::kOp &&
          (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp("<=") || IsOp(">") || IsOp(">="))) {
        op = Peek().text;
        ++p_;
      } else if (IsName("in")) {
        op = "in";
        ++p_;
      } else if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        p_ += 2;
      } else {
        return left;
      }
      auto e = NewExpr(Expr::Type::kBinary, *left);
      e->name = op;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr right, ParseMath1());
      e->args = {left, right};
      left = e;
    }
  }
  Result<ExprPtr> Binary(Result<ExprPtr> (ExprParser::*next)(),
                         std::initializer_list<const char*> ops) {
    FOLIO_ASSIGN_OR_RETURN(ExprPtr left, (this->*next)());
    while (true) {
      const char* found = nullptr;
      for (const char* op : ops)
        if (IsOp(op)) found = op;
      if (!found) return left;
      auto e = NewExpr(Expr::Type::kBinary);
      e->name = found;
      ++p_;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr right, (this->*next)());
      e->args = {left, right};
      left = e;
    }
  }
  Result<ExprPtr> ParseMath1() { return Binary(&ExprParser::ParseConcat, {"+", "-"}); }
  Result<ExprPtr> ParseConcat() { return Binary(&ExprParser::ParseMath2, {"~"}); }
  Result<ExprPtr> ParseMath2() { return Binary(&ExprParser::ParsePow, {"*", "/", "//", "%"}); }
  Result<ExprPtr> ParsePow() { return Binary(&ExprParser::ParseUnary, {"**"}); }
  Result<ExprPtr> ParseUnary() {
    if (IsOp("-") || IsOp("+")) {
      if (++unary_ > kMaxDepth)
        return SyntaxError(Peek().line, Peek().col, "too many signs in a row");
      auto e = NewExpr(Expr::Type::kUnary);
      e->name = Next().text;
      FOLIO_ASSIGN_OR_RETURN(ExprPtr inner, ParseUnary());
      e->args = {inner};
      return e;
    }
    FOLIO_ASSIGN_OR_RETURN(ExprPtr e, ParsePrimary());
    FOLIO_ASSIGN_OR_RETURN(e, ParsePostfix(e));
    return ParseFilters(e);
  }

  Result<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    if (t.kind == Token::Kind::kString) {
      auto e = NewExpr(Expr::Type::kLiteral);
      std::string s;
      while (Peek().kind == Token::Kind::kString) s += Next().value.s;  // "a" "b" joins
      e->literal = Value::Str(s);
      return e;
    }
    if (t.kind == Token::Kind::kInt || t.kind == Token::Kind::kFloat) {
      auto e = NewExpr(Expr::Type::kLiteral);
      e->literal = Next().value;
      return e;
    }
    if (t.kind == Token::Kind::kName) {
      auto e = NewExpr(Expr::Type::kLiteral);
      const std::string& n = t.text;
      if (n == "true" || n == "True")
        e->literal = Value::Bool(true);
      else if (n == "false" || n == "False")
        e->literal = Value::Bool(false);
      else if (n == "none" || n == "None")
        e->literal = Value::None();
      else
        e->type = Expr::Type::kName, e->name = n;
      ++p_;
      return e;
    }
    if (IsOp("(")) {
      ++p_;
      if (IsOp(")")) {
        ++p_;
        return NewExpr(Expr::Type::kTuple);
      }
      FOLIO_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple());
      FOLIO_RETURN_IF_ERROR(Expect(")"));
      return e;
    }
    if (IsOp("[")) {
      auto e = NewExpr(Expr::Type::kList);
      ++p_;
      while (!IsOp("]")) {
        FOLIO_ASSIGN_OR_RETURN(ExprPtr item, ParseExpr());
        e->args.push_back(item);
        if (!IsOp(",")) break;
        ++p_;
      }
      FOLIO_RETURN_IF_ERROR(Expect("]"));
      return e;
    }
    if (IsOp("{")) {
      auto e = NewExpr(Expr::Type::kDict);
      ++p_;
      while (!IsOp("}")) {
        FOLIO_ASSIGN_OR_RETURN(ExprPtr key, ParseExpr());
        FOLIO_RETURN_IF_ERROR(Expect(":"));
        FOLIO_ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
        e->pairs.emplace_back(key, value);
        if (!IsOp(",")) break;
        ++p_;
      }
      FOLIO_RETURN_IF_ERROR(Expect("}"));
      return e;
    }
    return Unexpected("an expression");
  }

  Status ParseCallArgs(Expr& call) {
    FOLIO_RETURN_IF_ERROR(Expect("("));
    while (!IsOp(")")) {
      if (IsOp("**")) return UnsupportedAt(Peek().line, Peek().col, "'**kwargs' in a call");
      if (IsOp("*")) {
        ++p_;
        FOLIO_ASSIGN_OR_RETURN(call.star, ParseExpr());
      } else if (Peek().kind == Token::Kind::kName && IsOp("=", 1)) {
        std::string name = Next().text;
        ++p_;
        FOLIO_ASSIGN_OR_RETURN(ExprPtr v, ParseExpr());
        call.kwargs.emplace_back(std::move(name), v);
      } else {
        if (!call.kwargs.empty())
          return Unexpected("a keyword argument (positional after keyword)");
        FOLIO_ASSIGN_OR_RETURN(ExprPtr v, ParseExpr());
        call.args.push_back(v);
      }
      if (!IsOp(",")) break;
      ++p_;
    }
    return Expect(")");
  }

  Result<ExprPtr> ParsePostfix(ExprPtr e) {
    while (true) {
      if (IsOp(".")) {
        ++p_;
        auto a = NewExpr(Expr::Type::kAttr, *e);
        FOLIO_ASSIGN_OR_RETURN(a->name, ExpectName());
        a->args = {e};
        e = a;
      } else if (IsOp("[")) {
        ++p_;
        ExprPtr parts[3];
        int n = 0;
        bool slice = false;
        while (true) {
          if (!IsOp(":") && !IsOp("]")) {
            FOLIO_ASSIGN_OR_RETURN(parts[n], ParseExpr());
          }
          if (IsOp(":") && n < 2) {
            slice = true;
            ++n;
            ++p_;
            continue;
          }
          break;
        }
        FOLIO_RETURN_IF_ERROR(Expect("]"));
        auto x = NewExpr(slice ? Expr::Type::kSlice : Expr::Type::kIndex, *e);
        x->args = {e, parts[0]};
        if (slice) x->args.insert(x->args.end(), {parts[1], parts[2]});
        if (!slice && !parts[0]) return SyntaxError(x->line, x->col, "empty subscript");
        e = x;
      } else if (IsOp("(")) {
        auto c = NewExpr(Expr::Type::kCall, *e);
        c->args = {e};
        FOLIO_RETURN_IF_ERROR(ParseCallArgs(*c));
        e = c;
      } else {
        return e;
      }
    }
  }

  Result<ExprPtr> ParseFilters(ExprPtr e) {
    while (true) {
      if (IsOp("|")) {
        ++p_;
        const Token& at = Peek();
        FOLIO_ASSIGN_OR_RETURN(std::string name, ExpectName());
        if (!IsKnownFilter(name))
          return UnsupportedAt(at.line, at.col, "the filter '" + name + "'");
        auto f = NewExpr(Expr::Type::kFilter, at.line, at.col);
        f->name = name;
        f->args = {e};
        if (IsOp("(")) FOLIO_RETURN_IF_ERROR(ParseCallArgs(*f));
        if (f->star) return UnsupportedAt(at.line, at.col, "'*' arguments to a filter");
        e = f;
      } else if (IsName("is")) {
        ++p_;
        auto t = NewExpr(Expr::Type::kTest);
        if (IsName("not")) {
          t->negated = true;
          ++p_;
        }
        const Token& at = Peek();
        // `none`, `true`, `false` are tests here, not literals.
        FOLIO_ASSIGN_OR_RETURN(t->name, ExpectName());
        if (!IsKnownTest(t->name))
          return UnsupportedAt(at.line, at.col, "the test '" + t->name + "'");
        t->args = {e};
        if (IsOp("(")) {
          FOLIO_RETURN_IF_ERROR(ParseCallArgs(*t));
        } else if (Peek().kind == Token::Kind::kString || Peek().kind == Token::Kind::kInt ||
                   (Peek().kind == Token::Kind::kName && !IsName("and") && !IsName("or") &&
                    !IsName("if") && !IsName("else") && !IsName("is") && !IsName("not") &&
                    !IsName("in"))) {
          FOLIO_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());  // `is divisibleby 3`, `is eq x`
          t->args.push_back(arg);
        }
        e = t;
      } else {
        return e;
      }
    }
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  int unary_ = 0;  // prefix operators seen in this tag (each recurses once)
};

// ---- Statements --------------------------------------------------------------------------

class Parser {
 public:
  Parser(std::vector<Chunk> chunks, const LineMap& lines) : c_(std::move(chunks)), lines_(lines) {}

  // Parses until one of `stops` (a statement keyword) or the end; *stop gets the keyword
  // and the parser is left on that tag's expression tokens.
  Result<Body> ParseBody(const std::set<std::string>& stops, std::string* stop, int depth) {
    if (depth > kMaxDepth) return SyntaxError(1, 1, "blocks nested too deeply");
    Body body;
    while (k_ < c_.size()) {
      const Chunk& c = c_[k_];
      auto [line, col] = lines_.At(c.kind == Chunk::Kind::kText ? c.offset : c.tag_offset);
      if (c.kind == Chunk::Kind::kText) {
        auto n = NewNode(Node::Type::kText, line, col);
        n->text = c.text;
        body.push_back(n);
        ++k_;
        continue;
      }
      FOLIO_ASSIGN_OR_RETURN(std::vector<Token> toks, Tokenize(c.text, c.offset, lines_));
      ExprParser ep(std::move(toks));
      ++k_;
      if (c.kind == Chunk::Kind::kExpr) {
        auto n = NewNode(Node::Type::kOutput, line, col);
        FOLIO_ASSIGN_OR_RETURN(n->expr, ep.ParseTuple());
        if (!ep.AtEnd()) return ep.Unexpected("'}}'");
        body.push_back(n);
        continue;
      }
      if (ep.Peek().kind != Token::Kind::kName) return ep.Unexpected("a statement name");
      const std::string kw = ep.Next().text;
      if (stops.count(kw)) {
        *stop = kw;
        ep_ = std::make_unique<ExprParser>(std::move(ep));
        return body;
      }
      FOLIO_ASSIGN_OR_RETURN(NodePtr n, ParseStatement(kw, ep, line, col, depth));
      body.push_back(n);
    }
    if (!stops.empty()) {
      return SyntaxError(lines_.At(c_.empty() ? 0 : c_.back().offset).first, 1,
                         "the template ends inside a block: expected {% " + *stops.begin() + " %}");
    }
    return body;
  }

 private:
  static NodePtr NewNode(Node::Type t, int line, int col) {
    auto n = std::make_shared<Node>();
    n->type = t;
    n->line = line;
    n->col = col;
    return n;
  }
  Status ExpectEnd(ExprParser& ep) { return ep.AtEnd() ? Status::Ok() : ep.Unexpected("'%}'"); }

  Result<NodePtr> ParseStatement(const std::string& kw, ExprParser& ep, int line, int col,
                                 int depth) {
    if (kw == "if") return ParseIf(ep, line, col, depth);
    if (kw == "for") return ParseFor(ep, line, col, depth);
    if (kw == "set") return ParseSet(ep, line, col, depth);
    if (kw == "macro") return ParseMacro(ep, line, col, depth);
    if (kw == "break" || kw == "continue") {
      FOLIO_RETURN_IF_ERROR(ExpectEnd(ep));
      return NewNode(kw == "break" ? Node::Type::kBreak : Node::Type::kContinue, line, col);
    }
    if (kw == "generation") {  // transformers' assistant-mask marker: renders its body
      FOLIO_RETURN_IF_ERROR(ExpectEnd(ep));
      auto n = NewNode(Node::Type::kBlock, line, col);
      std::string stop;
      FOLIO_ASSIGN_OR_RETURN(n->body, ParseBody({"endgeneration"}, &stop, depth + 1));
      FOLIO_RETURN_IF_ERROR(ExpectEnd(*ep_));
      return n;
    }
    static const std::set<std::string> kEnds = {"elif",   "else",     "endif",        "endfor",
                                                "endset", "endmacro", "endgeneration"};
    if (kEnds.count(kw))
      return SyntaxError(line, col, "'" + kw + "' without a matching opening tag");
    return UnsupportedAt(line, col, "the tag '{% " + kw + " %}'");
  }

  Result<NodePtr> ParseIf(ExprParser& ep, int line, int col, int depth) {
    auto n = NewNode(Node::Type::kIf, line, col);
    FOLIO_ASSIGN_OR_RETURN(ExprPtr cond, ep.ParseExpr());
    FOLIO_RETURN_IF_ERROR(ExpectEnd(ep));
    while (true) {
      std::string stop;
      FOLIO_ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}, &stop, depth + 1));
      n->branches.emplace_back(cond, std::move(body));
      ExprParser& tag = *ep_;
      if (stop == "endif") {
        FOLIO_RETURN_IF_ERROR(ExpectEnd(tag));
        return n;
      }
      if (stop == "else") {
        FOLIO_RETURN_IF_ERROR(ExpectEnd(tag));
        std::string end;
        FOLIO_ASSIGN_OR_RETURN(Body else_body, ParseBody({"endif"}, &end, depth + 1));
        FOLIO_RETURN_IF_ERROR(ExpectEnd(*ep_));
        n->branches.emplace_back(nullptr, std::move(else_body));
        return n;
      }
      FOLIO_ASSIGN_OR_RETURN(cond, tag.ParseExpr());  // elif
      FOLIO_RETURN_IF_ERROR(ExpectEnd(tag));
    }
  }

  Result<NodePtr> ParseFor(ExprParser& ep, int line, int col, int depth) {
    auto n = NewNode(Node::Type::kFor, line, col);
    while (true) {
      FOLIO_ASSIGN_OR_RETURN(std::string name, ep.ExpectName());
      n->targets.push_back(name);
      if (!ep.IsOp(",")) break;
      ep.Next();
    }
    if (!ep.IsName("in")) return ep.Unexpected("'in'");
    ep.Next();
    FOLIO_ASSIGN_OR_RETURN(n->expr, ep.ParseTuple(/*allow_cond=*/false));
    if (ep.IsName("if")) {
      ep.Next();
      FOLIO_ASSIGN_OR_RETURN(n->cond, ep.ParseExpr());
    }
    if (ep.IsName("recursive")) return UnsupportedAt(line, col, "a recursive for loop");
    FOLIO_RETURN_IF_ERROR(ExpectEnd(ep));
    std::string stop;
    FOLIO_ASSIGN_OR_RETURN(n->body, ParseBody({"else", "endfor"}, &stop, depth + 1));
    FOLIO_RETURN_IF_ERROR(ExpectEnd(*ep_));
    if (stop == "else") {
      FOLIO_ASSIGN_OR_RETURN(n->else_body, ParseBody({"endfor"}, &stop, depth + 1));
      FOLIO_RETURN_IF_ERROR(ExpectEnd(*ep_));
    }
    return n;
  }

  Result<NodePtr> ParseSet(ExprParser& ep, int line, int col, int depth) {
    FOLIO_ASSIGN_OR_RETURN(std::string name, ep.ExpectName());
    auto n = NewNode(Node::Type::kSet, line, col);
    n->targets = {name};
    if (ep.IsOp(".")) {
      ep.Next();
      FOLIO_ASSIGN_OR_RETURN(n->attr, ep.ExpectName());
    }
    if (ep.IsOp(",")) return UnsupportedAt(line, col, "unpacking several names in {% set %}");
    if (ep.AtEnd() && n->attr.empty()) {  // {% set x %}...{% endset %}
      n->type = Node::Type::kSetBlock;
      std::string stop;
      FOLIO_ASSIGN_OR_RETURN(n->body, ParseBody({"endset"}, &stop, depth + 1));
      FOLIO_RETURN_IF_ERROR(ExpectEnd(*ep_));
      return n;
    }
    FOLIO_RETURN_IF_ERROR(ep.Expect("="));
    FOLIO_ASSIGN_OR_RETURN(n->expr, ep.ParseTuple());
    FOLIO_RETURN_IF_ERROR(ExpectEnd(ep));
    return n;
  }

  Result<NodePtr> ParseMacro(ExprParser& ep, int line, int col, int depth) {
    auto n = NewNode(Node::Type::kMacro, line, col);
    FOLIO_ASSIGN_OR_RETURN(std::string name, ep.ExpectName());
    n->targets = {name};
    FOLIO_RETURN_IF_ERROR(ep.Expect("("));
    while (!ep.IsOp(")")) {
      FOLIO_ASSIGN_OR_RETURN(std::string param, ep.ExpectName());
      ExprPtr def;
      if (ep.IsOp("=")) {
        ep.Next();
        FOLIO_ASSIGN_OR_RETURN(def, ep.ParseExpr());
      }
      n->params.emplace_back(param, def);
      if (!ep.IsOp(",")) break;
      ep.Next();
    }
    FOLIO_RETURN_IF_ERROR(ep.Expect(")"));
    FOLIO_RETURN_IF_ERROR(ExpectEnd(ep));
    std::string stop;
    FOLIO_ASSIGN_OR_RETURN(n->body, ParseBody({"endmacro"}, &stop, depth + 1));
    if (!ep_->AtEnd() && !ep_->IsName(name.c_str())) return ep_->Unexpected("'%}'");
    return n;
  }

  std::vector<Chunk> c_;
  const LineMap& lines_;
  size_t k_ = 0;
  std::unique_ptr<ExprParser> ep_;  // the tag that ended the last ParseBody
};

}  // namespace

Template::~Template() = default;

Result<std::shared_ptr<const Template>> Template::Parse(std::string_view source) {
  const LineMap lines(source);
  FOLIO_ASSIGN_OR_RETURN(std::vector<Chunk> chunks, SplitChunks(source, lines));
  Parser p(std::move(chunks), lines);
  std::string stop;
  std::shared_ptr<Template> t(new Template());
  FOLIO_ASSIGN_OR_RETURN(t->body_, p.ParseBody({}, &stop, 0));
  return std::shared_ptr<const Template>(std::move(t));
}

Result<std::string> Template::Render(const Value& context) const {
  return RenderBody(body_, context);
}

}  // namespace folio::jinja
