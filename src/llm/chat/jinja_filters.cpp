// jinja2's builtin filters and tests (with HF's tojson), and the globals HF's
// environment has. Each follows jinja2 3.1's Python code; comments note where
// the Python result is a one-pass iterator (see Kind::Iter).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "llm/chat/jinja_builtins.h"
#include "llm/chat/jinja_eval.h"
#include "llm/chat/jinja_json.h"
#include "llm/chat/jinja_text.h"

namespace userllm::llm::jinja {
namespace {

using FilterFn = Value (*)(Interp&, const Value&, const Args&);
using TestFn = bool (*)(Interp&, const Value&, const Args&);
using Params = std::vector<std::optional<Value>>;

Params params(const char* filter, const Args& a, std::initializer_list<const char*> names, size_t required = 0) {
  return bind_args(std::string("filter '") + filter + "'", a, names, required);
}
bool flag(const std::optional<Value>& v) { return v && truthy(*v); }
bool reverse_flag(const std::optional<Value>& v) {  // Python's sorted(reverse=...) wants an int
  if (v && !v->is_int()) raise("'" + type_name(*v) + "' object cannot be interpreted as an integer");
  return flag(v);
}
int64_t int_param(const std::optional<Value>& v, int64_t def) {
  if (!v) return def;
  if (!v->is_int()) raise("an integer is required, not " + type_name(*v));
  return v->as_int();
}
Value str_of(const Value& v) { return v.is_str() ? v : text(to_str(v)); }

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0 (digits are indexes).
Value attr_path(const Value& item, const Value& attribute, const std::optional<Value>& def = std::nullopt) {
  std::vector<Value> parts;
  if (attribute.is_str()) {
    for (auto& p : py_split(attribute.str(), std::string("."), -1))
      parts.push_back(!p.empty() && std::all_of(p.begin(), p.end(), ::isdigit) ? integer(std::stoll(p)) : text(p));
  } else {
    parts.push_back(attribute);
  }
  Value v = item;
  for (auto& p : parts) {
    v = get_item(v, p);
    if (def && v.is_undefined()) v = *def;
  }
  return v;
}
Value fold_case(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_str() ? text(py_lower(v.str())) : v;
}

Value f_abs(Interp&, const Value& v, const Args& a) {
  params("abs", a, {});
  if (v.kind == Kind::Float) return number(std::fabs(v.f));
  if (v.is_int()) {
    if (v.as_int() == INT64_MIN) raise("integer overflow");
    return integer(std::llabs(v.as_int()));
  }
  raise("bad operand type for abs(): '" + type_name(v) + "'");
}
Value f_attr(Interp&, const Value& v, const Args& a) {
  auto p = params("attr", a, {"name"}, 1);
  return get_attr(v, to_str(*p[0]), false);
}
Value f_batch(Interp&, const Value& v, const Args& a) {
  auto p = params("batch", a, {"linecount", "fill_with"}, 1);
  const int64_t n = int_param(p[0], 1);
  if (n <= 0) raise("batch size must be positive");
  List out, cur;
  for (auto& x : iterate(v)) {
    cur.push_back(x);
    if (int64_t(cur.size()) == n) out.push_back(list(std::move(cur))), cur.clear();
  }
  if (!cur.empty()) {
    while (p[1] && !p[1]->is_none() && int64_t(cur.size()) < n) cur.push_back(*p[1]);
    out.push_back(list(std::move(cur)));
  }
  return iterator(std::move(out));  // a generator in jinja2
}
Value f_capitalize(Interp&, const Value& v, const Args& a) { return params("capitalize", a, {}), text(py_capitalize(to_str(v))); }
Value f_center(Interp&, const Value& v, const Args& a) {
  auto p = params("center", a, {"width"});
  const int64_t width = int_param(p[0], 80);
  if (width > int64_t(kMaxString)) check_size(size_t(width));
  return text(py_center(to_str(v), width));
}
Value f_default(Interp&, const Value& v, const Args& a) {
  auto p = params("default", a, {"default_value", "boolean"});
  if (v.is_undefined() || (flag(p[1]) && !truthy(v))) return p[0] ? *p[0] : text("");
  return v;
}
Value f_dictsort(Interp&, const Value& v, const Args& a) {
  auto p = params("dictsort", a, {"case_sensitive", "by", "reverse"});
  if (v.kind != Kind::Dict) raise("dictsort needs a mapping, not " + type_name(v));
  const std::string by = p[1] ? to_str(*p[1]) : "key";
  if (by != "key" && by != "value") raise("You can only sort by either \"key\" or \"value\"");
  auto entries = v.dict->entries;
  const bool cs = flag(p[0]), rev = reverse_flag(p[2]);
  auto key = [&](const std::pair<Value, Value>& e) { return fold_case(by == "key" ? e.first : e.second, cs); };
  std::stable_sort(entries.begin(), entries.end(), [&](auto& x, auto& y) {
    return rev ? compare(key(y), key(x), "<") : compare(key(x), key(y), "<");
  });
  List out;
  for (auto& [k, x] : entries) out.push_back(tuple({k, x}));
  return list(std::move(out));
}
Value f_escape(Interp&, const Value& v, const Args& a) {
  params("escape", a, {});
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return text(std::move(out));
}
Value f_first(Interp&, const Value& v, const Args& a) {
  params("first", a, {});
  if (v.kind == Kind::Iter) {
    if (*v.cursor < v.elems().size()) return v.elems()[(*v.cursor)++];
  } else {
    List items = iterate(v);
    if (!items.empty()) return items[0];
  }
  return undefined("No first item, sequence was empty.");
}
Value f_last(Interp&, const Value& v, const Args& a) {
  params("last", a, {});
  if (!(v.is_seq() || v.is_str() || v.kind == Kind::Dict || v.is_undefined()))
    raise("'" + type_name(v) + "' object is not reversible");
  List items = iterate(v);
  return items.empty() ? undefined("No last item, sequence was empty.") : items.back();
}
Value f_float(Interp&, const Value& v, const Args& a) {
  auto p = params("float", a, {"default"});
  const Value def = p[0] ? *p[0] : number(0.0);
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_number()) return number(v.as_double());
  if (!v.is_str()) return def;
  std::string s = py_strip(v.str(), std::nullopt, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && s.find_first_of("xXpP") == std::string::npos ? number(d) : def;
}
Value f_int(Interp&, const Value& v, const Args& a) {
  auto p = params("int", a, {"default", "base"});
  const Value def = p[0] ? *p[0] : integer(0);
  const int64_t base = int_param(p[1], 10);
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_int()) return integer(v.as_int());
  if (v.kind == Kind::Float) return std::isfinite(v.f) && std::fabs(v.f) < 9.2e18 ? integer(int64_t(v.f)) : def;
  if (!v.is_str()) return def;
  std::string s = py_strip(v.str(), std::nullopt, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(s.c_str(), &end, int(base));
  if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return integer(i);
  const double d = std::strtod(s.c_str(), &end);  // jinja2 retries with int(float(value))
  if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) return integer(int64_t(d));
  return def;
}
Value f_indent(Interp&, const Value& v, const Args& a) {
  auto p = params("indent", a, {"width", "first", "blank"});
  std::string ind = p[0] && p[0]->is_str() ? p[0]->str() : std::string(size_t(std::max<int64_t>(0, int_param(p[0], 4))), ' ');
  auto lines = py_splitlines(to_str(v) + "\n", false);
  std::string out;
  if (flag(p[2])) {
    for (size_t k = 0; k < lines.size(); k++) out += (k ? "\n" + ind : "") + lines[k];
  } else {
    for (size_t k = 0; k < lines.size(); k++) out += k == 0 ? lines[k] : "\n" + (lines[k].empty() ? "" : ind) + lines[k];
  }
  if (flag(p[1])) out = ind + out;
  return text(std::move(out));
}
Value f_items(Interp&, const Value& v, const Args& a) {
  params("items", a, {});
  if (v.is_undefined()) return iterator({});
  if (v.kind != Kind::Dict) raise("Can only get item pairs from a mapping.");
  List out;
  for (auto& [k, x] : v.dict->entries) out.push_back(tuple({k, x}));
  return iterator(std::move(out));  // a generator in jinja2
}
Value f_join(Interp&, const Value& v, const Args& a) {
  auto p = params("join", a, {"d", "attribute"});
  const std::string sep = p[0] ? to_str(*p[0]) : "";
  std::string out;
  const List items = iterate(v);
  for (size_t k = 0; k < items.size(); k++) {
    if (k) out += sep;
    out += to_str(p[1] && !p[1]->is_none() ? attr_path(items[k], *p[1]) : items[k]);
    check_size(out.size());
  }
  return text(std::move(out));
}
Value f_length(Interp&, const Value& v, const Args& a) {
  params("length", a, {});
  if (v.kind == Kind::Iter) raise("object of type '" + type_name(v) + "' has no len()");
  return integer(int64_t(length(v)));
}
Value f_list(Interp&, const Value& v, const Args& a) { return params("list", a, {}), list(iterate(v)); }
Value f_lower(Interp&, const Value& v, const Args& a) { return params("lower", a, {}), text(py_lower(to_str(v))); }
Value f_upper(Interp&, const Value& v, const Args& a) { return params("upper", a, {}), text(py_upper(to_str(v))); }
Value f_title(Interp&, const Value& v, const Args& a) { return params("title", a, {}), text(jinja_title(to_str(v))); }
Value f_safe(Interp&, const Value& v, const Args& a) { return params("safe", a, {}), str_of(v); }
Value f_string(Interp&, const Value& v, const Args& a) { return params("string", a, {}), str_of(v); }

Value f_map(Interp& in, const Value& v, const Args& a) {
  List out;
  const List items = iterate(v);
  if (a.pos.empty() && !a.kw.empty() && a.kw[0].first == "attribute") {
    auto p = params("map", a, {"attribute", "default"});
    for (auto& x : items) out.push_back(attr_path(x, *p[0], p[1] && !p[1]->is_none() ? p[1] : std::nullopt));
  } else {
    if (a.pos.empty()) raise("map requires a filter argument");
    const std::string name = to_str(a.pos[0]);
    if (!is_filter(name)) raise("No filter named '" + name + "'.");
    Args rest{List(a.pos.begin() + 1, a.pos.end()), a.kw};
    for (auto& x : items) out.push_back(apply_filter(in, name, x, rest));
  }
  return iterator(std::move(out));  // a generator in jinja2
}

// select, reject, selectattr, rejectattr.
Value select_or_reject(Interp& in, const Value& v, const Args& a, bool attr, bool keep) {
  size_t off = 0;
  Value attribute;
  if (attr) {
    if (a.pos.empty()) raise("Missing parameter for attribute name");
    attribute = a.pos[0], off = 1;
  }
  std::string test;
  if (a.pos.size() > off) {
    test = to_str(a.pos[off]);
    if (!is_test(test)) raise("No test named '" + test + "'.");
  }
  Args rest{a.pos.size() > off + 1 ? List(a.pos.begin() + long(off) + 1, a.pos.end()) : List{}, a.kw};
  List out;
  for (auto& x : iterate(v)) {
    Value subject = attr ? attr_path(x, attribute) : x;
    if ((test.empty() ? truthy(subject) : apply_test(in, test, subject, rest)) == keep) out.push_back(x);
  }
  return iterator(std::move(out));  // a generator in jinja2
}
Value f_select(Interp& in, const Value& v, const Args& a) { return select_or_reject(in, v, a, false, true); }
Value f_reject(Interp& in, const Value& v, const Args& a) { return select_or_reject(in, v, a, false, false); }
Value f_selectattr(Interp& in, const Value& v, const Args& a) { return select_or_reject(in, v, a, true, true); }
Value f_rejectattr(Interp& in, const Value& v, const Args& a) { return select_or_reject(in, v, a, true, false); }

Value min_max(const Value& v, const Args& a, const char* name, bool max) {
  auto p = params(name, a, {"case_sensitive", "attribute"});
  const List items = iterate(v);
  if (items.empty()) return undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& x) { return fold_case(p[1] && !p[1]->is_none() ? attr_path(x, *p[1]) : x, flag(p[0])); };
  size_t best = 0;
  for (size_t k = 1; k < items.size(); k++)
    if (compare(key(items[k]), key(items[best]), max ? ">" : "<")) best = k;
  return items[best];
}
Value f_max(Interp&, const Value& v, const Args& a) { return min_max(v, a, "max", true); }
Value f_min(Interp&, const Value& v, const Args& a) { return min_max(v, a, "min", false); }

Value f_replace(Interp&, const Value& v, const Args& a) {
  auto p = params("replace", a, {"old", "new", "count"}, 2);
  std::string out = py_replace(to_str(v), to_str(*p[0]), to_str(*p[1]), p[2] && !p[2]->is_none() ? int_param(p[2], -1) : -1);
  return text(std::move(out));
}
Value f_reverse(Interp&, const Value& v, const Args& a) {
  params("reverse", a, {});
  if (v.is_str()) {
    auto cps = decode_utf8(v.str());
    std::reverse(cps.begin(), cps.end());
    return text(encode_utf8(cps));
  }
  List items = iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.kind == Kind::Iter) return list(std::move(items));  // jinja2 falls back to a reversed list
  return iterator(std::move(items), v.kind == Kind::Dict ? "dict_reversekeyiterator" : "list_reverseiterator");
}
Value f_round(Interp&, const Value& v, const Args& a) {
  auto p = params("round", a, {"precision", "method"});
  const int64_t prec = int_param(p[0], 0);
  const std::string method = p[1] ? to_str(*p[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor") raise("method must be common, ceil or floor");
  if (!v.is_number()) raise("type " + type_name(v) + " doesn't define __round__ method");
  if (method != "common") {
    const double scale = std::pow(10.0, double(prec));
    return number((method == "ceil" ? std::ceil(v.as_double() * scale) : std::floor(v.as_double() * scale)) / scale);
  }
  if (v.is_int()) {
    if (prec >= 0) return integer(v.as_int());
    const double scale = std::pow(10.0, double(-prec));
    return integer(int64_t(std::nearbyint(double(v.as_int()) / scale) * scale));
  }
  if (!std::isfinite(v.f)) return v;
  if (prec < 0) {
    const double scale = std::pow(10.0, double(-prec));
    return number(std::nearbyint(v.f / scale) * scale);
  }
  char buf[1024];  // Python rounds the exact binary value half-to-even, as printf does
  std::snprintf(buf, sizeof buf, "%.*f", int(std::min<int64_t>(prec, 340)), v.f);
  return number(std::strtod(buf, nullptr));
}
Value f_sort(Interp&, const Value& v, const Args& a) {
  auto p = params("sort", a, {"reverse", "case_sensitive", "attribute"});
  List items = iterate(v);
  std::vector<Value> attrs;
  if (p[2] && p[2]->is_str())
    for (auto& s : py_split(p[2]->str(), std::string(","), -1)) attrs.push_back(text(py_strip(s, std::nullopt, true, true)));
  else if (p[2] && !p[2]->is_none())
    attrs.push_back(*p[2]);
  auto key = [&](const Value& x) {  // jinja2's make_multi_attrgetter: a list of the attributes
    if (attrs.empty()) return fold_case(x, flag(p[1]));
    List parts;
    for (auto& at : attrs) parts.push_back(fold_case(attr_path(x, at), flag(p[1])));
    return list(std::move(parts));
  };
  const bool rev = reverse_flag(p[0]);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return rev ? compare(key(y), key(x), "<") : compare(key(x), key(y), "<");
  });
  return list(std::move(items));
}
Value f_sum(Interp&, const Value& v, const Args& a) {
  auto p = params("sum", a, {"attribute", "start"});
  Value total = p[1] ? *p[1] : integer(0);
  for (auto& x : iterate(v)) {
    Value item = p[0] && !p[0]->is_none() ? attr_path(x, *p[0]) : x;
    if (total.is_str()) raise("sum() can't sum strings [use ''.join(seq) instead]");
    total = arith("+", total, item);
  }
  return total;
}
Value f_tojson(Interp&, const Value& v, const Args& a) {
  // HF's override: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  auto p = params("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle style;
  style.ensure_ascii = flag(p[0]);
  if (p[1] && p[1]->is_str()) style.indent = p[1]->str();
  else if (p[1] && p[1]->is_int()) style.indent = std::string(size_t(std::clamp<int64_t>(p[1]->as_int(), 0, 1000)), ' ');
  else if (p[1] && !p[1]->is_none()) raise("tojson indent must be an int or a string, not " + type_name(*p[1]));
  if (p[2] && !p[2]->is_none()) {
    if (!p[2]->is_seq() || p[2]->elems().size() != 2 || !p[2]->elems()[0].is_str() || !p[2]->elems()[1].is_str())
      raise("tojson separators must be a pair of strings");
    style.item_sep = p[2]->elems()[0].str(), style.key_sep = p[2]->elems()[1].str();
  }
  style.sort_keys = flag(p[3]);
  return text(to_json(v, style));
}
Value f_trim(Interp&, const Value& v, const Args& a) {
  auto p = params("trim", a, {"chars"});
  std::optional<std::string> chars;
  if (p[0] && !p[0]->is_none()) chars = to_str(*p[0]);
  return text(py_strip(to_str(v), chars, true, true));
}
Value f_unique(Interp&, const Value& v, const Args& a) {
  auto p = params("unique", a, {"case_sensitive", "attribute"});
  List out, seen;
  for (auto& x : iterate(v)) {
    Value key = fold_case(p[1] && !p[1]->is_none() ? attr_path(x, *p[1]) : x, flag(p[0]));
    if (key.kind == Kind::List || key.kind == Kind::Dict) raise("unhashable type: '" + type_name(key) + "'");
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, key); }))
      seen.push_back(key), out.push_back(x);
  }
  return iterator(std::move(out));  // a generator in jinja2
}
Value f_wordcount(Interp&, const Value& v, const Args& a) {
  params("wordcount", a, {});
  int64_t n = 0;
  bool in_word = false;
  for (uint32_t c : decode_utf8(to_str(v))) {
    const bool w = is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
    n += w && !in_word, in_word = w;
  }
  return integer(n);
}
Value f_format(Interp&, const Value& v, const Args& a) {
  if (!a.pos.empty() && !a.kw.empty()) raise("can't handle positional and keyword arguments at the same time");
  if (!a.kw.empty()) {
    Dict d;
    for (auto& [k, x] : a.kw) d.set(text(k), x);
    return text(percent_format(to_str(v), dict(std::move(d))));
  }
  return text(percent_format(to_str(v), tuple(a.pos)));
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> table = {
      {"abs", f_abs},         {"attr", f_attr},         {"batch", f_batch},           {"capitalize", f_capitalize}, {"center", f_center},
      {"count", f_length},    {"d", f_default},         {"default", f_default},       {"dictsort", f_dictsort},
      {"e", f_escape},        {"escape", f_escape},     {"first", f_first},           {"float", f_float},
      {"format", f_format},   {"indent", f_indent},     {"int", f_int},               {"items", f_items},
      {"join", f_join},       {"last", f_last},         {"length", f_length},         {"list", f_list},
      {"lower", f_lower},     {"map", f_map},           {"max", f_max},               {"min", f_min},
      {"reject", f_reject},   {"rejectattr", f_rejectattr}, {"replace", f_replace},   {"reverse", f_reverse},
      {"round", f_round},     {"safe", f_safe},         {"select", f_select},         {"selectattr", f_selectattr},
      {"sort", f_sort},       {"string", f_string},     {"sum", f_sum},               {"title", f_title},
      {"tojson", f_tojson},   {"trim", f_trim},         {"unique", f_unique},         {"upper", f_upper},
      {"wordcount", f_wordcount}};
  return table;
}

// ---- tests ----

const Value& arg0(const char* test, const Args& a) {
  if (a.pos.size() != 1 || !a.kw.empty()) raise(std::string("test '") + test + "' takes one argument");
  return a.pos[0];
}
bool no_args(const char* test, const Args& a) {
  if (!a.pos.empty() || !a.kw.empty()) raise(std::string("test '") + test + "' takes no arguments");
  return true;
}
#define SIMPLE_TEST(name, expr) \
  bool t_##name(Interp&, const Value& v, const Args& a) { return no_args(#name, a) && (expr); }
SIMPLE_TEST(defined, !v.is_undefined())
SIMPLE_TEST(undefined, v.is_undefined())
SIMPLE_TEST(none, v.is_none())
SIMPLE_TEST(boolean, v.kind == Kind::Bool)
SIMPLE_TEST(false, v.kind == Kind::Bool && !v.b)
SIMPLE_TEST(true, v.kind == Kind::Bool && v.b)
SIMPLE_TEST(integer, v.kind == Kind::Int)
SIMPLE_TEST(float, v.kind == Kind::Float)
SIMPLE_TEST(number, v.is_number())
SIMPLE_TEST(string, v.is_str())
SIMPLE_TEST(mapping, v.kind == Kind::Dict)
SIMPLE_TEST(iterable, v.is_seq() || v.is_str() || v.kind == Kind::Dict || v.is_undefined() || v.kind == Kind::Iter ||
                          v.kind == Kind::Loop)
SIMPLE_TEST(sequence, v.is_seq() || v.is_str() || v.kind == Kind::Dict || v.is_undefined())
SIMPLE_TEST(callable, v.kind == Kind::Func || v.is_undefined() || v.kind == Kind::Loop)
SIMPLE_TEST(escaped, false)
SIMPLE_TEST(odd, equal(arith("%", v, integer(2)), integer(1)))
SIMPLE_TEST(even, equal(arith("%", v, integer(2)), integer(0)))
SIMPLE_TEST(lower, py_lower(to_str(v)) == to_str(v) && py_upper(to_str(v)) != to_str(v))
SIMPLE_TEST(upper, py_upper(to_str(v)) == to_str(v) && py_lower(to_str(v)) != to_str(v))
SIMPLE_TEST(filter, v.is_str() && is_filter(v.str()))
SIMPLE_TEST(test, v.is_str() && is_test(v.str()))
#undef SIMPLE_TEST

bool t_divisibleby(Interp&, const Value& v, const Args& a) { return equal(arith("%", v, arg0("divisibleby", a)), integer(0)); }
bool t_eq(Interp&, const Value& v, const Args& a) { return equal(v, arg0("eq", a)); }
bool t_ne(Interp&, const Value& v, const Args& a) { return !equal(v, arg0("ne", a)); }
bool t_lt(Interp&, const Value& v, const Args& a) { return compare(v, arg0("lt", a), "<"); }
bool t_le(Interp&, const Value& v, const Args& a) { return compare(v, arg0("le", a), "<="); }
bool t_gt(Interp&, const Value& v, const Args& a) { return compare(v, arg0("gt", a), ">"); }
bool t_ge(Interp&, const Value& v, const Args& a) { return compare(v, arg0("ge", a), ">="); }
bool t_in(Interp&, const Value& v, const Args& a) { return contains(arg0("in", a), v); }
bool t_sameas(Interp&, const Value& v, const Args& a) {
  const Value& o = arg0("sameas", a);
  if (v.kind != o.kind) return false;
  switch (v.kind) {
    case Kind::None: return true;
    case Kind::Bool: return v.b == o.b;
    case Kind::Int: return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython caches these ints
    case Kind::Str: return v.s == o.s;
    default: return equal(v, o) && (v.items == o.items && v.dict == o.dict && v.fn == o.fn && v.loop == o.loop);
  }
}

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> table = {
      {"boolean", t_boolean},   {"callable", t_callable}, {"defined", t_defined},   {"divisibleby", t_divisibleby},
      {"eq", t_eq},             {"equalto", t_eq},        {"escaped", t_escaped},   {"even", t_even},
      {"false", t_false},       {"filter", t_filter},     {"float", t_float},       {"ge", t_ge},
      {"greaterthan", t_gt},    {"gt", t_gt},             {"in", t_in},             {"integer", t_integer},
      {"iterable", t_iterable}, {"le", t_le},             {"lessthan", t_lt},       {"lower", t_lower},
      {"lt", t_lt},             {"mapping", t_mapping},   {"ne", t_ne},             {"none", t_none},
      {"number", t_number},     {"odd", t_odd},           {"sameas", t_sameas},     {"sequence", t_sequence},
      {"string", t_string},     {"test", t_test},         {"true", t_true},         {"undefined", t_undefined},
      {"upper", t_upper}};
  return table;
}

// ---- globals ----

Value g_range(Interp&, Args& a) {
  if (!a.kw.empty() || a.pos.empty() || a.pos.size() > 3) raise("range expected 1 to 3 integer arguments");
  for (auto& x : a.pos)
    if (!x.is_int()) raise("'" + type_name(x) + "' object cannot be interpreted as an integer");
  int64_t start = 0, stop, step = 1;
  if (a.pos.size() == 1) stop = a.pos[0].as_int();
  else start = a.pos[0].as_int(), stop = a.pos[1].as_int();
  if (a.pos.size() == 3) step = a.pos[2].as_int();
  if (step == 0) raise("range() arg 3 must not be zero");
  const double n = std::max(0.0, std::ceil((double(stop) - double(start)) / double(step)));
  if (n > 100000) raise("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  List out;
  for (int64_t k = 0; k < int64_t(n); k++) out.push_back(integer(start + k * step));
  return list(std::move(out));
}
Value g_namespace(Interp&, Args& a) {
  Dict d;
  if (a.pos.size() > 1) raise("namespace() takes at most one positional argument");
  if (!a.pos.empty()) {
    if (a.pos[0].kind == Kind::Dict) d = *a.pos[0].dict;
    else
      for (auto& pair : iterate(a.pos[0])) {
        const List kv = iterate(pair);
        if (kv.size() != 2) raise("namespace() needs a mapping or key/value pairs");
        d.set(kv[0], kv[1]);
      }
  }
  for (auto& [k, v] : a.kw) d.set(text(k), v);
  Value v = dict(std::move(d));
  v.kind = Kind::Namespace;
  return v;
}
Value g_dict(Interp& in, Args& a) {
  Value v = g_namespace(in, a);
  v.kind = Kind::Dict;
  return v;
}
Value g_raise_exception(Interp&, Args& a) {
  auto p = bind_args("raise_exception", a, {"message"}, 1);
  raise(to_str(*p[0]));
}
Value g_strftime_now(Interp&, Args& a) {
  auto p = bind_args("strftime_now", a, {"format"}, 1);
  const std::string fmt = to_str(*p[0]);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::string out(256 + fmt.size() * 8, '\0');
  out.resize(fmt.empty() ? 0 : std::strftime(out.data(), out.size(), fmt.c_str(), &tm));
  return text(out);
}
Value g_joiner(Interp&, Args& a) {
  auto p = bind_args("joiner", a, {"sep"});
  const std::string sep = p[0] ? to_str(*p[0]) : ", ";
  auto used = std::make_shared<bool>(false);
  return function("joiner", [sep, used](Interp&, Args& b) {
    bind_args("joiner()", b, {});
    const bool was = *used;
    *used = true;
    return text(was ? sep : "");
  });
}

}  // namespace

bool is_filter(const std::string& name) { return filters().count(name) > 0; }
bool is_test(const std::string& name) { return tests().count(name) > 0; }

Value apply_filter(Interp& in, const std::string& name, const Value& subject, Args& args) {
  auto it = filters().find(name);
  if (it == filters().end()) raise("No filter named '" + name + "'.");
  return it->second(in, subject, args);
}

bool apply_test(Interp& in, const std::string& name, const Value& subject, Args& args) {
  auto it = tests().find(name);
  if (it == tests().end()) raise("No test named '" + name + "'.");
  return it->second(in, subject, args);
}

Value global(const std::string& name) {
  using Fn = Value (*)(Interp&, Args&);
  static const std::map<std::string, Fn> table = {{"range", g_range},
                                                  {"namespace", g_namespace},
                                                  {"dict", g_dict},
                                                  {"joiner", g_joiner},
                                                  {"raise_exception", g_raise_exception},
                                                  {"strftime_now", g_strftime_now}};
  auto it = table.find(name);
  return it == table.end() ? undefined("'" + name + "' is undefined") : function(name, it->second);
}

}  // namespace userllm::llm::jinja
