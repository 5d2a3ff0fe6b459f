#include "llm/chat/jinja_value.h"

#include <charconv>
#include <cmath>
#include <unordered_map>

#include "llm/chat/jinja_text.h"

namespace userllm::llm::jinja {

void raise(const std::string& message) { throw TemplateError(message); }

void fail_undefined(const Value& v) { raise(v.s && !v.s->empty() ? *v.s : "value is undefined"); }

Value undefined(std::string why) {
  Value v;
  v.s = std::make_shared<const std::string>(std::move(why));
  return v;
}
Value none() {
  Value v;
  v.kind = Kind::None;
  return v;
}
Value boolean(bool b) {
  Value v;
  v.kind = Kind::Bool, v.b = b;
  return v;
}
Value integer(int64_t i) {
  Value v;
  v.kind = Kind::Int, v.i = i;
  return v;
}
Value number(double f) {
  Value v;
  v.kind = Kind::Float, v.f = f;
  return v;
}
Value text(std::string s) {
  check_size(s.size());
  charge(1 + s.size() / 16);  // what strings cost counts as work, so building huge ones is bounded
  Value v;
  v.kind = Kind::Str, v.s = std::make_shared<const std::string>(std::move(s));
  return v;
}
static Value sequence(List items, Kind kind) {
  if (items.size() > kMaxItems) raise("list too long (more than " + std::to_string(kMaxItems) + " items)");
  charge(1 + 4 * items.size());
  Value v;
  v.kind = kind, v.items = std::make_shared<const List>(std::move(items));
  return v;
}
Value list(List items) { return sequence(std::move(items), Kind::List); }
Value tuple(List items) { return sequence(std::move(items), Kind::Tuple); }
Value dict(Dict d) {
  charge(d.entries.size());
  Value v;
  v.kind = Kind::Dict, v.dict = std::make_shared<Dict>(std::move(d));
  return v;
}
Value iterator(List items, std::string python_type) {
  Value v = sequence(std::move(items), Kind::Iter);
  v.s = std::make_shared<const std::string>(std::move(python_type));
  v.cursor = std::make_shared<size_t>(0);
  return v;
}
Value function(std::string name, std::function<Value(Interp&, Args&)> call) {
  Value v;
  v.kind = Kind::Func, v.fn = std::make_shared<const Function>(Function{std::move(name), false, std::move(call)});
  return v;
}

const Value* Dict::find(const Value& key) const {
  charge(entries.size());
  for (auto& [k, v] : entries)
    if (equal(k, key)) return &v;
  return nullptr;
}

const Value* Dict::find(const std::string& key) const {
  charge(entries.size());
  for (auto& [k, v] : entries)
    if (k.is_str() && k.str() == key) return &v;
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  if (!(key.is_number() || key.is_str() || key.is_none() || key.kind == Kind::Tuple))
    raise("unhashable type: '" + type_name(key) + "'");
  for (auto& [k, v] : entries)
    if (equal(k, key)) {
      v = std::move(value);
      return;
    }
  entries.emplace_back(key, std::move(value));
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return v.b;
    case Kind::Int: return v.i != 0;
    case Kind::Float: return v.f != 0;
    case Kind::Str: return !v.s->empty();
    case Kind::List:
    case Kind::Tuple: return !v.items->empty();
    case Kind::Dict: return !v.dict->entries.empty();
    default: return true;
  }
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Shortest round-trip digits, laid out the way Python's repr does.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr), out, digits;
  size_t e = sci.find('e');
  for (size_t k = 0; k < e; k++)
    if (sci[k] == '-') out += '-';
    else if (sci[k] != '.') digits += sci[k];
  const int exp10 = std::stoi(sci.substr(e + 1)), decpt = exp10 + 1, nd = int(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) out += "0." + std::string(size_t(-decpt), '0') + digits;
    else if (decpt >= nd) out += digits + std::string(size_t(decpt - nd), '0') + ".0";
    else out += digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
  } else {
    out += digits.substr(0, 1);
    if (nd > 1) out += "." + digits.substr(1);
    std::string ex = std::to_string(std::abs(exp10));
    out += std::string(exp10 < 0 ? "e-" : "e+") + (ex.size() < 2 ? "0" : "") + ex;
  }
  return out;
}

static const char* kHex = "0123456789abcdef";

std::string str_repr(const std::string& s) {
  const bool sq = s.find('\'') != s.npos, dq = s.find('"') != s.npos;
  const char q = sq && !dq ? '"' : '\'';
  std::string out(1, q);
  for (uint32_t c : decode_utf8(s)) {
    if (c == uint32_t(q) || c == '\\') out += '\\', out += char(c);
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (is_printable(c)) append_utf8(out, c);
    else {
      const int n = c < 0x100 ? 2 : c < 0x10000 ? 4 : 8;
      out += n == 2 ? "\\x" : n == 4 ? "\\u" : "\\U";
      for (int k = n - 1; k >= 0; k--) out += kHex[(c >> (4 * k)) & 15];
    }
  }
  return out + q;
}

static void write_repr(std::string& out, const Value& v, int depth);

static void write_dict(std::string& out, const Dict& d, int depth) {
  out += '{';
  for (size_t k = 0; k < d.entries.size(); k++) {
    if (k) out += ", ";
    write_repr(out, d.entries[k].first, depth + 1);
    out += ": ";
    write_repr(out, d.entries[k].second, depth + 1);
  }
  out += '}';
}

static void write_repr(std::string& out, const Value& v, int depth) {
  if (depth > kMaxNesting) raise("value nested too deeply");
  check_size(out.size());
  charge(1);
  switch (v.kind) {
    case Kind::Undefined: out += "Undefined"; break;
    case Kind::None: out += "None"; break;
    case Kind::Bool: out += v.b ? "True" : "False"; break;
    case Kind::Int: out += std::to_string(v.i); break;
    case Kind::Float: out += float_repr(v.f); break;
    case Kind::Str: out += str_repr(*v.s); break;
    case Kind::List:
    case Kind::Tuple: {
      const bool t = v.kind == Kind::Tuple;
      out += t ? '(' : '[';
      for (size_t k = 0; k < v.items->size(); k++) {
        if (k) out += ", ";
        write_repr(out, (*v.items)[k], depth + 1);
      }
      out += t ? (v.items->size() == 1 ? ",)" : ")") : "]";
      break;
    }
    case Kind::Dict: write_dict(out, *v.dict, depth); break;
    case Kind::Namespace:
      out += "<Namespace ";
      write_dict(out, *v.dict, depth);
      out += '>';
      break;
    case Kind::Func: out += v.fn->macro ? "<Macro '" + v.fn->name + "'>" : "<built-in method " + v.fn->name + ">"; break;
    case Kind::Iter: out += "<" + *v.s + " object>"; break;
    case Kind::Loop:
      out += "<LoopContext " + std::to_string(v.loop->index0 + 1) + "/" + std::to_string(v.loop->items->size()) + ">";
      break;
  }
  check_size(out.size());
}

std::string repr(const Value& v) {
  std::string out;
  write_repr(out, v, 0);
  return out;
}

std::string to_str(const Value& v) {
  if (v.is_str()) return *v.s;
  if (v.is_undefined()) return "";
  return repr(v);
}

bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  charge(1);
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::Str: return *a.s == *b.s;
    case Kind::List:
    case Kind::Tuple:
      if (a.items == b.items) return true;
      if (a.items->size() != b.items->size()) return false;
      for (size_t k = 0; k < a.items->size(); k++)
        if (!equal((*a.items)[k], (*b.items)[k])) return false;
      return true;
    case Kind::Dict:
      if (a.dict == b.dict) return true;
      if (a.dict->entries.size() != b.dict->entries.size()) return false;
      for (auto& [k, v] : a.dict->entries) {
        const Value* o = b.dict->find(k);
        if (!o || !equal(v, *o)) return false;
      }
      return true;
    case Kind::Namespace: return a.dict == b.dict;
    case Kind::Func: return a.fn == b.fn;
    case Kind::Loop: return a.loop == b.loop;
    case Kind::Iter: return a.items == b.items;
    default: return false;
  }
}

bool compare(const Value& a, const Value& b, const std::string& op) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  auto result = [&op](int c) { return op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0; };
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return result(a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int());
    const double x = a.as_double(), y = b.as_double();
    return (std::isnan(x) || std::isnan(y)) ? false : result(x < y ? -1 : x > y);
  }
  if (a.is_str() && b.is_str()) return result(a.s->compare(*b.s));
  if (a.is_seq() && a.kind == b.kind) {
    const List &x = *a.items, &y = *b.items;
    for (size_t k = 0; k < x.size() && k < y.size(); k++)
      if (!equal(x[k], y[k])) return compare(x[k], y[k], op);
    return result(x.size() < y.size() ? -1 : x.size() > y.size());
  }
  raise("'" + op + "' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

bool contains(const Value& c, const Value& item) {
  switch (c.kind) {
    case Kind::Str:
      if (!item.is_str()) raise("'in <string>' requires string as left operand, not " + type_name(item));
      return c.s->find(*item.s) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
      for (auto& x : *c.items)
        if (equal(x, item)) return true;
      return false;
    case Kind::Dict: return c.dict->find(item) != nullptr;
    case Kind::Undefined: return false;  // jinja2's Undefined iterates as empty
    case Kind::Iter:  // consumes up to the match
      while (*c.cursor < c.items->size())
        if (equal((*c.items)[(*c.cursor)++], item)) return true;
      return false;
    default: raise("argument of type '" + type_name(c) + "' is not iterable");
  }
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Func: return v.fn->macro ? "Macro" : "builtin_function_or_method";
    case Kind::Loop: return "LoopContext";
    case Kind::Iter: return *v.s;
  }
  return "object";
}

std::string object_repr(const Value& v) {
  switch (v.kind) {
    case Kind::None: return "None";
    case Kind::Undefined: return "jinja2.runtime.Undefined object";
    case Kind::Namespace: return "jinja2.utils.Namespace object";
    case Kind::Loop: return "jinja2.runtime.LoopContext object";
    case Kind::Func: return v.fn->macro ? "jinja2.runtime.Macro object" : "builtin_function_or_method object";
    default: return type_name(v) + " object";
  }
}

size_t length(const Value& v) {
  switch (v.kind) {
    case Kind::Str: return count_code_points(*v.s);
    case Kind::List:
    case Kind::Tuple: return v.items->size();
    case Kind::Dict: return v.dict->entries.size();
    case Kind::Undefined: return 0;
    case Kind::Loop: return v.loop->items->size();
    default: raise("object of type '" + type_name(v) + "' has no len()");
  }
}

List iterate(const Value& v) {
  List out;
  switch (v.kind) {
    case Kind::List:
    case Kind::Tuple: return *v.items;
    case Kind::Dict:
      for (auto& kv : v.dict->entries) out.push_back(kv.first);
      return out;
    case Kind::Str: {
      auto cps = decode_utf8(*v.s);
      if (cps.size() > kMaxItems) raise("string too long to iterate (more than " + std::to_string(kMaxItems) + " characters)");
      charge(4 * cps.size());
      for (size_t k = 0; k < cps.size(); k++) out.push_back(text(encode_utf8(cps, k, k + 1)));
      return out;
    }
    case Kind::Undefined: return out;
    case Kind::Iter:
      out.assign(v.items->begin() + long(*v.cursor), v.items->end());
      *v.cursor = v.items->size();
      return out;
    default: raise("'" + type_name(v) + "' object is not iterable");
  }
}

static Value from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxNesting) raise("JSON input nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      if (j.get<uint64_t>() > uint64_t(INT64_MAX)) raise("integer too large: " + j.dump());
      return integer(int64_t(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return text(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      for (auto& x : j) items.push_back(from_json(x, depth + 1));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      for (auto& [k, x] : j.items()) d.entries.emplace_back(text(k), from_json(x, depth + 1));  // JSON keys are unique
      return dict(std::move(d));
    }
    default: raise("unsupported JSON value: " + j.dump());
  }
}

Value from_json(const nlohmann::ordered_json& j) { return from_json(j, 0); }

static int nesting(const Value& v, int depth, std::unordered_map<const void*, int>& memo) {
  if (depth > kMaxNesting) raise("value nested too deeply (or contains itself)");
  const void* key = v.items ? static_cast<const void*>(v.items.get()) : static_cast<const void*>(v.dict.get());
  if (!key || !(v.is_seq() || v.kind == Kind::Dict || v.kind == Kind::Namespace)) return 0;
  if (auto it = memo.find(key); it != memo.end()) {
    if (it->second < 0) raise("value contains itself");
    return it->second;
  }
  memo[key] = -1;
  int most = 0;
  charge(1);
  if (v.items)
    for (auto& x : *v.items) most = std::max(most, nesting(x, depth + 1, memo));
  else
    for (auto& [k, x] : v.dict->entries) most = std::max(most, nesting(x, depth + 1, memo));
  return memo[key] = most + 1;
}

int nesting(const Value& v) {
  std::unordered_map<const void*, int> memo;
  return nesting(v, 0, memo);
}

static thread_local BudgetScope* g_budget = nullptr;

BudgetScope::BudgetScope() : prev_(g_budget) { g_budget = this; }
BudgetScope::~BudgetScope() { g_budget = prev_; }
BudgetScope* budget() { return g_budget; }

void charge(uint64_t steps) {
  if (!g_budget) return;
  g_budget->steps += steps;
  if (g_budget->steps > kMaxSteps) raise("template does too much work (more than " + std::to_string(kMaxSteps) + " steps)");
}

void check_size(size_t bytes) {
  if (bytes > kMaxString) raise("string too long (more than " + std::to_string(kMaxString) + " bytes)");
}

}  // namespace userllm::llm::jinja
