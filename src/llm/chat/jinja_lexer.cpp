#include "llm/chat/jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "common/error.h"
#include "llm/chat/jinja_text.h"

namespace userllm::llm::jinja {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z'); }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

struct Lexer {
  std::string src;
  std::vector<size_t> line_starts{0};
  std::vector<Token> out;
  bool line_starting = true;  // jinja2: the previous match ended with a newline

  explicit Lexer(const std::string& source) {
    // Python's jinja2 normalises \r\n and \r to \n and drops one trailing newline.
    for (size_t k = 0; k < source.size(); k++) {
      if (source[k] == '\r') {
        src += '\n';
        if (k + 1 < source.size() && source[k + 1] == '\n') k++;
      } else {
        src += source[k];
      }
    }
    if (!src.empty() && src.back() == '\n') src.pop_back();
    for (size_t k = 0; k < src.size(); k++)
      if (src[k] == '\n') line_starts.push_back(k + 1);
  }

  std::pair<int, int> where(size_t pos) const {
    auto it = std::upper_bound(line_starts.begin(), line_starts.end(), pos) - 1;
    return {int(it - line_starts.begin()) + 1, int(pos - *it) + 1};
  }

  [[noreturn]] void error(size_t pos, const std::string& what) const {
    auto [line, col] = where(pos);
    fail("chat template: line " + std::to_string(line) + " col " + std::to_string(col) + ": " + what);
  }

  Token& push(Tok type, size_t pos, std::string text) {
    auto [line, col] = where(pos);
    Token t{type, std::move(text)};
    t.line = line, t.col = col;
    out.push_back(std::move(t));
    return out.back();
  }

  // Byte length of the whitespace character at pos (Python's \s), or 0.
  size_t space_at(size_t pos) const {
    if (pos >= src.size()) return 0;
    const auto c = uint8_t(src[pos]);
    if (c < 0x80) return is_space(c) ? 1 : 0;
    const size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    auto cps = decode_utf8(std::string_view(src).substr(pos, n));
    return !cps.empty() && cps[0] < 0xdc00 && is_space(cps[0]) ? n : 0;
  }
  // Byte length of a non-ASCII letter at pos (Python identifiers may have them), or 0.
  size_t name_letter(size_t pos) const {
    const auto c = uint8_t(src[pos]);
    if (c < 0x80) return 0;
    const size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    auto cps = decode_utf8(std::string_view(src).substr(pos, n));
    return !cps.empty() && cps[0] < 0xdc00 && is_alpha(cps[0]) ? n : 0;
  }
  size_t skip_space(size_t pos) const {
    for (size_t n; (n = space_at(pos)) > 0;) pos += n;
    return pos;
  }
  bool at(size_t pos, const char* s) const { return src.compare(pos, std::char_traits<char>::length(s), s) == 0; }

  // Text before a tag, with the tag's whitespace control applied (jinja2's OptionalLStrip).
  void text_before(std::string text, size_t pos, char sign, bool is_variable) {
    if (sign == '-') {
      auto cps = decode_utf8(text);
      size_t e = cps.size();
      while (e > 0 && is_space(cps[e - 1])) e--;
      text = encode_utf8(cps, 0, e);
    } else if (sign != '+' && !is_variable) {  // lstrip_blocks
      size_t l = text.rfind('\n');
      l = l == std::string::npos ? 0 : l + 1;
      if ((l > 0 || line_starting) && l < text.size()) {
        const auto tail = decode_utf8(std::string_view(text).substr(l));
        if (std::all_of(tail.begin(), tail.end(), is_space)) text.resize(l);
      }
    }
    if (!text.empty()) push(Tok::Text, pos, std::move(text));
  }

  // `{%[-+]? raw [-]?%}` at pos: returns the end of the tag (0 if not a raw tag) and its sign.
  size_t raw_begin(size_t pos, char& sign) const {
    size_t p = pos + 2;
    sign = p < src.size() && (src[p] == '-' || src[p] == '+') ? src[p++] : 0;
    p = skip_space(p);
    if (!at(p, "raw")) return 0;
    p = skip_space(p + 3);
    if (at(p, "-%}")) return skip_space(p + 3);
    if (at(p, "%}")) return p + 2;
    return 0;
  }

  // Text up to {% endraw %}; returns the position after it.
  size_t raw(size_t body) {
    if (body >= src.size()) return body;  // as jinja2: nothing left after {% raw %} is no error
    for (size_t q = src.find("{%", body); q != std::string::npos; q = src.find("{%", q + 1)) {
      size_t p = q + 2;
      const char sign = p < src.size() && (src[p] == '-' || src[p] == '+') ? src[p++] : 0;
      p = skip_space(p);
      if (!at(p, "endraw")) continue;
      p = skip_space(p + 6);
      size_t end;
      if (at(p, "+%}")) end = p + 3;
      else if (at(p, "-%}")) end = skip_space(p + 3);
      else if (at(p, "%}")) end = p + 2 + (p + 2 < src.size() && src[p + 2] == '\n');
      else continue;
      text_before(src.substr(body, q - body), body, sign, false);
      line_starting = src[end - 1] == '\n';
      return end;
    }
    error(body, "missing end of raw directive");
  }

  // \d+(_\d+)* at p: its end, or npos.
  size_t digits(size_t p) const {
    if (p >= src.size() || !is_digit(src[p])) return std::string::npos;
    while (p < src.size() && (is_digit(src[p]) || (src[p] == '_' && p + 1 < src.size() && is_digit(src[p + 1])))) p++;
    return p;
  }

  size_t float_end(size_t p) const {
    if (p > 0 && src[p - 1] == '.') return std::string::npos;
    const size_t q = digits(p);
    if (q == std::string::npos) return q;
    size_t r = q, f;
    if (r < src.size() && src[r] == '.' && (f = digits(r + 1)) != std::string::npos) r = f;
    if (r < src.size() && (src[r] | 32) == 'e') {
      size_t e = r + 1;
      if (e < src.size() && (src[e] == '+' || src[e] == '-')) e++;
      if ((e = digits(e)) != std::string::npos) return e;
    }
    if (q < src.size() && src[q] == '.' && (f = digits(q + 1)) != std::string::npos) return f;
    return std::string::npos;
  }

  size_t int_end(size_t p, int& base) const {
    base = 10;
    if (src[p] == '0' && p + 1 < src.size()) {
      const char b = char(src[p + 1] | 32);
      base = b == 'b' ? 2 : b == 'o' ? 8 : b == 'x' ? 16 : 10;
      if (base != 10) {
        auto ok = [&](char c) { return base == 16 ? std::isxdigit(uint8_t(c)) != 0 : c >= '0' && c < char('0' + base); };
        size_t q = p + 2;
        while (q < src.size() && (ok(src[q]) || (src[q] == '_' && q + 1 < src.size() && ok(src[q + 1])))) q++;
        if (q > p + 2) return q;
        base = 10;
      }
      size_t q = p + 1;  // 0(_?0)*
      while (q < src.size() && (src[q] == '0' || (src[q] == '_' && q + 1 < src.size() && src[q + 1] == '0'))) q++;
      return q;
    }
    return digits(p);
  }

  // Python string literal body (jinja2 decodes it with unicode-escape).
  std::string unescape(size_t begin, size_t end) const {
    std::string out;
    for (size_t k = begin; k < end; k++) {
      if (src[k] != '\\' || k + 1 >= end) {
        out += src[k];
        continue;
      }
      const char c = src[++k];
      auto hex = [&](int n) {
        if (k + size_t(n) >= end) error(k, "truncated \\x, \\u or \\U escape in string");
        uint32_t v = 0;
        for (int j = 1; j <= n; j++) {
          const char h = src[k + size_t(j)];
          if (!std::isxdigit(uint8_t(h))) error(k, "truncated \\x, \\u or \\U escape in string");
          v = v * 16 + uint32_t(is_digit(h) ? h - '0' : (h | 32) - 'a' + 10);
        }
        k += size_t(n);
        if (v > 0x10ffff) error(k, "illegal Unicode character in string");
        append_utf8(out, v);
      };
      switch (c) {
        case '\n': break;  // line continuation
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': hex(2); break;
        case 'u': hex(4); break;
        case 'U': hex(8); break;
        case 'N': error(k, "\\N{...} escapes are not supported");
        default:
          if (c >= '0' && c <= '7') {
            uint32_t v = 0;
            for (int j = 0; j < 3 && k < end && src[k] >= '0' && src[k] <= '7'; j++, k++) v = v * 8 + uint32_t(src[k] - '0');
            k--;
            append_utf8(out, v);
          } else {
            out += '\\', out += c;  // unknown escapes stay as written
          }
      }
    }
    return out;
  }

  // Tokens of a {{ }} or {% %} tag starting after its opener; returns the position after the tag.
  size_t tag(size_t p, bool block) {
    std::vector<char> balance;
    static const char* ops[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(",
                                ")",  "{",  "}",  ">",  "<",  "=",  ".", ":", "|", ",", ";"};
    while (true) {
      const size_t q = skip_space(p);
      if (q > p) line_starting = src[q - 1] == '\n', p = q;
      if (p >= src.size()) return p;  // the parser reports the missing end of the tag
      if (balance.empty()) {
        if (block && at(p, "+%}")) return push(Tok::BlockEnd, p, "%}"), line_starting = false, p + 3;
        if (block && at(p, "-%}")) {
          push(Tok::BlockEnd, p, "%}");
          const size_t e = skip_space(p + 3);
          line_starting = src[e - 1] == '\n';
          return e;
        }
        if (block && at(p, "%}")) {
          push(Tok::BlockEnd, p, "%}");
          const bool nl = p + 2 < src.size() && src[p + 2] == '\n';  // trim_blocks
          line_starting = nl;
          return p + 2 + nl;
        }
        if (!block && at(p, "-}}")) {
          push(Tok::VarEnd, p, "}}");
          const size_t e = skip_space(p + 3);
          line_starting = src[e - 1] == '\n';
          return e;
        }
        if (!block && at(p, "}}")) return push(Tok::VarEnd, p, "}}"), line_starting = false, p + 2;
      }
      line_starting = false;
      const char c = src[p];
      int base;
      size_t e;
      if ((e = float_end(p)) != std::string::npos) {
        std::string s = src.substr(p, e - p);
        s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
        push(Tok::Float, p, s).f = std::strtod(s.c_str(), nullptr);
      } else if (is_digit(c) && (e = int_end(p, base)) != std::string::npos) {
        std::string s = src.substr(p, e - p);
        s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
        errno = 0;
        const unsigned long long v = std::strtoull(s.c_str() + (base == 10 ? 0 : 2), nullptr, base);
        if (errno == ERANGE || v > uint64_t(INT64_MAX)) error(p, "integer literal too large");
        push(Tok::Int, p, s).i = int64_t(v);
      } else if (is_name_start(c) || name_letter(p)) {
        e = p;
        while (e < src.size() && (is_name_char(src[e]) || name_letter(e))) e += uint8_t(src[e]) < 0x80 ? 1 : name_letter(e);
        push(Tok::Name, p, src.substr(p, e - p));
      } else if (c == '\'' || c == '"') {
        e = p + 1;
        while (e < src.size() && src[e] != c) e += src[e] == '\\' ? 2 : 1;
        if (e >= src.size()) error(p, "unterminated string");
        push(Tok::String, p, unescape(p + 1, e));
        e++;
      } else {
        const char* op = nullptr;
        for (const char* o : ops)
          if (at(p, o)) {
            op = o;
            break;
          }
        if (!op) {
          const auto cps = decode_utf8(std::string_view(src).substr(p, 4));
          error(p, "unexpected character '" + encode_utf8(cps, 0, 1) + "'");
        }
        e = p + std::char_traits<char>::length(op);
        const char o = op[0];
        if (!op[1] && (o == '(' || o == '[' || o == '{')) balance.push_back(o == '(' ? ')' : o == '[' ? ']' : '}');
        if (!op[1] && (o == ')' || o == ']' || o == '}')) {
          if (balance.empty()) error(p, std::string("unexpected '") + o + "'");
          if (balance.back() != o) error(p, std::string("unexpected '") + o + "', expected '" + balance.back() + "'");
          balance.pop_back();
        }
        push(Tok::Op, p, op);
      }
      p = e;
    }
  }

  void lex(size_t pos) {
    while (pos < src.size()) {
      size_t open = pos;
      while ((open = src.find('{', open)) != std::string::npos && open + 1 < src.size() &&
             std::string_view("{%#").find(src[open + 1]) == std::string_view::npos)
        open++;
      if (open == std::string::npos || open + 1 >= src.size()) {
        push(Tok::Text, pos, src.substr(pos));
        return;
      }
      const char kind = src[open + 1];
      std::string before = src.substr(pos, open - pos);
      char sign = 0;
      if (kind == '%') {
        if (size_t end = raw_begin(open, sign)) {
          text_before(std::move(before), pos, sign, false);
          line_starting = src[end - 1] == '\n';
          pos = raw(end);
          continue;
        }
      }
      size_t p = open + 2;
      if (p < src.size() && (src[p] == '-' || src[p] == '+')) sign = src[p++];
      text_before(std::move(before), pos, sign, kind == '{');
      line_starting = false;
      if (kind == '#') {
        if (p >= src.size()) return;  // jinja2 quietly ends on a "{#" that ends the template
        const size_t e = src.find("#}", p);
        if (e == std::string::npos) error(open, "missing end of comment tag");
        const char esign = e > p && (src[e - 1] == '-' || src[e - 1] == '+') ? src[e - 1] : 0;
        size_t after = e + 2;
        if (esign == '-') after = skip_space(after);
        else if (esign != '+' && after < src.size() && src[after] == '\n') after++;  // trim_blocks
        line_starting = src[after - 1] == '\n';
        pos = after;
        continue;
      }
      push(kind == '{' ? Tok::VarBegin : Tok::BlockBegin, open, kind == '{' ? "{{" : "{%");
      pos = tag(p, kind == '%');
    }
  }
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  Lexer lx(source);
  lx.lex(0);
  auto [line, col] = lx.where(lx.src.size());
  Token eof{Tok::Eof, ""};
  eof.line = line, eof.col = col;
  lx.out.push_back(eof);
  return std::move(lx.out);
}

}  // namespace userllm::llm::jinja
