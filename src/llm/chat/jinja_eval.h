// Runs a parsed template. Scoping follows jinja2: each loop iteration, macro
// call and {% with %} gets a fresh scope (so `set` inside a loop does not leak
// out; namespace() is the way out), `if` does not.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llm/chat/jinja_parser.h"

namespace userllm::llm::jinja {

struct Frame;

class Interp {
 public:
  // Renders t with these top-level variables; fails (userllm::Error) with
  // "chat template: line L: ..." when the template raises or misbehaves.
  static std::string render(const Template& t, const std::vector<std::pair<std::string, Value>>& vars);

  Value call(const Value& callee, Args& args);

 private:
  enum class Flow { Normal, Break, Continue };
  struct Depth;

  Flow exec(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_for(const Stmt& s);
  std::string capture(const Body& body);
  void emit(const std::string& s);
  void assign(const Expr& target, const Value& v);
  Value make_macro(const Stmt& s);
  Value call_macro(const Stmt& m, const std::weak_ptr<Frame>& scope, Args& args);

  Value eval(const Expr& e);
  Value eval_seq(const Expr& e);
  Value eval_access(const Expr& e);
  Value eval_logic(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_unary(const Expr& e);
  Value eval_compare(const Expr& e);
  Args eval_args(const Expr& e, size_t first);
  Value lookup(const std::string& name) const;

  std::shared_ptr<Frame> frame_;
  std::string* out_ = nullptr;
  Value block_value_;  // the body text a {% filter %} or {% set %} block filters
  int line_ = 0, depth_ = 0, macro_depth_ = 0;
};

}  // namespace userllm::llm::jinja
