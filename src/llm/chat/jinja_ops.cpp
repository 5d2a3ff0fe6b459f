// Python arithmetic on template values, and Python's two string formatting
// mini-languages ("%s" % x and "{}".format(x)).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "llm/chat/jinja_builtins.h"
#include "llm/chat/jinja_text.h"

namespace userllm::llm::jinja {
namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  raise("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

Value int_op(const std::string& op, int64_t a, int64_t b) {
  int64_t r = 0;
  auto overflow = [] { raise("integer overflow (values past 64 bits are not supported)"); };
  if (op == "+") {
    if (__builtin_add_overflow(a, b, &r)) overflow();
  } else if (op == "-") {
    if (__builtin_sub_overflow(a, b, &r)) overflow();
  } else if (op == "*") {
    if (__builtin_mul_overflow(a, b, &r)) overflow();
  } else if (op == "/") {
    if (b == 0) raise("division by zero");
    return number(double(a) / double(b));
  } else if (op == "//" || op == "%") {
    if (b == 0) raise("integer division or modulo by zero");
    if (b == -1) {  // INT64_MIN / -1 overflows in C++
      if (op == "%") return integer(0);
      if (a == INT64_MIN) overflow();
      return integer(-a);
    }
    int64_t q = a / b, m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) q--, m += b;  // Python rounds toward negative infinity
    return integer(op == "//" ? q : m);
  } else if (op == "**") {
    if (b < 0) {
      if (a == 0) raise("0.0 cannot be raised to a negative power");
      return number(std::pow(double(a), double(b)));
    }
    r = 1;
    for (int64_t base = a; b > 0; b >>= 1) {
      if ((b & 1) && __builtin_mul_overflow(r, base, &r)) overflow();
      if (b > 1 && __builtin_mul_overflow(base, base, &base)) overflow();
    }
  }
  return integer(r);
}

Value float_op(const std::string& op, double a, double b) {
  if (op == "+") return number(a + b);
  if (op == "-") return number(a - b);
  if (op == "*") return number(a * b);
  if (op == "/") {
    if (b == 0) raise("float division by zero");
    return number(a / b);
  }
  if (op == "//" || op == "%") {
    if (b == 0) raise(op == "%" ? "float modulo" : "float floor division by zero");
    // CPython's float_divmod.
    double mod = std::fmod(a, b), div = (a - mod) / b;
    if (mod != 0) {
      if ((b < 0) != (mod < 0)) mod += b, div -= 1.0;
    } else {
      mod = std::copysign(0.0, b);
    }
    double floordiv;
    if (div != 0) {
      floordiv = std::floor(div);
      if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
      floordiv = std::copysign(0.0, a / b);
    }
    return number(op == "%" ? mod : floordiv);
  }
  // **
  if (a == 0 && b < 0) raise("0.0 cannot be raised to a negative power");
  if (a < 0 && std::isfinite(b) && b != std::floor(b)) raise("complex results of ** are not supported");
  const double r = std::pow(a, b);
  if (std::isinf(r) && std::isfinite(a) && std::isfinite(b)) raise("numerical result out of range");
  return number(r);
}

Value repeat(const Value& seq, int64_t n) {
  if (seq.is_str()) {
    const std::string& s = seq.str();
    if (n <= 0 || s.empty()) return text("");
    if (uint64_t(n) > kMaxString / s.size()) check_size(kMaxString + 1);
    std::string out;
    out.reserve(s.size() * size_t(n));
    for (int64_t k = 0; k < n; k++) out += s;
    return text(std::move(out));
  }
  List out;
  if (n > 0 && !seq.elems().empty()) {
    if (uint64_t(n) > kMaxItems / seq.elems().size()) raise("list too long");
    for (int64_t k = 0; k < n; k++) out.insert(out.end(), seq.elems().begin(), seq.elems().end());
  }
  return seq.kind == Kind::Tuple ? tuple(std::move(out)) : list(std::move(out));
}

}  // namespace

Value arith(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (op == "+") {
    if (a.is_str() && b.is_str()) {
      check_size(a.str().size() + b.str().size());
      return text(a.str() + b.str());
    }
    if (a.is_seq() && a.kind == b.kind) {
      List out = a.elems();
      out.insert(out.end(), b.elems().begin(), b.elems().end());
      return a.kind == Kind::Tuple ? tuple(std::move(out)) : list(std::move(out));
    }
    if (a.is_str() || a.is_seq())
      raise("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
  }
  if (op == "*") {
    if ((a.is_str() || a.is_seq()) && b.is_int()) return repeat(a, b.as_int());
    if ((b.is_str() || b.is_seq()) && a.is_int()) return repeat(b, a.as_int());
  }
  if (op == "%" && a.is_str()) return text(percent_format(a.str(), b));
  if (!a.is_number() || !b.is_number()) unsupported(op, a, b);
  if (a.is_int() && b.is_int()) return int_op(op, a.as_int(), b.as_int());
  return float_op(op, a.as_double(), b.as_double());
}

namespace {

int64_t to_int(const Value& v, char conv) {
  if (v.is_int()) return v.as_int();
  if (v.kind == Kind::Float && conv != 'x' && conv != 'X' && conv != 'o' && conv != 'c') {
    if (!std::isfinite(v.f)) raise("cannot convert float to integer");
    return int64_t(v.f);
  }
  raise(std::string("%") + conv + " format: " + (conv == 'd' || conv == 'i' ? "a real number" : "an integer") +
        " is required, not " + type_name(v));
}

std::string pad(const std::string& s, int64_t width, char align, uint32_t fill) {
  const int64_t n = int64_t(count_code_points(s));
  if (width <= n) return s;
  if (width > int64_t(kMaxString)) check_size(size_t(width));
  std::string f;
  append_utf8(f, fill);
  auto rep = [&](int64_t k) {
    std::string o;
    for (int64_t j = 0; j < k; j++) o += f;
    return o;
  };
  if (align == '<') return s + rep(width - n);
  if (align == '^') return rep((width - n) / 2) + s + rep(width - n - (width - n) / 2);
  if (align == '=' && !s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) return s.substr(0, 1) + rep(width - n) + s.substr(1);
  return rep(width - n) + s;
}

template <typename T>
std::string c_format(const std::string& spec, T x) {
  const int n = std::snprintf(nullptr, 0, spec.c_str(), x);
  if (n < 0) raise("bad format '" + spec + "'");
  check_size(size_t(n));
  std::string out(size_t(n) + 1, '\0');
  std::snprintf(out.data(), out.size(), spec.c_str(), x);
  out.pop_back();
  return out;
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
  List vals;
  const bool mapping = args.kind == Kind::Dict || args.kind == Kind::List;  // Python's PyMapping_Check
  if (args.kind == Kind::Tuple) vals = args.elems();
  else vals.push_back(args);
  size_t next = 0;
  auto take = [&]() -> Value {
    if (next >= vals.size()) raise("not enough arguments for format string");
    return vals[next++];
  };
  std::string out;
  for (size_t i = 0; i < fmt.size(); i++) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) raise("incomplete format");
    Value v;
    bool have = false;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos) raise("incomplete format key");
      if (args.kind != Kind::Dict) raise("format requires a mapping");
      const Value* found = args.dict->find(fmt.substr(i + 1, close - i - 1));
      if (!found) raise("KeyError: " + str_repr(fmt.substr(i + 1, close - i - 1)));
      v = *found, have = true, i = close + 1;
    }
    std::string flags;
    while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos) flags += fmt[i++];
    auto number_part = [&]() -> int64_t {
      if (i < fmt.size() && fmt[i] == '*') return i++, to_int(take(), 'd');
      int64_t n = -1;
      while (i < fmt.size() && std::isdigit(uint8_t(fmt[i])))
        n = std::min<int64_t>(std::max<int64_t>(n, 0) * 10 + (fmt[i++] - '0'), int64_t(kMaxString) + 1);
      if (n > int64_t(kMaxString)) check_size(size_t(n));
      return n;
    };
    const int64_t width = number_part();
    int64_t prec = -1;
    if (i < fmt.size() && fmt[i] == '.') i++, prec = std::max<int64_t>(number_part(), 0);
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) i++;
    if (i >= fmt.size()) raise("incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!have) v = take();
    const bool left = flags.find('-') != std::string::npos;
    std::string piece;
    if (conv == 's' || conv == 'r' || conv == 'a') {
      piece = conv == 's' ? to_str(v) : repr(v);
      if (prec >= 0) {
        auto cps = decode_utf8(piece);
        if (int64_t(cps.size()) > prec) piece = encode_utf8(cps, 0, size_t(prec));
      }
      piece = pad(piece, width, left ? '<' : '>', ' ');
    } else {
      std::string spec = "%" + flags + (width >= 0 ? std::to_string(width) : "") + (prec >= 0 ? "." + std::to_string(prec) : "");
      if (conv == 'd' || conv == 'i' || conv == 'u') piece = c_format(spec + "lld", (long long)to_int(v, 'd'));
      else if (conv == 'x' || conv == 'X' || conv == 'o') piece = c_format(spec + "ll" + conv, (long long)to_int(v, conv));
      else if (std::string("eEfFgG").find(conv) != std::string::npos) {
        if (!v.is_number()) raise("must be real number, not " + type_name(v));
        piece = c_format(spec + conv, v.as_double());
      } else if (conv == 'c') {
        if (v.is_str() && count_code_points(v.str()) == 1) piece = v.str();
        else append_utf8(piece, uint32_t(to_int(v, 'c')));
        piece = pad(piece, width, left ? '<' : '>', ' ');
      } else {
        raise(std::string("unsupported format character '") + conv + "'");
      }
    }
    out += piece;
    check_size(out.size());
  }
  if (next < vals.size() && !mapping) raise("not all arguments converted during string formatting");
  return out;
}

// One replacement field's format spec: [[fill]align][sign][0][width][.precision][type].
std::string format_spec(const Value& v, const std::string& spec) {
  if (spec.empty()) return to_str(v);
  auto cps = decode_utf8(spec);
  size_t k = 0;
  uint32_t fill = ' ';
  char align = 0, sign = 0, type = 0;
  auto is_align = [](uint32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() > 1 && is_align(cps[1])) fill = cps[0], align = char(cps[1]), k = 2;
  else if (!cps.empty() && is_align(cps[0])) align = char(cps[0]), k = 1;
  if (k < cps.size() && (cps[k] == '+' || cps[k] == '-' || cps[k] == ' ')) sign = char(cps[k++]);
  if (k < cps.size() && cps[k] == '0') {
    if (!align) fill = '0', align = '=';
    k++;
  }
  int64_t width = 0, prec = -1;
  while (k < cps.size() && cps[k] >= '0' && cps[k] <= '9' && width < int64_t(kMaxString)) width = width * 10 + (cps[k++] - '0');
  char group = 0;  // thousands separator
  if (k < cps.size() && (cps[k] == ',' || cps[k] == '_')) group = char(cps[k++]);
  if (k < cps.size() && cps[k] == '.') {
    prec = 0, k++;
    while (k < cps.size() && cps[k] >= '0' && cps[k] <= '9' && prec <= 1000) prec = prec * 10 + (cps[k++] - '0');
  }
  if (k < cps.size()) type = char(cps[k++]);
  if (k != cps.size() || width >= int64_t(kMaxString) || prec > 1000) raise("unsupported format spec '" + spec + "'");
  std::string body;
  if (v.is_str() && (type == 0 || type == 's')) {
    body = v.str();
    if (prec >= 0 && int64_t(count_code_points(body)) > prec) body = encode_utf8(decode_utf8(body), 0, size_t(prec));
    return pad(body, width, align ? align : '<', fill);
  }
  if (!v.is_number()) raise("unsupported format spec '" + spec + "' for " + type_name(v));
  std::string flag = sign == '+' ? "+" : sign == ' ' ? " " : "";
  if (v.is_int() && (type == 0 || type == 'd')) body = c_format("%" + flag + "lld", (long long)v.as_int());
  else if (v.is_int() && (type == 'x' || type == 'X' || type == 'o' || type == 'b')) {
    if (type == 'b') {
      uint64_t u = uint64_t(std::llabs(v.as_int()));
      do body.insert(body.begin(), char('0' + (u & 1))); while (u >>= 1);
      if (v.as_int() < 0) body = "-" + body;
    } else {
      body = c_format("%ll" + std::string(1, type), (long long)v.as_int());
    }
  } else if (type == '%') {
    body = c_format("%" + flag + "." + std::to_string(prec < 0 ? 6 : prec) + "f", v.as_double() * 100) + "%";
  } else if (type == 0 && prec < 0) {
    body = to_str(v);
    if (sign == '+' && v.as_double() >= 0) body = "+" + body;
  } else if (type == 0 || std::string("eEfFgG").find(type) != std::string::npos) {
    body = c_format("%" + flag + "." + std::to_string(prec < 0 ? 6 : prec) + std::string(1, type ? type : 'g'), v.as_double());
  } else {
    raise("unsupported format spec '" + spec + "'");
  }
  if (group && (type == 0 || type == 'd' || type == 'f' || type == 'F' || type == '%')) {
    size_t b = body.find_first_of("0123456789"), e = body.find_first_not_of("0123456789", b);
    if (e == std::string::npos) e = body.size();
    for (size_t at = e; b != std::string::npos && at > b + 3; at -= 3) body.insert(at - 3, 1, group);
  }
  return pad(body, width, align ? align : '>', fill);
}

}  // namespace userllm::llm::jinja
