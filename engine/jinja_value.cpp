// Jinja subset: Python-like values, operators, attribute access, filters and tests.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/jinja_ast.h"

namespace folio::jinja {

namespace detail {

const char* KindName(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "undefined";
    case Value::Kind::kNone:
      return "none";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "string";
    case Value::Kind::kList:
      return "list";
    case Value::Kind::kDict:
      return v.is_namespace ? "namespace" : "dict";
    case Value::Kind::kFunction:
      return "function";
  }
  return "?";
}

double AsDouble(const Value& v) {
  return v.kind == Value::Kind::kInt    ? static_cast<double>(v.i)
         : v.kind == Value::Kind::kBool ? v.b
                                        : v.f;
}
bool IsIntLike(const Value& v) {
  return v.kind == Value::Kind::kInt || v.kind == Value::Kind::kBool;
}
int64_t AsInt(const Value& v) {
  return v.kind == Value::Kind::kBool ? v.b : v.i;
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string JsonString(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      case '\b':
        o += "\\b";
        break;
      case '\f':
        o += "\\f";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

void JsonTo(const Value& v, int indent, int level, std::string* o) {
  std::string nl, close;
  if (indent >= 0) {
    nl.assign(1, '\n');
    nl.append(static_cast<size_t>(indent * (level + 1)), ' ');
    close.assign(1, '\n');
    close.append(static_cast<size_t>(indent * level), ' ');
  }
  const std::string item_sep = indent >= 0 ? "," : ", ";
  switch (v.kind) {
    case Value::Kind::kList: {
      if (v.list->empty()) {
        *o += "[]";
        return;
      }
      *o += "[";
      for (size_t k = 0; k < v.list->size(); ++k) {
        *o += (k ? item_sep : "") + nl;
        JsonTo((*v.list)[k], indent, level + 1, o);
      }
      *o += close + "]";
      return;
    }
    case Value::Kind::kDict: {
      if (v.dict->empty()) {
        *o += "{}";
        return;
      }
      *o += "{";
      for (size_t k = 0; k < v.dict->size(); ++k) {
        *o += (k ? item_sep : "") + nl + JsonString((*v.dict)[k].first) + ": ";
        JsonTo((*v.dict)[k].second, indent, level + 1, o);
      }
      *o += close + "}";
      return;
    }
    case Value::Kind::kString:
      *o += JsonString(v.s);
      return;
    case Value::Kind::kBool:
      *o += v.b ? "true" : "false";
      return;
    case Value::Kind::kInt:
      *o += std::to_string(v.i);
      return;
    case Value::Kind::kFloat:
      *o += FloatRepr(v.f);
      return;
    default:
      *o += "null";
      return;
  }
}

Value FromJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::object: {
      Value d = Value::NewDict();
      for (auto it = j.begin(); it != j.end(); ++it)
        d.dict->emplace_back(it.key(), FromJson(it.value()));
      return d;
    }
    case nlohmann::ordered_json::value_t::array: {
      Value l = Value::NewList();
      for (const auto& e : j) l.list->push_back(FromJson(e));
      return l;
    }
    case nlohmann::ordered_json::value_t::string:
      return Value::Str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value::Int(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float:
      return Value::Float(j.get<double>());
    default:
      return Value::None();
  }
}

// Splits UTF-8 into characters (a for loop over a string, list(string)).
List Characters(const std::string& s) {
  List out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0)
      n = 4;
    else if (c >= 0xE0)
      n = 3;
    else if (c >= 0xC0)
      n = 2;
    n = std::min(n, s.size() - i);
    out.push_back(Value::Str(s.substr(i, n)));
    i += n;
  }
  return out;
}

std::string Strip(const std::string& s, const std::string& chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  if (right)
    while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  return s.substr(b, e - b);
}

std::string Title(const std::string& s, bool only_first) {
  std::string o = s;
  bool start = true;
  for (char& c : o) {
    const bool alpha = std::isalpha(static_cast<unsigned char>(c)) != 0;
    if (alpha) c = static_cast<char>(start ? std::toupper(c) : std::tolower(c));
    if (only_first)
      start = false;
    else
      start = !alpha && !std::isdigit(static_cast<unsigned char>(c)) && c != '\'';
  }
  return o;
}

std::string Lower(std::string s, bool upper) {
  for (char& c : s) c = static_cast<char>(upper ? std::toupper(c) : std::tolower(c));
  return s;
}

// Argument i (positional) or `name` (keyword), or `fallback`.
Value Arg(const CallArgs& a, size_t i, const char* name, Value fallback) {
  if (i < a.positional.size()) return a.positional[i];
  for (const auto& [k, v] : a.keyword)
    if (k == name) return v;
  return fallback;
}

Result<Value> StringMethod(const std::string& s, const std::string& name, CallArgs& a) {
  const std::string ws = " \t\n\r\f\v";
  auto chars = [&](size_t i) {
    Value c = Arg(a, i, "chars");
    return c.is_string() ? c.s : ws;
  };
  if (name == "strip") return Value::Str(Strip(s, chars(0), true, true));
  if (name == "lstrip") return Value::Str(Strip(s, chars(0), true, false));
  if (name == "rstrip") return Value::Str(Strip(s, chars(0), false, true));
  if (name == "upper" || name == "lower") return Value::Str(Lower(s, name == "upper"));
  if (name == "title") return Value::Str(Title(s, false));
  if (name == "capitalize") return Value::Str(Title(Lower(s, false), true));
  if (name == "startswith" || name == "endswith") {
    const Value p = Arg(a, 0, "prefix");
    if (!p.is_string()) return EvalError(a.where, name + "() needs a string");
    const bool ok =
        name == "startswith"
            ? s.rfind(p.s, 0) == 0
            : s.size() >= p.s.size() && s.compare(s.size() - p.s.size(), p.s.size(), p.s) == 0;
    return Value::Bool(ok);
  }
  if (name == "replace") {
    const Value from = Arg(a, 0, "old"), to = Arg(a, 1, "new");
    if (!from.is_string() || !to.is_string() || from.s.empty())
      return EvalError(a.where, "replace() needs two strings");
    std::string o;
    size_t p = 0, q;
    while ((q = s.find(from.s, p)) != std::string::npos)
      o += s.substr(p, q - p) + to.s, p = q + from.s.size();
    return Value::Str(o + s.substr(p));
  }
  if (name == "split") {
    const Value sep = Arg(a, 0, "sep");
    Value out = Value::NewList();
    if (!sep.is_string()) {  // split on runs of whitespace
      size_t p = 0;
      while (true) {
        p = s.find_first_not_of(ws, p);
        if (p == std::string::npos) break;
        const size_t q = s.find_first_of(ws, p);
        out.list->push_back(Value::Str(s.substr(p, q - p)));
        if (q == std::string::npos) break;
        p = q;
      }
      return out;
    }
    if (sep.s.empty()) return EvalError(a.where, "split() with an empty separator");
    size_t p = 0, q;
    while ((q = s.find(sep.s, p)) != std::string::npos)
      out.list->push_back(Value::Str(s.substr(p, q - p))), p = q + sep.s.size();
    out.list->push_back(Value::Str(s.substr(p)));
    return out;
  }
  return EvalError(a.where, "unsupported string method '" + name + "'");
}

Result<Value> DictMethod(const Value& d, const std::string& name, CallArgs& a) {
  if (name == "items") {
    Value out = Value::NewList();
    for (const auto& [k, v] : *d.dict) out.list->push_back(Value::NewList({Value::Str(k), v}));
    return out;
  }
  if (name == "keys" || name == "values") {
    Value out = Value::NewList();
    for (const auto& [k, v] : *d.dict) out.list->push_back(name == "keys" ? Value::Str(k) : v);
    return out;
  }
  if (name == "get") {
    const Value key = Arg(a, 0, "key");
    const Value* v = key.is_string() ? d.Find(key.s) : nullptr;
    return v ? *v : Arg(a, 1, "default", Value::None());
  }
  return EvalError(a.where, "unsupported dict method '" + name + "'");
}

bool IsMethod(const Value& v, const std::string& name) {
  static const std::set<std::string> kStr = {"strip",    "lstrip",  "rstrip",     "upper",
                                             "lower",    "title",   "capitalize", "startswith",
                                             "endswith", "replace", "split"};
  static const std::set<std::string> kDict = {"items", "keys", "values", "get"};
  return (v.is_string() && kStr.count(name)) || (v.kind == Value::Kind::kDict && kDict.count(name));
}

}  // namespace detail

using namespace detail;

// ---- Value basics -------------------------------------------------------------------------

const Value* Value::Find(std::string_view key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : *dict)
    if (k == key) return &v;
  return nullptr;
}

void Value::Set(const std::string& key, Value v) {
  if (kind != Kind::kDict) return;
  for (auto& [k, old] : *dict)
    if (k == key) {
      old = std::move(v);
      return;
    }
  dict->emplace_back(key, std::move(v));
}

Status EvalError(const std::string& where, const std::string& what) {
  return InvalidArgument("chat template, " + where + ": " + what);
}

bool Truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.b;
    case Value::Kind::kInt:
      return v.i != 0;
    case Value::Kind::kFloat:
      return v.f != 0;
    case Value::Kind::kString:
      return !v.s.empty();
    case Value::Kind::kList:
      return !v.list->empty();
    case Value::Kind::kDict:
      return !v.dict->empty();
    case Value::Kind::kFunction:
      return true;
  }
  return false;
}

std::string Repr(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kString: {
      const char q =
          (v.s.find('\'') != std::string::npos && v.s.find('"') == std::string::npos) ? '"' : '\'';
      std::string o(1, q);
      for (char c : v.s) {
        if (c == '\\')
          o += "\\\\";
        else if (c == '\n')
          o += "\\n";
        else if (c == '\t')
          o += "\\t";
        else if (c == '\r')
          o += "\\r";
        else if (c == q)
          o += std::string("\\") + q;
        else
          o += c;
      }
      return o + q;
    }
    case Value::Kind::kList: {
      std::string o = "[";
      for (size_t k = 0; k < v.list->size(); ++k) o += (k ? ", " : "") + Repr((*v.list)[k]);
      return o + "]";
    }
    case Value::Kind::kDict: {
      std::string o = "{";
      for (size_t k = 0; k < v.dict->size(); ++k)
        o += (k ? ", " : "") + Repr(Value::Str((*v.dict)[k].first)) + ": " +
             Repr((*v.dict)[k].second);
      return o + "}";
    }
    default:
      return ToStr(v);
  }
}

std::string ToStr(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return v.b ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(v.i);
    case Value::Kind::kFloat:
      return FloatRepr(v.f);
    case Value::Kind::kString:
      return v.s;
    case Value::Kind::kFunction:
      return "<function>";
    default:
      return Repr(v);
  }
}

std::string ToJson(const Value& v, int indent) {
  std::string o;
  JsonTo(v, indent, 0, &o);
  return o;
}

Result<Value> FromJsonText(const std::string& json_text) {
  auto j = nlohmann::ordered_json::parse(json_text, nullptr, false);
  if (j.is_discarded()) return Corrupt("not valid JSON");
  return FromJson(j);
}

bool Equal(const Value& a, const Value& b) {
  if ((a.is_number() || a.kind == Value::Kind::kBool) &&
      (b.is_number() || b.kind == Value::Kind::kBool))
    return AsDouble(a) == AsDouble(b);
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kString:
      return a.s == b.s;
    case Value::Kind::kList:
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!Equal((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Value::Kind::kDict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& [k, v] : *a.dict) {
        const Value* o = b.Find(k);
        if (!o || !Equal(v, *o)) return false;
      }
      return true;
    case Value::Kind::kFunction:
      return a.fn == b.fn;
    default:
      return true;  // undefined == undefined, none == none
  }
}

// ---- Operators ----------------------------------------------------------------------------

Result<Value> BinaryOp(const std::string& op, const Value& a, const Value& b,
                       const std::string& where) {
  const bool nums = (a.is_number() || a.kind == Value::Kind::kBool) &&
                    (b.is_number() || b.kind == Value::Kind::kBool);
  const bool ints = IsIntLike(a) && IsIntLike(b);
  auto type_error = [&]() {
    return EvalError(
        where, std::string("cannot apply '") + op + "' to " + KindName(a) + " and " + KindName(b));
  };
  if (op == "~") return Value::Str(ToStr(a) + ToStr(b));
  if (op == "==") return Value::Bool(Equal(a, b));
  if (op == "!=") return Value::Bool(!Equal(a, b));
  if (op == "in" || op == "not in") {
    bool found = false;
    if (b.is_string() && a.is_string())
      found = b.s.find(a.s) != std::string::npos;
    else if (b.kind == Value::Kind::kList)
      found =
          std::any_of(b.list->begin(), b.list->end(), [&](const Value& x) { return Equal(x, a); });
    else if (b.kind == Value::Kind::kDict)
      found = a.is_string() && b.Find(a.s);
    else if (b.kind == Value::Kind::kUndefined)
      found = false;
    else
      return type_error();
    return Value::Bool(op == "in" ? found : !found);
  }
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    int c;
    if (nums)
      c = AsDouble(a) < AsDouble(b) ? -1 : AsDouble(a) > AsDouble(b) ? 1 : 0;
    else if (a.is_string() && b.is_string())
      c = a.s.compare(b.s);
    else
      return type_error();
    return Value::Bool(op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0);
  }
  if (op == "+") {
    if (ints) return Value::Int(AsInt(a) + AsInt(b));
    if (nums) return Value::Float(AsDouble(a) + AsDouble(b));
    if (a.is_string() && b.is_string()) return Value::Str(a.s + b.s);
    if (a.kind == Value::Kind::kList && b.kind == Value::Kind::kList) {
      List l = *a.list;
      l.insert(l.end(), b.list->begin(), b.list->end());
      return Value::NewList(std::move(l));
    }
    return type_error();
  }
  if (op == "*" && ((a.is_string() || a.kind == Value::Kind::kList) && IsIntLike(b))) {
    const int64_t n = std::clamp<int64_t>(AsInt(b), 0, 100000);
    if (a.is_string()) {
      std::string o;
      for (int64_t k = 0; k < n; ++k) o += a.s;
      return Value::Str(o);
    }
    List l;
    for (int64_t k = 0; k < n; ++k) l.insert(l.end(), a.list->begin(), a.list->end());
    return Value::NewList(std::move(l));
  }
  if (!nums) {
    if (op == "%" && a.is_string())
      return EvalError(where,
                       "string formatting with '%' is not supported by Folio's template renderer");
    return type_error();
  }
  if (op == "-")
    return ints ? Value::Int(AsInt(a) - AsInt(b)) : Value::Float(AsDouble(a) - AsDouble(b));
  if (op == "*")
    return ints ? Value::Int(AsInt(a) * AsInt(b)) : Value::Float(AsDouble(a) * AsDouble(b));
  if (op == "**") {
    if (ints && AsInt(b) >= 0)
      return Value::Int(static_cast<int64_t>(std::pow(AsInt(a), AsInt(b))));
    return Value::Float(std::pow(AsDouble(a), AsDouble(b)));
  }
  if (AsDouble(b) == 0) return EvalError(where, "division by zero");
  if (op == "/") return Value::Float(AsDouble(a) / AsDouble(b));
  if (op == "//") {
    if (ints) {
      const int64_t q = AsInt(a) / AsInt(b);
      return Value::Int((AsInt(a) % AsInt(b) != 0 && ((AsInt(a) < 0) != (AsInt(b) < 0))) ? q - 1
                                                                                         : q);
    }
    return Value::Float(std::floor(AsDouble(a) / AsDouble(b)));
  }
  if (op == "%") {
    if (ints) {
      const int64_t r = AsInt(a) % AsInt(b);
      return Value::Int((r != 0 && ((r < 0) != (AsInt(b) < 0))) ? r + AsInt(b) : r);
    }
    const double r = std::fmod(AsDouble(a), AsDouble(b));
    return Value::Float((r != 0 && ((r < 0) != (AsDouble(b) < 0))) ? r + AsDouble(b) : r);
  }
  return type_error();
}

Result<Value> GetAttr(const Value& v, const std::string& name, const std::string& where) {
  if (v.kind == Value::Kind::kUndefined)
    return EvalError(where, "'" + (v.s.empty() ? std::string("value") : v.s) +
                                "' is undefined, so it has no attribute '" + name + "'");
  if (const Value* found = v.Find(name)) return *found;
  if (IsMethod(v, name)) {
    Value self = v;
    return Value::Fn([self, name](CallArgs& a) -> Result<Value> {
      return self.is_string() ? StringMethod(self.s, name, a) : DictMethod(self, name, a);
    });
  }
  if (v.kind == Value::Kind::kList &&
      (name == "append" || name == "pop" || name == "extend" || name == "insert"))
    return EvalError(where, "lists cannot be changed in a template ('" + name + "')");
  Value u;
  u.s = name;
  return u;  // missing attribute: undefined, as Jinja
}

Result<Value> GetItem(const Value& v, const Value& key, const std::string& where) {
  if (v.kind == Value::Kind::kUndefined)
    return EvalError(where, "'" + (v.s.empty() ? std::string("value") : v.s) +
                                "' is undefined and cannot be indexed");
  if (v.kind == Value::Kind::kDict) {
    if (!key.is_string()) return Value();
    return GetAttr(v, key.s, where);
  }
  if (v.kind == Value::Kind::kList || v.is_string()) {
    if (!IsIntLike(key))
      return EvalError(where, std::string("index must be an integer, not ") + KindName(key));
    const List chars = v.is_string() ? Characters(v.s) : List();
    const List& items = v.is_string() ? chars : *v.list;
    int64_t i = AsInt(key);
    if (i < 0) i += static_cast<int64_t>(items.size());
    if (i < 0 || i >= static_cast<int64_t>(items.size())) return Value();
    return items[static_cast<size_t>(i)];
  }
  return EvalError(where, std::string("a ") + KindName(v) + " cannot be indexed");
}

Result<Value> Slice(const Value& v, const Value& start, const Value& stop, const Value& step,
                    const std::string& where) {
  if (v.kind != Value::Kind::kList && !v.is_string())
    return EvalError(where, std::string("a ") + KindName(v) + " cannot be sliced");
  const List items = v.is_string() ? Characters(v.s) : *v.list;
  const int64_t n = static_cast<int64_t>(items.size());
  const int64_t st = step.defined() && !step.is_none() ? AsInt(step) : 1;
  if (st == 0) return EvalError(where, "slice step cannot be zero");
  auto bound = [&](const Value& x, int64_t dflt) {
    if (!x.defined() || x.is_none()) return dflt;
    int64_t i = AsInt(x);
    if (i < 0) i += n;
    return st > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t b = bound(start, st > 0 ? 0 : n - 1), e = bound(stop, st > 0 ? n : -1);
  List out;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) out.push_back(items[static_cast<size_t>(i)]);
  if (!v.is_string()) return Value::NewList(std::move(out));
  std::string s;
  for (const Value& c : out) s += c.s;
  return Value::Str(s);
}

Result<List> Iterate(const Value& v, const std::string& where) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return List();
    case Value::Kind::kList:
      return *v.list;
    case Value::Kind::kString:
      return Characters(v.s);
    case Value::Kind::kDict: {
      List keys;
      for (const auto& [k, x] : *v.dict) keys.push_back(Value::Str(k));
      return keys;
    }
    default:
      return EvalError(where, std::string("a ") + KindName(v) + " cannot be iterated");
  }
}

}  // namespace folio::jinja
