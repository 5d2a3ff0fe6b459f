// Attribute and item lookup as jinja2's ImmutableSandboxedEnvironment does it,
// with the methods of str, dict and list that templates call.
#include <algorithm>
#include <set>

#include "llm/chat/jinja_builtins.h"
#include "llm/chat/jinja_text.h"

namespace userllm::llm::jinja {

std::vector<std::optional<Value>> bind_args(const std::string& who, const Args& args, std::initializer_list<const char*> names,
                                       size_t required) {
  const std::vector<const char*> n(names);
  std::vector<std::optional<Value>> out(n.size());
  if (args.pos.size() > n.size())
    raise(who + " takes at most " + std::to_string(n.size()) + " argument(s) (" + std::to_string(args.pos.size()) +
          " given)");
  for (size_t k = 0; k < args.pos.size(); k++) out[k] = args.pos[k];
  for (const auto& kw : args.kw) {
    const auto& key = kw.first;  // not a structured binding: clang 14 cannot capture one
    const auto& v = kw.second;
    auto it = std::find_if(n.begin(), n.end(), [&](const char* p) { return key == p; });
    if (it == n.end()) raise(who + " got an unexpected keyword argument '" + key + "'");
    if (out[size_t(it - n.begin())]) raise(who + " got multiple values for argument '" + key + "'");
    out[size_t(it - n.begin())] = v;
  }
  for (size_t k = 0; k < required && k < n.size(); k++)
    if (!out[k]) raise(who + " missing required argument '" + n[k] + "'");
  return out;
}

namespace {

const std::set<std::string> kStrMethods = {
    "upper", "lower", "title", "capitalize", "casefold", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
    "startswith", "endswith", "replace", "find", "rfind", "index", "rindex", "count", "join", "format", "isdigit",
    "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper", "center", "ljust", "rjust",
    "zfill", "partition", "rpartition", "removeprefix", "removesuffix", "swapcase"};
const std::set<std::string> kDictMethods = {"items", "keys", "values", "get", "copy"};
// Methods ImmutableSandboxedEnvironment refuses (they would modify the object).
const std::set<std::string> kDictMutators = {"pop", "popitem", "setdefault", "update", "clear"};
const std::set<std::string> kListMutators = {"append", "extend", "insert", "remove", "reverse", "sort", "pop", "clear"};

Value missing(const Value& obj, const Value& key) {
  if (key.is_str()) return undefined(str_repr(object_repr(obj)) + " has no attribute " + str_repr(key.str()));
  return undefined(object_repr(obj) + " has no element " + repr(key));
}

Value unsafe(const Value& obj, const std::string& name) {
  return undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
}

std::optional<std::string> opt_str(const std::optional<Value>& v, const std::string& who) {
  if (!v || v->is_none()) return std::nullopt;
  if (!v->is_str()) raise(who + " argument must be str or None, not " + type_name(*v));
  return v->str();
}
const std::string& need_str(const std::optional<Value>& v, const std::string& who) {
  if (!v->is_str()) raise(who + " argument must be str, not " + type_name(*v));
  return v->str();
}
int64_t opt_int(const std::optional<Value>& v, int64_t def) {
  if (!v || v->is_none()) return def;
  if (!v->is_int()) raise("'" + type_name(*v) + "' object cannot be interpreted as an integer");
  return v->as_int();
}

Value str_list(std::vector<std::string> parts) {
  List out;
  for (auto& p : parts) out.push_back(text(std::move(p)));
  return list(std::move(out));
}

// s[start:end] in code points, as str.find(sub, start, end) and friends see it; offset gets start.
std::string window(const std::string& s, const std::optional<Value>& start, const std::optional<Value>& end, int64_t& offset) {
  offset = 0;
  if ((!start || start->is_none()) && (!end || end->is_none())) return s;
  Value part = slice(text(s), start ? *start : none(), end ? *end : none(), none());
  const int64_t n = int64_t(count_code_points(s));
  int64_t b = opt_int(start, 0);
  if (b < 0) b = std::max<int64_t>(0, b + n);
  offset = std::min(b, n);
  return part.is_str() ? part.str() : "";
}

bool all_chars(const std::string& s, bool (*pred)(uint32_t)) {
  auto cps = decode_utf8(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

Value str_format(const std::string& fmt, const Args& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); i++) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') i++, out += '}';
      else raise("Single '}' encountered in format string");
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      i++, out += '{';
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) raise("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1), spec, conv;
    i = close;
    if (size_t colon = field.find(':'); colon != std::string::npos) spec = field.substr(colon + 1), field.resize(colon);
    if (size_t bang = field.find('!'); bang != std::string::npos) conv = field.substr(bang + 1), field.resize(bang);
    size_t end = std::min(field.find('.'), field.find('['));
    const std::string head = field.substr(0, end);
    Value v;
    if (head.empty() || std::all_of(head.begin(), head.end(), ::isdigit)) {
      const size_t k = head.empty() ? auto_index++ : std::stoul(head);
      if (k >= args.pos.size()) raise("Replacement index " + std::to_string(k) + " out of range for positional args tuple");
      v = args.pos[k];
    } else {
      auto it = std::find_if(args.kw.begin(), args.kw.end(), [&](auto& kv) { return kv.first == head; });
      if (it == args.kw.end()) raise("KeyError: " + str_repr(head));
      v = it->second;
    }
    while (end < field.size()) {  // .attr and [key] parts
      if (field[end] == '.') {
        size_t next = std::min(field.find('.', end + 1), field.find('[', end + 1));
        v = get_attr(v, field.substr(end + 1, next - end - 1));
        end = next;
      } else {
        size_t rb = field.find(']', end);
        if (rb == std::string::npos) raise("Missing ']' in format string");
        std::string key = field.substr(end + 1, rb - end - 1);
        v = !key.empty() && std::all_of(key.begin(), key.end(), ::isdigit) ? get_item(v, integer(std::stoll(key)))
                                                                          : get_item(v, text(key));
        end = rb + 1;
      }
      if (v.is_undefined()) fail_undefined(v);
    }
    if (conv == "r" || conv == "a") v = text(repr(v));
    else if (conv == "s") v = text(to_str(v));
    else if (!conv.empty()) raise("Unknown conversion specifier " + conv);
    out += format_spec(v, spec);
    check_size(out.size());
  }
  return text(std::move(out));
}

Value str_method(const std::string& s, const std::string& name, const Args& a) {
  const std::string who = "str." + name + "()";
  auto p0 = [&](size_t required = 0) { return bind_args(who, a, {}, required); };
  if (name == "upper") return p0(), text(py_upper(s));
  if (name == "lower" || name == "casefold") return p0(), text(py_lower(s));
  if (name == "title") return p0(), text(py_title(s));
  if (name == "capitalize") return p0(), text(py_capitalize(s));
  if (name == "swapcase") {
    p0();
    std::string out;
    for (uint32_t c : decode_utf8(s)) append_utf8(out, to_upper(c) != c ? to_upper(c) : to_lower(c));
    return text(out);
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    auto p = bind_args(who, a, {"chars"});
    return text(py_strip(s, opt_str(p[0], who), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    auto p = bind_args(who, a, {"sep", "maxsplit"});
    auto sep = opt_str(p[0], who);
    if (sep && sep->empty()) raise("empty separator");
    const int64_t maxsplit = opt_int(p[1], -1);
    return str_list(name == "split" ? py_split(s, sep, maxsplit) : py_rsplit(s, sep, maxsplit));
  }
  if (name == "splitlines") {
    auto p = bind_args(who, a, {"keepends"});
    return str_list(py_splitlines(s, p[0] && truthy(*p[0])));
  }
  if (name == "startswith" || name == "endswith") {
    auto p = bind_args(who, a, {"prefix", "start", "end"}, 1);
    int64_t offset;
    const std::string w = window(s, p[1], p[2], offset);
    List options = p[0]->kind == Kind::Tuple ? p[0]->elems() : List{*p[0]};
    for (auto& o : options) {
      if (!o.is_str()) raise(who + " first arg must be str or a tuple of str, not " + type_name(o));
      const std::string& x = o.str();
      if (w.size() >= x.size() && (name == "startswith" ? w.compare(0, x.size(), x) == 0
                                                         : w.compare(w.size() - x.size(), x.size(), x) == 0))
        return boolean(true);
    }
    return boolean(false);
  }
  if (name == "replace") {
    auto p = bind_args(who, a, {"old", "new", "count"}, 2);
    std::string out = py_replace(s, need_str(p[0], who), need_str(p[1], who), opt_int(p[2], -1));
    return text(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    auto p = bind_args(who, a, {"sub", "start", "end"}, 1);
    int64_t offset;
    const std::string w = window(s, p[1], p[2], offset);
    const std::string& sub = need_str(p[0], who);
    if (name == "count") return integer(py_count(w, sub));
    const int64_t at = py_find(w, sub, name[0] == 'r');
    if (at < 0 && name.find("index") != std::string::npos) raise("substring not found");
    return integer(at < 0 ? -1 : at + offset);
  }
  if (name == "join") {
    auto p = bind_args(who, a, {"iterable"}, 1);
    std::string out;
    const List items = iterate(*p[0]);
    for (size_t k = 0; k < items.size(); k++) {
      if (!items[k].is_str())
        raise("sequence item " + std::to_string(k) + ": expected str instance, " + type_name(items[k]) + " found");
      if (k) out += s;
      out += items[k].str();
      check_size(out.size());
    }
    return text(std::move(out));
  }
  if (name == "format") return str_format(s, a);
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric")
    return p0(), boolean(all_chars(s, [](uint32_t c) { return c >= '0' && c <= '9'; }));
  if (name == "isalpha") return p0(), boolean(all_chars(s, is_alpha));
  if (name == "isalnum") return p0(), boolean(all_chars(s, [](uint32_t c) { return is_alpha(c) || (c >= '0' && c <= '9'); }));
  if (name == "isspace") return p0(), boolean(all_chars(s, is_space));
  if (name == "islower" || name == "isupper") {
    p0();
    bool cased = false;
    for (uint32_t c : decode_utf8(s)) {
      const bool lower = to_upper(c) != c, upper = to_lower(c) != c;
      if ((name == "islower" && upper) || (name == "isupper" && lower)) return boolean(false);
      cased = cased || lower || upper;
    }
    return boolean(cased);
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    auto p = name == "zfill" ? bind_args(who, a, {"width"}, 1) : bind_args(who, a, {"width", "fillchar"}, 1);
    const int64_t width = opt_int(p[0], 0);
    if (width > int64_t(kMaxString)) check_size(size_t(width));
    uint32_t fill = name == "zfill" ? '0' : ' ';
    if (p.size() > 1 && p[1]) {
      auto f = decode_utf8(need_str(p[1], who));
      if (f.size() != 1) raise("The fill character must be exactly one character long");
      fill = f[0];
    }
    if (name == "center") return text(py_center(s, width, fill));
    const int64_t n = int64_t(count_code_points(s));
    std::string padding;
    for (int64_t k = n; k < width; k++) append_utf8(padding, fill);
    if (name == "zfill" && !s.empty() && (s[0] == '-' || s[0] == '+')) return text(s.substr(0, 1) + padding + s.substr(1));
    return text(name == "ljust" ? s + padding : padding + s);
  }
  if (name == "partition" || name == "rpartition") {
    auto p = bind_args(who, a, {"sep"}, 1);
    const std::string& sep = need_str(p[0], who);
    if (sep.empty()) raise("empty separator");
    const size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (at == std::string::npos)
      return name == "partition" ? tuple({text(s), text(""), text("")}) : tuple({text(""), text(""), text(s)});
    return tuple({text(s.substr(0, at)), text(sep), text(s.substr(at + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    auto p = bind_args(who, a, {"affix"}, 1);
    const std::string& x = need_str(p[0], who);
    if (name == "removeprefix" && s.compare(0, x.size(), x) == 0) return text(s.substr(x.size()));
    if (name == "removesuffix" && !x.empty() && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return text(s.substr(0, s.size() - x.size()));
    return text(s);
  }
  raise("str has no method " + name);
}

Value dict_method(const Value& self, const std::string& name, const Args& a) {
  const std::string who = "dict." + name + "()";
  const Dict& d = *self.dict;
  if (name == "get") {
    auto p = bind_args(who, a, {"key", "default"}, 1);
    const Value* v = d.find(*p[0]);
    return v ? *v : p[1] ? *p[1] : none();
  }
  bind_args(who, a, {});
  if (name == "copy") return self;
  List out;
  for (auto& [k, v] : d.entries)
    out.push_back(name == "keys" ? k : name == "values" ? v : tuple({k, v}));
  return list(std::move(out));
}

Value list_method(const Value& self, const std::string& name, const Args& a) {
  const std::string who = "list." + name + "()";
  if (name == "copy") return bind_args(who, a, {}), self;
  auto p = bind_args(who, a, {"value"}, 1);
  int64_t n = 0;
  for (size_t k = 0; k < self.elems().size(); k++)
    if (equal(self.elems()[k], *p[0])) {
      if (name == "index") return integer(int64_t(k));
      n++;
    }
  if (name == "index") raise(repr(*p[0]) + " is not in list");
  return integer(n);
}

Value method(const Value& self, const std::string& name) {
  return function(type_name(self) + "." + name, [self, name](Interp&, Args& a) {
    if (self.is_str()) return str_method(self.str(), name, a);
    if (self.kind == Kind::Dict) return dict_method(self, name, a);
    return list_method(self, name, a);
  });
}

Value loop_attr(const Value& obj, const std::string& name) {
  const LoopInfo& l = *obj.loop;
  const int64_t i = int64_t(l.index0), n = int64_t(l.items->size());
  if (name == "index") return integer(i + 1);
  if (name == "index0") return integer(i);
  if (name == "revindex") return integer(n - i);
  if (name == "revindex0") return integer(n - i - 1);
  if (name == "first") return boolean(i == 0);
  if (name == "last") return boolean(i == n - 1);
  if (name == "length") return integer(n);
  if (name == "depth") return integer(1);
  if (name == "depth0") return integer(0);
  if (name == "previtem") return i > 0 ? (*l.items)[size_t(i - 1)] : undefined("there is no previous item");
  if (name == "nextitem") return i + 1 < n ? (*l.items)[size_t(i + 1)] : undefined("there is no next item");
  if (name == "cycle")
    return function("loop.cycle", [i](Interp&, Args& a) {
      if (a.pos.empty()) raise("no items for cycling given");
      return a.pos[size_t(i) % a.pos.size()];
    });
  return missing(obj, text(name));
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name, bool allow_keys) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (name.size() > 4 && name.compare(0, 2, "__") == 0 && name.compare(name.size() - 2, 2, "__") == 0)
    return unsafe(obj, name);
  switch (obj.kind) {
    case Kind::Dict:
      if (kDictMethods.count(name)) return method(obj, name);
      if (kDictMutators.count(name)) return unsafe(obj, name);
      if (allow_keys)
        if (const Value* v = obj.dict->find(name)) return *v;
      break;
    case Kind::Str:
      if (kStrMethods.count(name)) return method(obj, name);
      break;
    case Kind::List:
    case Kind::Tuple:
      if (name == "index" || name == "count" || (name == "copy" && obj.kind == Kind::List)) return method(obj, name);
      if (obj.kind == Kind::List && kListMutators.count(name)) return unsafe(obj, name);
      break;
    case Kind::Namespace:
      if (const Value* v = obj.dict->find(name)) return *v;
      break;
    case Kind::Loop: return loop_attr(obj, name);
    case Kind::Func:
      if (name == "name" && obj.fn->macro) return text(obj.fn->name);
      break;
    default: break;
  }
  return missing(obj, text(name));
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.kind == Kind::Dict) {
    if (const Value* v = obj.dict->find(key)) return *v;
  } else if ((obj.is_seq() || obj.is_str()) && key.is_int()) {
    const bool str = obj.is_str();
    Codepoints cps = str ? decode_utf8(obj.str()) : Codepoints{};
    const int64_t n = int64_t(str ? cps.size() : obj.elems().size());
    int64_t k = key.as_int();
    if (k < 0) k += n;
    if (k >= 0 && k < n) return str ? text(encode_utf8(cps, size_t(k), size_t(k) + 1)) : obj.elems()[size_t(k)];
  }
  if (key.is_str()) return get_attr(obj, key.str(), false);  // jinja2 falls back to the attribute
  return missing(obj, key);
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail_undefined(obj);
  // jinja2 compiles slices to a plain Python subscript (not its getitem), so errors surface.
  if (obj.kind == Kind::Dict) raise("unhashable type: 'slice'");
  if (!obj.is_seq() && !obj.is_str()) raise("'" + type_name(obj) + "' object is not subscriptable");
  for (const Value* v : {&start, &stop, &step})
    if (!v->is_none() && !v->is_int()) raise("slice indices must be integers or None or have an __index__ method");
  const bool str = obj.is_str();
  Codepoints cps = str ? decode_utf8(obj.str()) : Codepoints{};
  const int64_t n = int64_t(str ? cps.size() : obj.elems().size());
  int64_t st = step.is_none() ? 1 : step.as_int();
  if (st == 0) raise("slice step cannot be zero");
  st = std::clamp<int64_t>(st, -(n + 1), n + 1);
  const int64_t lower = st < 0 ? -1 : 0, upper = st < 0 ? n - 1 : n;
  auto adjust = [&](const Value& v, int64_t def) {
    if (v.is_none()) return def;
    int64_t x = v.as_int();
    if (x < 0) x = std::max(x + n, lower);  // CPython's PySlice_AdjustIndices
    else if (x > upper) x = upper;
    return x;
  };
  const int64_t b = adjust(start, st < 0 ? upper : lower), e = adjust(stop, st < 0 ? lower : upper);
  std::string s;
  List items;
  for (int64_t k = b; st > 0 ? k < e : k > e; k += st) str ? append_utf8(s, cps[size_t(k)]) : items.push_back(obj.elems()[size_t(k)]);
  if (str) return text(std::move(s));
  return obj.kind == Kind::Tuple ? tuple(std::move(items)) : list(std::move(items));
}

}  // namespace userllm::llm::jinja
