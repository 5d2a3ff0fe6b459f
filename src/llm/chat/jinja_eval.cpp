#include "llm/chat/jinja_eval.h"

#include "common/error.h"
#include "llm/chat/jinja_builtins.h"

namespace userllm::llm::jinja {

constexpr int kMaxEvalDepth = 500;   // nested evaluation (expressions, blocks, macro calls together)
constexpr int kMaxMacroDepth = 100;  // macro recursion

struct Frame {
  std::vector<std::pair<std::string, Value>> vars;
  std::shared_ptr<Frame> parent;

  const Value* find(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent.get())
      for (auto& [k, v] : f->vars)
        if (k == name) return &v;
    return nullptr;
  }
  void set(const std::string& name, Value v) {
    for (auto& [k, old] : vars)
      if (k == name) {
        old = std::move(v);
        return;
      }
    vars.emplace_back(name, std::move(v));
  }
};

struct Interp::Depth {
  Interp& in;
  explicit Depth(Interp& i) : in(i) {
    if (++in.depth_ > kMaxEvalDepth) raise("template nested too deeply (recursion?)");
  }
  ~Depth() { in.depth_--; }
};

namespace {
// Makes `child` the current scope until destroyed.
struct ScopeGuard {
  std::shared_ptr<Frame>& slot;
  std::shared_ptr<Frame> saved;
  ScopeGuard(std::shared_ptr<Frame>& s, std::shared_ptr<Frame> child) : slot(s), saved(s) { slot = std::move(child); }
  ~ScopeGuard() { slot = saved; }
};
std::shared_ptr<Frame> child_of(const std::shared_ptr<Frame>& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}
}  // namespace

std::string Interp::render(const Template& t, const std::vector<std::pair<std::string, Value>>& vars) {
  BudgetScope budget;
  Interp in;
  in.frame_ = std::make_shared<Frame>();
  std::string out;
  in.out_ = &out;
  try {
    for (auto& [k, v] : vars) in.frame_->set(k, v);
    in.exec(t.body);
  } catch (const TemplateError& e) {
    fail("chat template: line " + std::to_string(in.line_) + ": " + e.what());
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // bad_alloc, length_error: still one line with the place
    fail("chat template: line " + std::to_string(in.line_) + ": " + e.what());
  }
  return out;
}

Value Interp::call(const Value& callee, Args& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.kind != Kind::Func) raise("'" + type_name(callee) + "' object is not callable");
  return callee.fn->call(*this, args);
}

Value Interp::lookup(const std::string& name) const {
  if (const Value* v = frame_->find(name)) return *v;
  Value g = global(name);
  return g.is_undefined() ? undefined("'" + name + "' is undefined") : g;
}

void Interp::emit(const std::string& s) {
  out_->append(s);
  check_size(out_->size());
}

std::string Interp::capture(const Body& body) {
  std::string buf, *saved = out_;
  out_ = &buf;
  try {
    exec(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

Interp::Flow Interp::exec(const Body& body) {
  for (auto& s : body)
    if (Flow f = exec(*s); f != Flow::Normal) return f;
  return Flow::Normal;
}

Interp::Flow Interp::exec(const Stmt& s) {
  Depth d(*this);
  line_ = s.line;
  charge(1);
  switch (s.kind) {
    case StmtKind::Text: emit(s.text); break;
    case StmtKind::Output: emit(to_str(eval(*s.expr))); break;
    case StmtKind::If: return truthy(eval(*s.expr)) ? exec(s.body) : exec(s.orelse);
    case StmtKind::For: return exec_for(s);
    case StmtKind::Set: assign(*s.target, eval(*s.expr)); break;
    case StmtKind::SetBlock: {
      Value v = text(capture(s.body));
      if (s.expr) block_value_ = v, v = eval(*s.expr);
      line_ = s.line;
      assign(*s.target, v);
      break;
    }
    case StmtKind::FilterBlock:
      block_value_ = text(capture(s.body));
      emit(to_str(eval(*s.expr)));
      break;
    case StmtKind::Macro: frame_->set(s.text, make_macro(s)); break;
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    case StmtKind::With: {
      auto f = child_of(frame_);
      for (auto& [name, e] : s.params) f->vars.emplace_back(name, eval(*e));  // evaluated outside the new scope
      ScopeGuard g(frame_, f);
      return exec(s.body);
    }
    case StmtKind::Scope: {
      ScopeGuard g(frame_, child_of(frame_));
      exec(s.body);
      break;
    }
  }
  return Flow::Normal;
}

Interp::Flow Interp::exec_for(const Stmt& s) {
  List items = iterate(eval(*s.expr));
  if (s.cond) {  // {% for x in xs if cond %}: loop.index and loop.length count the kept items
    List kept;
    for (auto& item : items) {
      ScopeGuard g(frame_, child_of(frame_));
      assign(*s.target, item);
      if (truthy(eval(*s.cond))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    ScopeGuard g(frame_, child_of(frame_));
    return exec(s.orelse);
  }
  auto shared = std::make_shared<const List>(std::move(items));
  for (size_t k = 0; k < shared->size(); k++) {
    if (++budget()->iterations > kMaxIterations)
      raise("too many loop iterations (more than " + std::to_string(kMaxIterations) + ")");
    ScopeGuard g(frame_, child_of(frame_));
    line_ = s.line;
    assign(*s.target, (*shared)[k]);
    Value loop;
    loop.kind = Kind::Loop;
    loop.loop = std::make_shared<const LoopInfo>(LoopInfo{k, shared});
    frame_->set("loop", loop);
    if (exec(s.body) == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interp::assign(const Expr& target, const Value& v) {
  if (target.kind == ExprKind::Name) return frame_->set(target.name, v);
  if (target.kind == ExprKind::Tuple) {
    const List items = iterate(v);
    const size_t n = target.args.size();
    if (items.size() < n)
      raise("not enough values to unpack (expected " + std::to_string(n) + ", got " + std::to_string(items.size()) + ")");
    if (items.size() > n) raise("too many values to unpack (expected " + std::to_string(n) + ")");
    for (size_t k = 0; k < n; k++) assign(*target.args[k], items[k]);
    return;
  }
  // set ns.attr = v
  const Value ns = lookup(target.args[0]->name);
  if (ns.kind != Kind::Namespace) raise("cannot assign attribute on non-namespace object");
  const Value key = text(target.name);
  const Value* old = ns.dict->find(key);
  const Value saved = old ? *old : Value();
  const bool had = old != nullptr;
  ns.dict->set(key, v);
  try {
    nesting(ns);  // refuses values that contain the namespace itself, or nest too deeply
  } catch (...) {
    if (had) ns.dict->set(key, saved);
    else ns.dict->entries.pop_back();
    throw;
  }
}

Value Interp::make_macro(const Stmt& s) {
  std::weak_ptr<Frame> scope = frame_;  // weak: the macro lives in that scope, a strong ref would be a cycle
  Value v;
  v.kind = Kind::Func;
  v.fn = std::make_shared<const Function>(
      Function{s.text, true, [&s, scope](Interp& in, Args& a) { return in.call_macro(s, scope, a); }});
  return v;
}

Value Interp::call_macro(const Stmt& m, const std::weak_ptr<Frame>& scope, Args& a) {
  auto parent = scope.lock();
  if (!parent) raise("macro '" + m.text + "' called outside the scope it was defined in");
  if (macro_depth_ >= kMaxMacroDepth) raise("macro recursion too deep (more than " + std::to_string(kMaxMacroDepth) + ")");
  const std::string who = "macro '" + m.text + "'";
  const size_t np = m.params.size();
  if (a.pos.size() > np && !m.uses_varargs)
    raise(who + " takes not more than " + std::to_string(np) + " argument(s)");
  auto f = child_of(parent);
  std::vector<bool> given(np, false);
  for (size_t k = 0; k < np && k < a.pos.size(); k++) f->vars.emplace_back(m.params[k].first, a.pos[k]), given[k] = true;
  Dict extra_kw;
  for (auto& [key, v] : a.kw) {
    size_t k = 0;
    while (k < np && m.params[k].first != key) k++;
    if (k == np) {
      if (!m.uses_kwargs) raise(who + " takes no keyword argument '" + key + "'");
      extra_kw.set(text(key), v);
      continue;
    }
    if (given[k]) raise(who + " got multiple values for argument '" + key + "'");
    f->vars.emplace_back(key, v), given[k] = true;
  }
  ScopeGuard g(frame_, f);
  for (size_t k = 0; k < np; k++)  // defaults are evaluated in the macro's scope, after the given arguments
    if (!given[k])
      f->set(m.params[k].first, m.params[k].second ? eval(*m.params[k].second)
                                                   : undefined("parameter '" + m.params[k].first + "' was not provided"));
  f->set("varargs", tuple(a.pos.size() > np ? List(a.pos.begin() + long(np), a.pos.end()) : List{}));
  f->set("kwargs", dict(std::move(extra_kw)));
  macro_depth_++;
  struct Leave {
    int& d;
    ~Leave() { d--; }
  } leave{macro_depth_};
  return text(capture(m.body));
}

Args Interp::eval_args(const Expr& e, size_t first) {
  Args a;
  for (size_t k = first; k < e.args.size(); k++) a.pos.push_back(eval(*e.args[k]));
  for (auto& [key, x] : e.kwargs) a.kw.emplace_back(key, eval(*x));
  return a;
}

// eval() keeps no values of its own: each kind's work is in a helper, so deep
// expressions use little stack per level.
Value Interp::eval(const Expr& e) {
  Depth d(*this);
  line_ = e.line;
  charge(1);
  switch (e.kind) {
    case ExprKind::Const: return e.value;
    case ExprKind::Name: return lookup(e.name);
    case ExprKind::List:
    case ExprKind::Tuple:
    case ExprKind::Dict:
    case ExprKind::Concat: return eval_seq(e);
    case ExprKind::Attr:
    case ExprKind::Item:
    case ExprKind::Slice: return eval_access(e);
    case ExprKind::Call:
    case ExprKind::Filter:
    case ExprKind::Test: return eval_call(e);
    case ExprKind::Neg:
    case ExprKind::Pos:
    case ExprKind::Not: return eval_unary(e);
    case ExprKind::And:
    case ExprKind::Or:
    case ExprKind::Binary:
    case ExprKind::Cond: return eval_logic(e);
    case ExprKind::Compare: return eval_compare(e);
  }
  return none();
}

Value Interp::eval_access(const Expr& e) {
  Value obj = eval(*e.args[0]);
  if (e.kind == ExprKind::Attr) {
    line_ = e.line;
    return get_attr(obj, e.name);
  }
  if (e.kind == ExprKind::Item) {
    Value key = eval(*e.args[1]);
    line_ = e.line;
    return get_item(obj, key);
  }
  Value b = e.args[1] ? eval(*e.args[1]) : none(), s = e.args[2] ? eval(*e.args[2]) : none(),
        st = e.args[3] ? eval(*e.args[3]) : none();
  line_ = e.line;
  return slice(obj, b, s, st);
}

Value Interp::eval_logic(const Expr& e) {
  if (e.kind == ExprKind::Cond) {
    if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
    if (e.args[2]) return eval(*e.args[2]);
    return undefined("the inline if-expression on line " + std::to_string(e.line) +
                     " evaluated to false and no else section was defined.");
  }
  Value l = eval(*e.args[0]);
  if (e.kind == ExprKind::And) return truthy(l) ? eval(*e.args[1]) : l;
  if (e.kind == ExprKind::Or) return truthy(l) ? l : eval(*e.args[1]);
  Value r = eval(*e.args[1]);
  line_ = e.line;
  return arith(e.name, l, r);
}

Value Interp::eval_seq(const Expr& e) {
  if (e.kind == ExprKind::Concat) {
    std::string s;
    for (auto& x : e.args) {
      s += to_str(eval(*x));
      check_size(s.size());
    }
    return text(std::move(s));
  }
  if (e.kind == ExprKind::Dict) {
    Dict d;
    for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
      Value key = eval(*e.args[k]);
      d.set(key, eval(*e.args[k + 1]));
    }
    return dict(std::move(d));
  }
  List items;
  for (auto& x : e.args) items.push_back(eval(*x));
  return e.kind == ExprKind::Tuple ? tuple(std::move(items)) : list(std::move(items));
}

Value Interp::eval_call(const Expr& e) {
  if (e.kind == ExprKind::Call) {
    Value callee = eval(*e.args[0]);
    Args a = eval_args(e, 1);
    line_ = e.line;
    return call(callee, a);
  }
  Value subject = e.args[0] ? eval(*e.args[0]) : block_value_;
  Args a = eval_args(e, 1);
  line_ = e.line;
  if (e.kind == ExprKind::Filter) return apply_filter(*this, e.name, subject, a);
  return boolean(apply_test(*this, e.name, subject, a));
}

Value Interp::eval_unary(const Expr& e) {
  Value v = eval(*e.args[0]);
  line_ = e.line;
  if (e.kind == ExprKind::Not) return boolean(!truthy(v));
  if (v.is_undefined()) fail_undefined(v);
  const bool neg = e.kind == ExprKind::Neg;
  if (v.kind == Kind::Float) return number(neg ? -v.f : v.f);
  if (v.is_int()) {
    if (neg && v.as_int() == INT64_MIN) raise("integer overflow");
    return integer(neg ? -v.as_int() : v.as_int());
  }
  raise(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" + type_name(v) + "'");
}

Value Interp::eval_compare(const Expr& e) {
  Value left = eval(*e.args[0]);
  for (size_t k = 0; k < e.ops.size(); k++) {
    Value right = eval(*e.args[k + 1]);
    line_ = e.line;
    const std::string& op = e.ops[k];
    bool ok;
    if (op == "==") ok = equal(left, right);
    else if (op == "!=") ok = !equal(left, right);
    else if (op == "in") ok = contains(right, left);
    else if (op == "notin") ok = !contains(right, left);
    else ok = compare(left, right, op);
    if (!ok) return boolean(false);
    left = std::move(right);
  }
  return boolean(true);
}

}  // namespace userllm::llm::jinja
