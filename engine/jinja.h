// A Jinja2 subset, enough for the chat templates published with Jamba (v0.1, 1.5, 1.6,
// 1.7) and Mixtral checkpoints, rendered as Hugging Face transformers renders them
// (trim_blocks and lstrip_blocks on, tojson keeping key order and non-ASCII text).
//
// Supported: text, {{ expr }}, {# comments #}, whitespace control (-) and (+);
// {% if/elif/else %}, {% for a[, b] in xs [if cond] %}...{% else %}, loop.index/index0/
// first/last/length/revindex/revindex0, {% break %}, {% continue %}, {% set x = e %},
// {% set ns.attr = e %}, {% set x %}...{% endset %}, {% macro name(a, b=default) %} and
// calls with keyword and *list arguments, {% generation %}; literals (strings, numbers,
// true/false/none in both spellings, lists, dicts, tuples), names, .attr, [index],
// [a:b:c] slices, calls, filters (|f and |f(args)), tests (is [not] t), + - * / // % **,
// ~, comparisons, in / not in, and/or/not, `x if c else y`; the globals
// raise_exception, range, namespace, dict; string/dict methods (strip, split, items, get,
// ...). Anything else is an error that names the construct and its line and column, at
// parse time where the construct is visible then (an unknown tag, filter or test), never
// a silently wrong prompt.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/status.h"

namespace folio::jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as Python
struct CallArgs;
using Function = std::function<Result<Value>(CallArgs&)>;

// A Jinja/Python value. Lists and dicts are shared (Python reference semantics);
// a namespace is a dict whose attributes may be assigned with {% set ns.x = ... %}.
struct Value {
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kFunction
  };
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<Function> fn;
  bool is_namespace = false;

  static Value None() { return Make(Kind::kNone); }
  static Value Bool(bool v) {
    Value x = Make(Kind::kBool);
    x.b = v;
    return x;
  }
  static Value Int(int64_t v) {
    Value x = Make(Kind::kInt);
    x.i = v;
    return x;
  }
  static Value Float(double v) {
    Value x = Make(Kind::kFloat);
    x.f = v;
    return x;
  }
  static Value Str(std::string v) {
    Value x = Make(Kind::kString);
    x.s = std::move(v);
    return x;
  }
  static Value NewList(List v = {}) {
    Value x = Make(Kind::kList);
    x.list = std::make_shared<List>(std::move(v));
    return x;
  }
  static Value NewDict(Dict v = {}) {
    Value x = Make(Kind::kDict);
    x.dict = std::make_shared<Dict>(std::move(v));
    return x;
  }
  static Value Fn(Function f) {
    Value x = Make(Kind::kFunction);
    x.fn = std::make_shared<Function>(std::move(f));
    return x;
  }

  bool defined() const { return kind != Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  // Dict lookup; nullptr when absent or not a dict.
  const Value* Find(std::string_view key) const;
  // Adds or replaces a key (dicts only).
  void Set(const std::string& key, Value v);

 private:
  static Value Make(Kind k) {
    Value x;
    x.kind = k;
    return x;
  }
};

// Arguments of a call: positional then keyword, as written.
struct CallArgs {
  List positional;
  Dict keyword;
  std::string where;  // "line 3, column 7", for messages
};

// Python's truthiness, str() and repr() of a value, and JSON text (tojson).
bool Truthy(const Value& v);
std::string ToStr(const Value& v);
std::string Repr(const Value& v);
// JSON with Python's json.dumps spacing: ", " and ": " on one line, or `indent` spaces
// per level; keys in insertion order; non-ASCII kept as is.
std::string ToJson(const Value& v, int indent = -1);
// Converts JSON text to a Value; Corrupt on malformed input.
Result<Value> FromJsonText(const std::string& json_text);

struct Node;
// A parsed template. Parse errors name the construct and its line and column.
class Template {
 public:
  static Result<std::shared_ptr<const Template>> Parse(std::string_view source);
  // Renders with `context` (a dict: messages, bos_token, add_generation_prompt, ...).
  // raise_exception(msg) in the template becomes an InvalidArgument carrying msg.
  Result<std::string> Render(const Value& context) const;
  ~Template();

 private:
  Template() = default;
  std::vector<std::shared_ptr<Node>> body_;
};

}  // namespace folio::jinja
