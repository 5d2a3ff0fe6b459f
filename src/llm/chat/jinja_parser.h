// The syntax tree of a template and jinja2's grammar for it (same precedence,
// same quirks: `is` tests and filters bind tighter than arithmetic, `**` is
// left-associative, `a if c` without else gives Undefined).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llm/chat/jinja_value.h"

namespace userllm::llm::jinja {

enum class ExprKind { Const, Name, List, Tuple, Dict, Attr, Item, Slice, Call, Filter, Test, Neg, Pos, Not, And, Or,
                      Binary, Compare, Concat, Cond };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// Operands by kind: List, Tuple, Concat: the elements; Dict: key, value, key, value...;
// Attr: object (name: the attribute); Item: object, key; Slice: object, start, stop, step
// (null where absent); Call: callee, positional args; Filter, Test: subject (null in
// {% filter %} and {% set %} blocks), positional args (name: the filter or test);
// Neg, Pos, Not: operand; And, Or, Binary: left, right (name: + - * / // % **);
// Compare: operands (ops: == != < <= > >= in notin between them); Cond: then, test, else (may be null).
struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;  // Const
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

enum class StmtKind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, FilterBlock, With, Scope };

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

// If: expr is the test, body/orelse the branches (elif: an If alone in orelse). For: target
// in expr (filtered by cond), body, orelse for an empty loop. Set: target = expr. SetBlock:
// target = body's output through expr (a filter chain or null). FilterBlock: body through expr.
// Macro: text is the name, params its parameters with defaults (null if none). With: params
// are assignments. Scope: body in a scope of its own (HF's {% generation %}).
struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;
  ExprPtr expr, target, cond;
  Body body, orelse;
  std::vector<std::pair<std::string, ExprPtr>> params;
  bool uses_varargs = false, uses_kwargs = false;  // Macro
};

struct Template {
  Body body;
};

// Fails with "chat template: line L col C: what was expected" on a syntax error, and
// names the construct when the template uses one this interpreter refuses.
Template parse(const std::string& source);

}  // namespace userllm::llm::jinja
