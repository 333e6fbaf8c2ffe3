// Jinja subset: walking the AST with Jinja's scoping (a for loop and a macro call open a
// scope; if does not; namespaces carry values out of loops).
#include <unordered_map>

#include "engine/jinja_ast.h"

namespace folio::jinja {
namespace {

constexpr size_t kMaxOutput = 64u << 20;  // bytes of rendered text
constexpr int kMaxCallDepth = 64;         // macro calls within macro calls

struct Scope {
  std::unordered_map<std::string, Value> vars;
  Scope* parent = nullptr;
  Value* Lookup(const std::string& name) {
    for (Scope* s = this; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow : uint8_t { kNormal, kBreak, kContinue };

class Renderer {
 public:
  explicit Renderer(const Value& context) {
    Dict globals;
    AddGlobals(&globals);
    for (auto& [k, v] : globals) root_.vars[k] = v;
    if (context.kind == Value::Kind::kDict)
      for (const auto& [k, v] : *context.dict) root_.vars[k] = v;
  }

  Status Run(const Body& body, std::string* out) {
    Flow flow = Flow::kNormal;
    return Exec(body, &root_, out, &flow);
  }

 private:
  Status Exec(const Body& body, Scope* scope, std::string* out, Flow* flow) {
    for (const NodePtr& n : body) {
      FOLIO_RETURN_IF_ERROR(ExecNode(*n, scope, out, flow));
      if (*flow != Flow::kNormal) return Status::Ok();
      if (out->size() > kMaxOutput)
        return ResourceExhausted("chat template output is larger than 64 MB");
    }
    return Status::Ok();
  }

  Status ExecNode(const Node& n, Scope* scope, std::string* out, Flow* flow) {
    switch (n.type) {
      case Node::Type::kText:
        *out += n.text;
        return Status::Ok();
      case Node::Type::kOutput: {
        FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*n.expr, scope));
        *out += ToStr(v);
        return Status::Ok();
      }
      case Node::Type::kIf:
        for (const auto& [cond, body] : n.branches) {
          bool take = true;
          if (cond) {
            FOLIO_ASSIGN_OR_RETURN(Value c, Eval(*cond, scope));
            take = Truthy(c);
          }
          if (take) return Exec(body, scope, out, flow);
        }
        return Status::Ok();
      case Node::Type::kFor:
        return ExecFor(n, scope, out);
      case Node::Type::kSet:
        return ExecSet(n, scope);
      case Node::Type::kSetBlock: {
        std::string captured;
        Flow inner = Flow::kNormal;
        FOLIO_RETURN_IF_ERROR(Exec(n.body, scope, &captured, &inner));
        scope->vars[n.targets[0]] = Value::Str(captured);
        return Status::Ok();
      }
      case Node::Type::kMacro:
        scope->vars[n.targets[0]] = MakeMacro(n);
        return Status::Ok();
      case Node::Type::kBreak:
        *flow = Flow::kBreak;
        return Status::Ok();
      case Node::Type::kContinue:
        *flow = Flow::kContinue;
        return Status::Ok();
      case Node::Type::kBlock:
        return Exec(n.body, scope, out, flow);
    }
    return Internal("unknown template node");
  }

  Status ExecSet(const Node& n, Scope* scope) {
    FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*n.expr, scope));
    if (n.attr.empty()) {
      scope->vars[n.targets[0]] = v;
      return Status::Ok();
    }
    Value* ns = scope->Lookup(n.targets[0]);
    if (!ns || !ns->is_namespace)
      return EvalError(Where(n.line, n.col), "'" + n.targets[0] + "' is not a namespace(), so '" +
                                                 n.targets[0] + "." + n.attr + "' cannot be set");
    ns->Set(n.attr, v);
    return Status::Ok();
  }

  Status ExecFor(const Node& n, Scope* scope, std::string* out) {
    const std::string where = Where(n.line, n.col);
    FOLIO_ASSIGN_OR_RETURN(Value seq, Eval(*n.expr, scope));
    FOLIO_ASSIGN_OR_RETURN(List items, Iterate(seq, where));
    Scope inner{{}, scope};
    if (n.cond) {  // `for x in xs if cond`: filtered before loop.* is computed
      List kept;
      for (const Value& item : items) {
        FOLIO_RETURN_IF_ERROR(Bind(n, item, &inner, where));
        FOLIO_ASSIGN_OR_RETURN(Value c, Eval(*n.cond, &inner));
        if (Truthy(c)) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t k = 0; k < len; ++k) {
      Scope body_scope{{}, scope};
      FOLIO_RETURN_IF_ERROR(Bind(n, items[static_cast<size_t>(k)], &body_scope, where));
      Value loop = Value::NewDict();
      loop.Set("index0", Value::Int(k));
      loop.Set("index", Value::Int(k + 1));
      loop.Set("revindex", Value::Int(len - k));
      loop.Set("revindex0", Value::Int(len - k - 1));
      loop.Set("first", Value::Bool(k == 0));
      loop.Set("last", Value::Bool(k == len - 1));
      loop.Set("length", Value::Int(len));
      loop.Set("previtem", k > 0 ? items[static_cast<size_t>(k - 1)] : Value());
      loop.Set("nextitem", k + 1 < len ? items[static_cast<size_t>(k + 1)] : Value());
      body_scope.vars["loop"] = loop;
      Flow flow = Flow::kNormal;
      FOLIO_RETURN_IF_ERROR(Exec(n.body, &body_scope, out, &flow));
      if (flow == Flow::kBreak) break;
    }
    if (len == 0) {
      Flow flow = Flow::kNormal;
      FOLIO_RETURN_IF_ERROR(Exec(n.else_body, scope, out, &flow));
    }
    return Status::Ok();
  }

  // Binds the loop target(s): `x` or `k, v` (the item must then have that many parts).
  Status Bind(const Node& n, const Value& item, Scope* s, const std::string& where) {
    if (n.targets.size() == 1) {
      s->vars[n.targets[0]] = item;
      return Status::Ok();
    }
    if (item.kind != Value::Kind::kList || item.list->size() != n.targets.size())
      return EvalError(
          where, "cannot unpack a loop item into " + std::to_string(n.targets.size()) + " names");
    for (size_t k = 0; k < n.targets.size(); ++k) s->vars[n.targets[k]] = (*item.list)[k];
    return Status::Ok();
  }

  Value MakeMacro(const Node& n) {
    const Node* node = &n;
    return Value::Fn([this, node](CallArgs& a) -> Result<Value> {
      if (++depth_ > kMaxCallDepth) {
        --depth_;
        return EvalError(a.where, "macros call each other too deeply");
      }
      auto r = CallMacro(*node, a);
      --depth_;
      return r;
    });
  }

  Result<Value> CallMacro(const Node& n, CallArgs& a) {
    Scope frame{{}, &root_};
    const auto& params = n.params;
    if (a.positional.size() > params.size())
      return EvalError(a.where, "macro '" + n.targets[0] + "' takes " +
                                    std::to_string(params.size()) + " arguments");
    for (size_t k = 0; k < params.size(); ++k) {
      if (k < a.positional.size()) {
        frame.vars[params[k].first] = a.positional[k];
      } else if (params[k].second) {
        FOLIO_ASSIGN_OR_RETURN(frame.vars[params[k].first], Eval(*params[k].second, &frame));
      } else {
        Value u;
        u.s = params[k].first;
        frame.vars[params[k].first] = u;
      }
    }
    for (const auto& [name, v] : a.keyword) {
      bool known = false;
      for (const auto& p : params) known = known || p.first == name;
      if (!known)
        return EvalError(a.where, "macro '" + n.targets[0] + "' has no parameter '" + name + "'");
      frame.vars[name] = v;
    }
    std::string out;
    Flow flow = Flow::kNormal;
    FOLIO_RETURN_IF_ERROR(Exec(n.body, &frame, &out, &flow));
    return Value::Str(out);
  }

  Result<CallArgs> EvalArgs(const Expr& e, size_t first, Scope* s) {
    CallArgs a{{}, {}, Where(e.line, e.col)};
    for (size_t k = first; k < e.args.size(); ++k) {
      FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*e.args[k], s));
      a.positional.push_back(v);
    }
    if (e.star) {
      FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*e.star, s));
      FOLIO_ASSIGN_OR_RETURN(List items, Iterate(v, a.where));
      a.positional.insert(a.positional.end(), items.begin(), items.end());
    }
    for (const auto& [name, x] : e.kwargs) {
      FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*x, s));
      a.keyword.emplace_back(name, v);
    }
    return a;
  }

  Result<Value> Eval(const Expr& e, Scope* s) {
    const std::string where = Where(e.line, e.col);
    switch (e.type) {
      case Expr::Type::kLiteral:
        return e.literal;
      case Expr::Type::kName: {
        if (Value* v = s->Lookup(e.name)) return *v;
        Value u;
        u.s = e.name;
        return u;
      }
      case Expr::Type::kList:
      case Expr::Type::kTuple: {
        Value l = Value::NewList();
        for (const auto& x : e.args) {
          FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*x, s));
          l.list->push_back(v);
        }
        return l;
      }
      case Expr::Type::kDict: {
        Value d = Value::NewDict();
        for (const auto& [k, x] : e.pairs) {
          FOLIO_ASSIGN_OR_RETURN(Value key, Eval(*k, s));
          if (!key.is_string()) return EvalError(where, "dict keys must be strings");
          FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*x, s));
          d.Set(key.s, v);
        }
        return d;
      }
      case Expr::Type::kAttr: {
        FOLIO_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], s));
        return GetAttr(obj, e.name, where);
      }
      case Expr::Type::kIndex: {
        FOLIO_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], s));
        FOLIO_ASSIGN_OR_RETURN(Value key, Eval(*e.args[1], s));
        return GetItem(obj, key, where);
      }
      case Expr::Type::kSlice: {
        FOLIO_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], s));
        Value parts[3];
        for (int k = 0; k < 3; ++k)
          if (e.args[static_cast<size_t>(k) + 1]) {
            FOLIO_ASSIGN_OR_RETURN(parts[k], Eval(*e.args[static_cast<size_t>(k) + 1], s));
          }
        return Slice(obj, parts[0], parts[1], parts[2], where);
      }
      case Expr::Type::kCall: {
        FOLIO_ASSIGN_OR_RETURN(Value fn, Eval(*e.args[0], s));
        if (fn.kind != Value::Kind::kFunction) {
          const std::string name = e.args[0]->type == Expr::Type::kName   ? e.args[0]->name
                                   : e.args[0]->type == Expr::Type::kAttr ? e.args[0]->name
                                                                          : "value";
          if (!fn.defined())
            return EvalError(where,
                             "'" + name + "' is not a function Folio's template renderer knows");
          return EvalError(where, "'" + name + "' cannot be called");
        }
        FOLIO_ASSIGN_OR_RETURN(CallArgs a, EvalArgs(e, 1, s));
        return (*fn.fn)(a);
      }
      case Expr::Type::kFilter: {
        FOLIO_ASSIGN_OR_RETURN(Value in, Eval(*e.args[0], s));
        FOLIO_ASSIGN_OR_RETURN(CallArgs a, EvalArgs(e, 1, s));
        return ApplyFilter(e.name, in, a);
      }
      case Expr::Type::kTest: {
        FOLIO_ASSIGN_OR_RETURN(Value in, Eval(*e.args[0], s));
        FOLIO_ASSIGN_OR_RETURN(CallArgs a, EvalArgs(e, 1, s));
        FOLIO_ASSIGN_OR_RETURN(bool r, ApplyTest(e.name, in, a));
        return Value::Bool(r != e.negated);
      }
      case Expr::Type::kUnary: {
        FOLIO_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0], s));
        if (e.name == "not") return Value::Bool(!Truthy(v));
        if (e.name == "+") return BinaryOp("+", Value::Int(0), v, where);
        return BinaryOp("-", Value::Int(0), v, where);
      }
      case Expr::Type::kBinary: {
        FOLIO_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], s));
        FOLIO_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1], s));
        return BinaryOp(e.name, a, b, where);
      }
      case Expr::Type::kAnd:
      case Expr::Type::kOr: {  // Python: returns an operand, not a bool
        FOLIO_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], s));
        if (Truthy(a) == (e.type == Expr::Type::kOr)) return a;
        return Eval(*e.args[1], s);
      }
      case Expr::Type::kCond: {
        FOLIO_ASSIGN_OR_RETURN(Value c, Eval(*e.args[1], s));
        if (Truthy(c)) return Eval(*e.args[0], s);
        if (e.args[2]) return Eval(*e.args[2], s);
        return Value();
      }
    }
    return Internal("unknown template expression");
  }

  Scope root_;
  int depth_ = 0;
};

}  // namespace

Result<std::string> RenderBody(const Body& body, const Value& context) {
  Renderer r(context);
  std::string out;
  FOLIO_RETURN_IF_ERROR(r.Run(body, &out));
  return out;
}

}  // namespace folio::jinja
