// Jinja subset: the tests (is ...), filters (|...) and global functions.
#include <algorithm>
#include <cmath>
#include <set>

#include "engine/jinja_ast.h"

namespace folio::jinja {

using namespace detail;

namespace {
constexpr int64_t kMaxRange = 1'000'000;
}  // namespace

// ---- Tests and filters ------------------------------------------------------------------------

bool IsKnownTest(const std::string& n) {
  static const std::set<std::string> k = {
      "defined", "undefined", "none",        "string",   "number", "integer", "float",
      "mapping", "iterable",  "sequence",    "boolean",  "true",   "false",   "odd",
      "even",    "eq",        "equalto",     "ne",       "gt",     "ge",      "lt",
      "le",      "in",        "divisibleby", "callable", "lower",  "upper"};
  return k.count(n) != 0;
}

Result<bool> ApplyTest(const std::string& n, const Value& v, CallArgs& a) {
  const Value x = Arg(a, 0, "value");
  using K = Value::Kind;
  if (n == "defined") return v.defined();
  if (n == "undefined") return !v.defined();
  if (n == "none") return v.is_none();
  if (n == "string") return v.is_string();
  if (n == "number") return v.is_number();
  if (n == "integer") return v.kind == K::kInt;
  if (n == "float") return v.kind == K::kFloat;
  if (n == "boolean") return v.kind == K::kBool;
  if (n == "true") return v.kind == K::kBool && v.b;
  if (n == "false") return v.kind == K::kBool && !v.b;
  if (n == "mapping") return v.kind == K::kDict;
  if (n == "iterable") return v.kind == K::kList || v.kind == K::kDict || v.is_string();
  if (n == "sequence") return v.kind == K::kList || v.kind == K::kDict || v.is_string();
  if (n == "callable") return v.kind == K::kFunction;
  if (n == "lower") return v.is_string() && Lower(v.s, false) == v.s;
  if (n == "upper") return v.is_string() && Lower(v.s, true) == v.s;
  if (n == "odd" || n == "even") {
    if (!IsIntLike(v)) return EvalError(a.where, "'" + n + "' needs an integer");
    return (AsInt(v) % 2 != 0) == (n == "odd");
  }
  if (n == "divisibleby") {
    if (!IsIntLike(v) || !IsIntLike(x) || AsInt(x) == 0)
      return EvalError(a.where, "'divisibleby' needs integers");
    return AsInt(v) % AsInt(x) == 0;
  }
  if (n == "eq" || n == "equalto") return Equal(v, x);
  if (n == "ne") return !Equal(v, x);
  if (n == "in") {
    FOLIO_ASSIGN_OR_RETURN(Value r, BinaryOp("in", v, x, a.where));
    return r.b;
  }
  FOLIO_ASSIGN_OR_RETURN(Value r, BinaryOp(n == "gt"   ? ">"
                                           : n == "ge" ? ">="
                                           : n == "lt" ? "<"
                                                       : "<=",
                                           v, x, a.where));
  return r.b;
}

bool IsKnownFilter(const std::string& n) {
  static const std::set<std::string> k = {
      "trim",       "length",  "count",   "tojson",  "upper", "lower",      "title",
      "capitalize", "default", "d",       "string",  "int",   "float",      "list",
      "join",       "first",   "last",    "reverse", "map",   "selectattr", "rejectattr",
      "select",     "reject",  "replace", "safe",    "abs",   "items",      "unique"};
  return k.count(n) != 0;
}

namespace {

Result<Value> SelectFilter(const std::string& n, const Value& in, CallArgs& a) {
  const bool by_attr = n == "selectattr" || n == "rejectattr";
  const bool keep = n == "select" || n == "selectattr";
  FOLIO_ASSIGN_OR_RETURN(List items, Iterate(in, a.where));
  const size_t first_test = by_attr ? 1 : 0;
  const Value attr = by_attr ? Arg(a, 0, "attribute") : Value();
  const Value test = Arg(a, first_test, "test");
  if (by_attr && !attr.is_string()) return EvalError(a.where, n + " needs an attribute name");
  if (test.defined() && (!test.is_string() || !IsKnownTest(test.s)))
    return EvalError(a.where, n + ": unsupported test '" + ToStr(test) + "'");
  CallArgs targs{{}, {}, a.where};
  for (size_t k = first_test + 1; k < a.positional.size(); ++k)
    targs.positional.push_back(a.positional[k]);
  Value out = Value::NewList();
  for (const Value& item : items) {
    Value subject = item;
    if (by_attr) {
      const Value* f = item.Find(attr.s);
      subject = f ? *f : Value();
    }
    bool ok = Truthy(subject);
    if (test.defined()) {
      FOLIO_ASSIGN_OR_RETURN(ok, ApplyTest(test.s, subject, targs));
    }
    if (ok == keep) out.list->push_back(item);
  }
  return out;
}

}  // namespace

Result<Value> ApplyFilter(const std::string& n, const Value& in, CallArgs& a) {
  using K = Value::Kind;
  if (n == "safe") return in;
  if (n == "default" || n == "d") {
    const bool boolean = Truthy(Arg(a, 1, "boolean", Value::Bool(false)));
    const bool use = boolean ? !Truthy(in) : !in.defined();
    return use ? Arg(a, 0, "default_value", Value::Str("")) : in;
  }
  if (n == "string") return Value::Str(ToStr(in));
  if (n == "tojson") {
    const Value ind = Arg(a, 0, "indent", Value::None());
    if (!in.defined()) return EvalError(a.where, "tojson of an undefined value");
    return Value::Str(ToJson(in, IsIntLike(ind) ? static_cast<int>(AsInt(ind)) : -1));
  }
  if (n == "length" || n == "count") {
    if (in.is_string()) return Value::Int(static_cast<int64_t>(Characters(in.s).size()));
    if (in.kind == K::kList) return Value::Int(static_cast<int64_t>(in.list->size()));
    if (in.kind == K::kDict) return Value::Int(static_cast<int64_t>(in.dict->size()));
    if (!in.defined()) return Value::Int(0);
    return EvalError(a.where, std::string("length of a ") + KindName(in));
  }
  if (n == "int") {
    if (IsIntLike(in)) return Value::Int(AsInt(in));
    if (in.kind == K::kFloat) return Value::Int(static_cast<int64_t>(in.f));
    if (in.is_string()) {
      char* end = nullptr;
      const std::string t = Strip(in.s, " \t\n\r", true, true);
      const long long v = std::strtoll(t.c_str(), &end, 10);
      if (!t.empty() && *end == '\0') return Value::Int(v);
    }
    return Arg(a, 0, "default", Value::Int(0));
  }
  if (n == "float") {
    if (in.is_number() || in.kind == K::kBool) return Value::Float(AsDouble(in));
    if (in.is_string()) {
      char* end = nullptr;
      const double v = std::strtod(in.s.c_str(), &end);
      if (!in.s.empty() && *end == '\0') return Value::Float(v);
    }
    return Arg(a, 0, "default", Value::Float(0));
  }
  if (n == "abs") {
    if (in.kind == K::kInt) return Value::Int(in.i < 0 ? -in.i : in.i);
    if (in.kind == K::kFloat) return Value::Float(std::fabs(in.f));
    return EvalError(a.where, "abs of a non-number");
  }
  if (n == "items") {
    if (in.kind != K::kDict) return EvalError(a.where, "items of a non-dict");
    CallArgs none{{}, {}, a.where};
    return DictMethod(in, "items", none);
  }
  if (in.is_string() && (n == "trim" || n == "upper" || n == "lower" || n == "title" ||
                         n == "capitalize" || n == "replace")) {
    if (n == "trim") {
      const Value chars = Arg(a, 0, "chars");
      return Value::Str(Strip(in.s, chars.is_string() ? chars.s : " \t\n\r\f\v", true, true));
    }
    return StringMethod(in.s, n, a);
  }
  if (n == "trim" || n == "upper" || n == "lower" || n == "title" || n == "capitalize" ||
      n == "replace") {
    if (!in.defined()) return Value::Str("");
    CallArgs same = a;
    return ApplyFilter(n, Value::Str(ToStr(in)), same);
  }
  if (n == "select" || n == "reject" || n == "selectattr" || n == "rejectattr")
    return SelectFilter(n, in, a);
  FOLIO_ASSIGN_OR_RETURN(List items, Iterate(in, a.where));
  if (n == "list") return Value::NewList(std::move(items));
  if (n == "first") return items.empty() ? Value() : items.front();
  if (n == "last") return items.empty() ? Value() : items.back();
  if (n == "reverse") {
    std::reverse(items.begin(), items.end());
    if (!in.is_string()) return Value::NewList(std::move(items));
    std::string s;
    for (const Value& c : items) s += c.s;
    return Value::Str(s);
  }
  if (n == "unique") {
    List out;
    for (const Value& x : items)
      if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return Equal(x, y); }))
        out.push_back(x);
    return Value::NewList(std::move(out));
  }
  if (n == "join") {
    const Value sep = Arg(a, 0, "d", Value::Str(""));
    const Value attr = Arg(a, 1, "attribute");
    std::string o;
    for (size_t k = 0; k < items.size(); ++k) {
      const Value* f = attr.is_string() ? items[k].Find(attr.s) : nullptr;
      o += (k ? ToStr(sep) : "") + ToStr(attr.is_string() ? (f ? *f : Value()) : items[k]);
    }
    return Value::Str(o);
  }
  if (n == "map") {
    const Value attr = Arg(a, 99, "attribute");
    Value out = Value::NewList();
    if (attr.is_string()) {
      const Value dflt = Arg(a, 99, "default");
      for (const Value& x : items) {
        const Value* f = x.Find(attr.s);
        out.list->push_back(f ? *f : dflt);
      }
      return out;
    }
    if (a.positional.empty() || !a.positional[0].is_string() || !IsKnownFilter(a.positional[0].s))
      return EvalError(a.where, "map needs attribute=... or the name of a supported filter");
    CallArgs rest{List(a.positional.begin() + 1, a.positional.end()), a.keyword, a.where};
    for (const Value& x : items) {
      FOLIO_ASSIGN_OR_RETURN(Value y, ApplyFilter(a.positional[0].s, x, rest));
      out.list->push_back(y);
    }
    return out;
  }
  return EvalError(a.where, "the filter '" + n + "' cannot be applied to a " + KindName(in));
}

void AddGlobals(Dict* g) {
  g->emplace_back("raise_exception", Value::Fn([](CallArgs& a) -> Result<Value> {
                    return InvalidArgument("the chat template refused the conversation: " +
                                           ToStr(Arg(a, 0, "message")));
                  }));
  g->emplace_back("range", Value::Fn([](CallArgs& a) -> Result<Value> {
                    for (const Value& v : a.positional)
                      if (!IsIntLike(v)) return EvalError(a.where, "range() needs integers");
                    int64_t b = 0, e = 0, st = 1;
                    if (a.positional.size() == 1)
                      e = AsInt(a.positional[0]);
                    else if (a.positional.size() >= 2)
                      b = AsInt(a.positional[0]), e = AsInt(a.positional[1]);
                    if (a.positional.size() >= 3) st = AsInt(a.positional[2]);
                    if (st == 0 || a.positional.empty() || a.positional.size() > 3)
                      return EvalError(a.where, "bad range() arguments");
                    List out;
                    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
                      if (static_cast<int64_t>(out.size()) >= kMaxRange)
                        return EvalError(a.where, "range() too long");
                      out.push_back(Value::Int(i));
                    }
                    return Value::NewList(std::move(out));
                  }));
  const auto make_dict = [](bool ns) {
    return Value::Fn([ns](CallArgs& a) -> Result<Value> {
      Value d = Value::NewDict();
      d.is_namespace = ns;
      if (!a.positional.empty()) {
        if (a.positional[0].kind != Value::Kind::kDict)
          return EvalError(a.where, "expected keyword arguments");
        *d.dict = *a.positional[0].dict;
      }
      for (const auto& [k, v] : a.keyword) d.Set(k, v);
      return d;
    });
  };
  g->emplace_back("namespace", make_dict(true));
  g->emplace_back("dict", make_dict(false));
}

}  // namespace folio::jinja
