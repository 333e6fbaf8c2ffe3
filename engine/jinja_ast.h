// Internal to the Jinja subset (jinja_parse.cpp builds it, jinja_eval.cpp walks it).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/jinja.h"

namespace folio::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  enum class Type : uint8_t {
    kLiteral,  // literal
    kName,     // name
    kList,     // args
    kTuple,    // args
    kDict,     // kwargs-like pairs in `pairs`
    kAttr,     // args[0].name
    kIndex,    // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (null = omitted)
    kCall,     // args[0](args[1..], kwargs, *star)
    kFilter,   // args[0]|name(args[1..], kwargs)
    kTest,     // args[0] is [not] name(args[1..])
    kUnary,    // name in {"-", "+", "not"}
    kBinary,   // args[0] name args[1]: + - * / // % ** ~ == != < <= > >= in "not in"
    kAnd,
    kOr,
    kCond,  // args[0] if args[1] else args[2] (null = undefined)
  };
  Type type = Type::kLiteral;
  int line = 0, col = 0;
  Value literal;
  std::string name;
  bool negated = false;  // `is not`
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::pair<ExprPtr, ExprPtr>> pairs;  // dict literal
  ExprPtr star;                                    // *list in a call
};

struct Node;
using NodePtr = std::shared_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Type : uint8_t {
    kText,
    kOutput,
    kIf,
    kFor,
    kSet,
    kSetBlock,
    kMacro,
    kBreak,
    kContinue,
    kBlock
  };
  Type type = Type::kText;
  int line = 0, col = 0;
  std::string text;                                // kText
  ExprPtr expr;                                    // output, set value, for iterable
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: (condition, body); else has null
  std::vector<std::string> targets;                // for: loop names; set/macro: name
  std::string attr;                                // set ns.attr = ...
  ExprPtr cond;                                    // for ... if cond
  Body body, else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro (default may be null)
};

std::string Where(int line, int col);
// What the evaluator implements, so the parser can refuse the rest up front.
bool IsKnownFilter(const std::string& name);
bool IsKnownTest(const std::string& name);
// Values, filters and tests (jinja_value.cpp). `where` is "line L, column C".
Status EvalError(const std::string& where, const std::string& what);
bool Equal(const Value& a, const Value& b);
Result<Value> BinaryOp(const std::string& op, const Value& a, const Value& b,
                       const std::string& where);
Result<Value> GetAttr(const Value& v, const std::string& name, const std::string& where);
Result<Value> GetItem(const Value& v, const Value& key, const std::string& where);
Result<Value> Slice(const Value& v, const Value& start, const Value& stop, const Value& step,
                    const std::string& where);
Result<Value> ApplyFilter(const std::string& name, const Value& in, CallArgs& args);
Result<bool> ApplyTest(const std::string& name, const Value& in, CallArgs& args);
// Items a for loop visits: list items, dict keys, string characters.
Result<List> Iterate(const Value& v, const std::string& where);
// The globals every template sees: raise_exception, range, namespace, dict.
void AddGlobals(Dict* globals);
// Helpers shared by jinja_value.cpp and jinja_filters.cpp.
namespace detail {
const char* KindName(const Value& v);
double AsDouble(const Value& v);
bool IsIntLike(const Value& v);
int64_t AsInt(const Value& v);
List Characters(const std::string& s);  // UTF-8 characters
std::string Strip(const std::string& s, const std::string& chars, bool left, bool right);
std::string Title(const std::string& s, bool only_first);
std::string Lower(std::string s, bool upper);
// Argument i (positional) or `name` (keyword), or `fallback`.
Value Arg(const CallArgs& a, size_t i, const char* name, Value fallback = {});
Result<Value> StringMethod(const std::string& s, const std::string& name, CallArgs& a);
Result<Value> DictMethod(const Value& d, const std::string& name, CallArgs& a);
}  // namespace detail
// Renders a parsed body (jinja_eval.cpp).
Result<std::string> RenderBody(const Body& body, const Value& context);

}  // namespace folio::jinja
