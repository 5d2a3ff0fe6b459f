#include "llm/chat/jinja_parser.h"

#include <set>

#include "common/error.h"
#include "llm/chat/jinja_builtins.h"
#include "llm/chat/jinja_lexer.h"

namespace userllm::llm::jinja {
namespace {

constexpr int kMaxParseDepth = 200;  // nesting of expressions and blocks

// Tags jinja2 knows that chat templates have no use for here: refused by name.
const std::set<std::string> kRefusedTags = {"block", "extends", "include", "import", "from", "call", "autoescape", "do"};

struct Parser {
  std::vector<Token> toks;
  size_t pos = 0;
  int depth = 0, loops = 0;
  std::vector<Stmt*> macros;  // enclosing macro definitions, to note uses of varargs/kwargs

  const Token& cur() const { return toks[pos]; }
  const Token& peek(size_t n = 1) const { return toks[std::min(pos + n, toks.size() - 1)]; }

  [[noreturn]] void error(const Token& t, const std::string& what) const {
    fail("chat template: line " + std::to_string(t.line) + " col " + std::to_string(t.col) + ": " + what);
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Text: return "template text";
      case Tok::VarBegin: return "'{{'";
      case Tok::VarEnd: return "end of print statement '}}'";
      case Tok::BlockBegin: return "'{%'";
      case Tok::BlockEnd: return "end of statement block '%}'";
      case Tok::Name: return "'" + t.text + "'";
      case Tok::String: return "string";
      case Tok::Int: return "integer";
      case Tok::Float: return "float";
      case Tok::Op: return "'" + t.text + "'";
      case Tok::Eof: return "end of template";
    }
    return "token";
  }

  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == Tok::Name && cur().text == name; }
  bool skip_op(const char* op) { return is_op(op) ? (pos++, true) : false; }
  bool skip_name(const char* name) { return is_name(name) ? (pos++, true) : false; }
  void expect_op(const char* op) {
    if (!skip_op(op)) error(cur(), std::string("expected '") + op + "', got " + describe(cur()));
  }
  void expect_name(const char* name) {
    if (!skip_name(name)) error(cur(), std::string("expected '") + name + "', got " + describe(cur()));
  }
  std::string expect_identifier() {
    if (cur().type != Tok::Name) error(cur(), "expected a name, got " + describe(cur()));
    return toks[pos++].text;
  }
  void body_start() {  // jinja2 allows `{% for x in y: %}`, `{% else: %}`
    skip_op(":");
    expect_block_end();
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) error(cur(), "expected end of statement block '%}', got " + describe(cur()));
    pos++;
  }

  struct Nest {  // bounds recursion on hostile input
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.depth > kMaxParseDepth) p.error(p.cur(), "template nested too deeply");
    }
    ~Nest() { p.depth--; }
  };

  ExprPtr node(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind, e->line = line;
    return e;
  }
  ExprPtr unary(ExprKind kind, int line, ExprPtr a) {
    auto e = node(kind, line);
    e->args.push_back(std::move(a));
    return e;
  }
  ExprPtr binary(ExprKind kind, int line, ExprPtr a, ExprPtr b, std::string name = "") {
    auto e = node(kind, line);
    e->args.push_back(std::move(a)), e->args.push_back(std::move(b));
    e->name = std::move(name);
    return e;
  }

  // ---- expressions ----

  ExprPtr expression(bool with_cond = true) { return with_cond ? condexpr() : or_expr(); }

  ExprPtr condexpr() {
    Nest n(*this);
    ExprPtr e = or_expr();
    while (is_name("if")) {
      const int line = toks[pos++].line;
      auto c = node(ExprKind::Cond, line);
      ExprPtr test = or_expr();
      ExprPtr other = skip_name("else") ? condexpr() : nullptr;
      c->args.push_back(std::move(e)), c->args.push_back(std::move(test)), c->args.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr or_expr() {
    ExprPtr e = and_expr();
    while (is_name("or")) {
      const int line = toks[pos++].line;
      e = binary(ExprKind::Or, line, std::move(e), and_expr());
    }
    return e;
  }

  ExprPtr and_expr() {
    ExprPtr e = not_expr();
    while (is_name("and")) {
      const int line = toks[pos++].line;
      e = binary(ExprKind::And, line, std::move(e), not_expr());
    }
    return e;
  }

  ExprPtr not_expr() {
    if (is_name("not")) {
      Nest n(*this);
      const int line = toks[pos++].line;
      return unary(ExprKind::Not, line, not_expr());
    }
    return compare();
  }

  ExprPtr compare() {
    const int line = cur().line;
    ExprPtr first = math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op && (is_op("==") || is_op("!=") || is_op("<") || is_op("<=") || is_op(">") || is_op(">=")))
        op = toks[pos++].text;
      else if (skip_name("in"))
        op = "in";
      else if (is_name("not") && peek().type == Tok::Name && peek().text == "in")
        pos += 2, op = "notin";
      else
        break;
      if (!cmp) cmp = node(ExprKind::Compare, line), cmp->args.push_back(std::move(first));
      cmp->ops.push_back(op);
      cmp->args.push_back(math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr math1() {
    ExprPtr e = concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = toks[pos++];
      e = binary(ExprKind::Binary, t.line, std::move(e), concat(), t.text);
    }
    return e;
  }

  ExprPtr concat() {
    const int line = cur().line;
    ExprPtr e = math2();
    if (!is_op("~")) return e;
    auto c = node(ExprKind::Concat, line);
    c->args.push_back(std::move(e));
    while (skip_op("~")) c->args.push_back(math2());
    return c;
  }

  ExprPtr math2() {
    ExprPtr e = pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = toks[pos++];
      e = binary(ExprKind::Binary, t.line, std::move(e), pow(), t.text);
    }
    return e;
  }

  ExprPtr pow() {
    ExprPtr e = unary_expr();
    while (is_op("**")) {
      const int line = toks[pos++].line;
      e = binary(ExprKind::Binary, line, std::move(e), unary_expr(), "**");
    }
    return e;
  }

  ExprPtr unary_expr(bool with_filter = true) {
    Nest n(*this);
    const int line = cur().line;
    ExprPtr e;
    if (skip_op("-")) e = unary(ExprKind::Neg, line, unary_expr(false));
    else if (skip_op("+")) e = unary(ExprKind::Pos, line, unary_expr(false));
    else e = primary();
    e = postfix(std::move(e));
    return with_filter ? filter_expr(std::move(e)) : std::move(e);
  }

  ExprPtr primary() {
    const Token& t = cur();
    auto e = node(ExprKind::Const, t.line);
    switch (t.type) {
      case Tok::Name:
        pos++;
        if (t.text == "true" || t.text == "True") e->value = boolean(true);
        else if (t.text == "false" || t.text == "False") e->value = boolean(false);
        else if (t.text == "none" || t.text == "None") e->value = none();
        else {
          e->kind = ExprKind::Name, e->name = t.text;
          if (t.text == "varargs" || t.text == "kwargs")
            for (Stmt* m : macros) (t.text == "varargs" ? m->uses_varargs : m->uses_kwargs) = true;
        }
        return e;
      case Tok::String: {
        std::string s;
        while (cur().type == Tok::String) s += toks[pos++].text;  // adjacent literals join, as in Python
        e->value = text(std::move(s));
        return e;
      }
      case Tok::Int: e->value = integer(t.i), pos++; return e;
      case Tok::Float: e->value = number(t.f), pos++; return e;
      default: break;
    }
    if (skip_op("(")) {
      ExprPtr inner = tuple(false, true, true);
      expect_op(")");
      return inner;
    }
    if (is_op("[")) return list_literal();
    if (is_op("{")) return dict_literal();
    error(t, "unexpected " + describe(t));
  }

  // jinja2's parse_tuple: a, b, c (a tuple only with a comma).
  ExprPtr tuple(bool simplified, bool with_cond, bool explicit_parens, const char* extra_end = nullptr) {
    const int line = cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      const Tok ty = cur().type;
      if (ty == Tok::VarEnd || ty == Tok::BlockEnd || is_op(")") || (extra_end && is_name(extra_end))) break;
      items.push_back(simplified ? primary() : expression(with_cond));
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) error(cur(), "expected an expression, got " + describe(cur()));
    }
    auto e = node(ExprKind::Tuple, line);
    e->args = std::move(items);
    return e;
  }

  ExprPtr list_literal() {
    auto e = node(ExprKind::List, cur().line);
    expect_op("[");
    while (!is_op("]")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("]")) break;
      e->args.push_back(expression());
    }
    expect_op("]");
    return e;
  }

  ExprPtr dict_literal() {
    auto e = node(ExprKind::Dict, cur().line);
    expect_op("{");
    while (!is_op("}")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("}")) break;
      e->args.push_back(expression());
      expect_op(":");
      e->args.push_back(expression());
    }
    expect_op("}");
    return e;
  }

  ExprPtr postfix(ExprPtr e) {
    while (true) {
      if (is_op(".") || is_op("[")) e = subscript(std::move(e));
      else if (is_op("(")) e = call(std::move(e));
      else return e;
    }
  }

  ExprPtr filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) e = filter(std::move(e));
      else if (is_name("is")) e = test(std::move(e));
      else if (is_op("(")) e = call(std::move(e));
      else return e;
    }
  }

  ExprPtr subscript(ExprPtr obj) {
    const Token& t = toks[pos++];
    if (t.text == ".") {
      const Token& a = cur();
      if (a.type == Tok::Name) {
        pos++;
        auto e = unary(ExprKind::Attr, t.line, std::move(obj));
        e->name = a.text;
        return e;
      }
      if (a.type != Tok::Int) error(a, "expected name or number after '.'");
      pos++;
      auto key = node(ExprKind::Const, a.line);
      key->value = integer(a.i);
      return binary(ExprKind::Item, t.line, std::move(obj), std::move(key));
    }
    std::vector<ExprPtr> keys;
    while (!is_op("]")) {
      if (!keys.empty()) expect_op(",");
      keys.push_back(subscribed(t.line));
    }
    expect_op("]");
    if (keys.size() == 1 && keys[0]->kind == ExprKind::Slice && !keys[0]->args[0]) {
      keys[0]->args[0] = std::move(obj);
      return std::move(keys[0]);
    }
    if (keys.empty()) error(cur(), "expected a subscript");
    for (auto& k : keys)
      if (k->kind == ExprKind::Slice && !k->args[0]) error(cur(), "slices inside a tuple subscript are not supported");
    ExprPtr key;
    if (keys.size() == 1) {
      key = std::move(keys[0]);
    } else {  // x[a, b] subscripts with the tuple (a, b)
      key = node(ExprKind::Tuple, t.line);
      key->args = std::move(keys);
    }
    return binary(ExprKind::Item, t.line, std::move(obj), std::move(key));
  }

  // One subscript: an expression, or a slice (returned with a null object slot).
  ExprPtr subscribed(int line) {
    std::vector<ExprPtr> parts;
    if (skip_op(":")) {
      parts.push_back(nullptr);
    } else {
      ExprPtr e = expression();
      if (!skip_op(":")) return e;
      parts.push_back(std::move(e));
    }
    parts.push_back(is_op(":") || is_op("]") || is_op(",") ? nullptr : expression());
    if (skip_op(":")) parts.push_back(is_op("]") || is_op(",") ? nullptr : expression());
    else parts.push_back(nullptr);
    auto s = node(ExprKind::Slice, line);
    s->args.push_back(nullptr);
    for (auto& p : parts) s->args.push_back(std::move(p));
    return s;
  }

  // (args, name=value); the callee or subject is already in e->args[0].
  void call_args(Expr& e) {
    expect_op("(");
    bool need_comma = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) error(cur(), "*args and **kwargs in calls are not supported");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        std::string key = toks[pos].text;
        pos += 2;
        e.kwargs.emplace_back(std::move(key), expression());
      } else {
        if (!e.kwargs.empty()) error(cur(), "positional argument follows keyword argument");
        e.args.push_back(expression());
      }
      need_comma = true;
    }
    expect_op(")");
  }

  ExprPtr call(ExprPtr callee) {
    auto e = unary(ExprKind::Call, cur().line, std::move(callee));
    call_args(*e);
    return e;
  }

  ExprPtr filter(ExprPtr subject, bool start_inline = false) {
    while (is_op("|") || start_inline) {
      if (!start_inline) pos++;
      start_inline = false;
      const Token& t = cur();
      std::string name = expect_identifier();
      while (skip_op(".")) name += "." + expect_identifier();
      if (!is_filter(name)) error(t, "unknown or unsupported filter '" + name + "'");
      auto e = unary(ExprKind::Filter, t.line, std::move(subject));
      e->name = name;
      if (is_op("(")) call_args(*e);
      subject = std::move(e);
    }
    return subject;
  }

  ExprPtr test(ExprPtr subject) {
    const int line = toks[pos++].line;  // `is`
    const bool negated = skip_name("not");
    const Token& t = cur();
    std::string name = expect_identifier();
    while (skip_op(".")) name += "." + expect_identifier();
    if (!is_test(name)) error(t, "unknown or unsupported test '" + name + "'");
    auto e = unary(ExprKind::Test, line, std::move(subject));
    e->name = name;
    const Tok ty = cur().type;
    if (is_op("(")) {
      call_args(*e);
    } else if ((ty == Tok::Name || ty == Tok::String || ty == Tok::Int || ty == Tok::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) error(cur(), "you cannot chain multiple tests with is");
      e->args.push_back(postfix(primary()));
    }
    return negated ? unary(ExprKind::Not, line, std::move(e)) : std::move(e);
  }

  // Assignment targets: a name, a tuple of targets, or ns.attr where allowed.
  ExprPtr assign_target(bool with_namespace, const char* extra_end = nullptr) {
    if (with_namespace && cur().type == Tok::Name && peek().type == Tok::Op && peek().text == ".") {
      const Token& t = cur();
      auto obj = node(ExprKind::Name, t.line);
      obj->name = toks[pos++].text;
      pos++;
      auto e = unary(ExprKind::Attr, t.line, std::move(obj));
      e->name = expect_identifier();
      return e;
    }
    const Token& t = cur();
    ExprPtr e = tuple(true, true, false, extra_end);
    check_target(*e, t);
    return e;
  }
  void check_target(const Expr& e, const Token& t) const {
    if (e.kind == ExprKind::Tuple)
      for (auto& x : e.args) check_target(*x, t);
    else if (e.kind != ExprKind::Name)
      error(t, "can't assign to " + std::string(e.kind == ExprKind::Const ? "a constant" : "this expression"));
  }

  // ---- statements ----

  bool at_end_tag(std::initializer_list<const char*> ends) const {
    if (cur().type != Tok::BlockBegin || peek().type != Tok::Name) return false;
    for (const char* e : ends)
      if (peek().text == e) return true;
    return false;
  }

  // Statements up to one of the `ends` tags; leaves pos on that tag's name.
  Body statements(std::initializer_list<const char*> ends, const Token& opener) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (ends.size() == 0) return body;
        std::string names;
        for (const char* e : ends) names += std::string(names.empty() ? "" : " or ") + "'" + e + "'";
        error(t, "unexpected end of template: the block opened at line " + std::to_string(opener.line) +
                     " needs " + names);
      }
      if (t.type == Tok::Text) {
        auto s = stmt(StmtKind::Text, t.line);
        s->text = t.text;
        body.push_back(std::move(s));
        pos++;
      } else if (t.type == Tok::VarBegin) {
        pos++;
        auto s = stmt(StmtKind::Output, t.line);
        s->expr = tuple(false, true, false);  // {{ a, b }} prints the tuple
        if (cur().type != Tok::VarEnd) error(cur(), "expected end of print statement '}}', got " + describe(cur()));
        pos++;
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        if (at_end_tag(ends)) {
          pos++;
          return body;
        }
        pos++;
        statement(body);
        expect_block_end();
      } else {
        error(t, "unexpected " + describe(t));
      }
    }
  }

  std::unique_ptr<Stmt> stmt(StmtKind kind, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind, s->line = line;
    return s;
  }

  // Parses the statement whose name is at pos; the caller consumes the final %}.
  void statement(Body& out) {
    Nest n(*this);
    const Token& t = cur();
    if (t.type != Tok::Name) error(t, "tag name expected");
    const std::string name = t.text;
    if (kRefusedTags.count(name)) error(t, "{% " + name + " %} is not supported");
    pos++;
    if (name == "if") return out.push_back(if_stmt(t));
    if (name == "for") return out.push_back(for_stmt(t));
    if (name == "set") return out.push_back(set_stmt(t));
    if (name == "macro") return out.push_back(macro_stmt(t));
    if (name == "break" || name == "continue") {
      if (loops == 0) error(t, "'" + name + "' outside of a loop");
      return out.push_back(stmt(name == "break" ? StmtKind::Break : StmtKind::Continue, t.line));
    }
    if (name == "print") {  // {% print a, b %}: each expression in turn
      for (bool first = true; cur().type != Tok::BlockEnd; first = false) {
        if (!first) expect_op(",");
        auto s = stmt(StmtKind::Output, t.line);
        s->expr = expression();
        out.push_back(std::move(s));
      }
      return;
    }
    if (name == "with") {
      auto s = stmt(StmtKind::With, t.line);
      while (cur().type != Tok::BlockEnd) {
        if (!s->params.empty()) expect_op(",");
        std::string var = expect_identifier();
        expect_op("=");
        s->params.emplace_back(var, expression());
      }
      s->body = block({"endwith"}, t);
      return out.push_back(std::move(s));
    }
    if (name == "filter") {
      auto s = stmt(StmtKind::FilterBlock, t.line);
      s->expr = filter(nullptr, true);
      s->body = block({"endfilter"}, t);
      return out.push_back(std::move(s));
    }
    if (name == "generation") {  // HF's AssistantTracker tag: renders its body unchanged
      auto s = stmt(StmtKind::Scope, t.line);
      s->body = block({"endgeneration"}, t);
      return out.push_back(std::move(s));
    }
    error(t, "unknown tag '" + name + "'");
  }

  // %} body {% end %}: leaves pos on the final %}.
  Body block(std::initializer_list<const char*> ends, const Token& opener) {
    body_start();
    Body body = statements(ends, opener);
    pos++;  // the end tag's name
    return body;
  }

  std::unique_ptr<Stmt> if_stmt(const Token& t) {
    auto s = stmt(StmtKind::If, t.line);
    s->expr = tuple(false, false, false);
    body_start();
    s->body = statements({"elif", "else", "endif"}, t);
    const std::string end = toks[pos++].text;
    if (end == "elif") {
      s->orelse.push_back(if_stmt(toks[pos - 1]));
      return s;  // the nested if consumed up to endif
    }
    if (end == "else") s->orelse = block({"endif"}, t);
    return s;
  }

  std::unique_ptr<Stmt> for_stmt(const Token& t) {
    auto s = stmt(StmtKind::For, t.line);
    s->target = assign_target(false, "in");
    expect_name("in");
    s->expr = tuple(false, false, false, "recursive");
    if (skip_name("if")) s->cond = expression();
    if (is_name("recursive")) error(cur(), "recursive loops are not supported");
    body_start();
    loops++;
    s->body = statements({"endfor", "else"}, t);
    loops--;
    if (toks[pos++].text == "else") s->orelse = block({"endfor"}, t);
    return s;
  }

  std::unique_ptr<Stmt> set_stmt(const Token& t) {
    auto s = stmt(StmtKind::Set, t.line);
    s->target = assign_target(true);
    if (skip_op("=")) {
      s->expr = tuple(false, true, false);
      return s;
    }
    s->kind = StmtKind::SetBlock;
    if (s->target->kind == ExprKind::Attr) error(t, "block set on a namespace attribute is not supported");
    if (is_op("|")) s->expr = filter(nullptr);
    s->body = block({"endset"}, t);
    return s;
  }

  std::unique_ptr<Stmt> macro_stmt(const Token& t) {
    auto s = stmt(StmtKind::Macro, t.line);
    s->text = expect_identifier();
    expect_op("(");
    while (!is_op(")")) {
      if (!s->params.empty()) expect_op(",");
      const Token& p = cur();
      std::string param = expect_identifier();
      ExprPtr def = skip_op("=") ? expression() : nullptr;
      if (!def && !s->params.empty() && s->params.back().second) error(p, "non-default argument follows default argument");
      s->params.emplace_back(param, std::move(def));
    }
    expect_op(")");
    macros.push_back(s.get());
    const int outer_loops = loops;
    loops = 0;  // break/continue cannot cross a macro
    s->body = block({"endmacro"}, t);
    loops = outer_loops;
    macros.pop_back();
    return s;
  }
};

}  // namespace

Template parse(const std::string& source) {
  Parser p;
  p.toks = tokenize(source);
  Template t;
  static const Token start{Tok::Eof, ""};
  t.body = p.statements({}, start);
  if (p.cur().type != Tok::Eof) p.error(p.cur(), "unexpected " + Parser::describe(p.cur()));
  return t;
}

}  // namespace userllm::llm::jinja
