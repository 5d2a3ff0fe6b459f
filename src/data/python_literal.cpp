#include "data/python_literal.h"

#include <cstdint>

#include "common/utf8.h"
#include "data/latin1.h"
#include "data/line_loop.h"

namespace userllm::data {
namespace {

uint32_t hex_digits(std::string_view in, size_t& i, int n) {
  if (i + n > in.size()) bad_line("Python literal: truncated \\x/\\u escape");
  uint32_t v = 0;
  for (int k = 0; k < n; ++k) {
    char c = in[i++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
    else bad_line("Python literal: bad hex digit in escape");
  }
  return v;
}

// Decodes the string literal opening at in[i] (the quote) into raw bytes.
// In a u'' string \xE9 is a code point; in a plain (Python 2 byte) string it is a byte.
void read_string(std::string_view in, size_t& i, bool unicode, std::string& raw) {
  char quote = in[i++];
  raw.clear();
  for (;;) {
    if (i >= in.size()) bad_line("Python literal: unterminated string");
    char c = in[i++];
    if (c == quote) return;
    if (c != '\\') {
      raw += c;
      continue;
    }
    if (i >= in.size()) bad_line("Python literal: unterminated string");
    char e = in[i++];
    switch (e) {
      case 'n': raw += '\n'; break;
      case 't': raw += '\t'; break;
      case 'r': raw += '\r'; break;
      case 'b': raw += '\b'; break;
      case 'f': raw += '\f'; break;
      case 'a': raw += '\a'; break;
      case 'v': raw += '\v'; break;
      case '0': raw += '\0'; break;
      case '\\': case '\'': case '"': raw += e; break;
      case 'x': {
        uint32_t v = hex_digits(in, i, 2);
        if (unicode) utf8_append(raw, v);
        else raw += char(v);
        break;
      }
      case 'u': case 'U': {
        uint32_t cp = hex_digits(in, i, e == 'u' ? 4 : 8);
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= in.size() && in[i] == '\\' && in[i + 1] == 'u') {
          size_t j = i + 2;
          uint32_t lo = hex_digits(in, j, 4);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i = j;
          }
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) bad_line("Python literal: invalid code point escape");
        utf8_append(raw, cp);
        break;
      }
      default: raw += '\\'; raw += e;  // Python keeps unknown escapes as written
    }
  }
}

void put_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = uint8_t(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

bool looks_like_python_literal(std::string_view line) {
  size_t i = line.find_first_not_of(" \t");
  if (i == std::string_view::npos || line[i] != '{') return false;
  i = line.find_first_not_of(" \t", i + 1);
  return i != std::string_view::npos && (line[i] == '\'' || line.compare(i, 2, "u'") == 0);
}

void python_literal_to_json(std::string_view in, std::string& out) {
  out.clear();
  std::string raw, buf;
  size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    bool prefixed = (c == 'u' || c == 'b') && i + 1 < in.size() && (in[i + 1] == '\'' || in[i + 1] == '"') &&
                    (i == 0 || !is_word_char(in[i - 1]));
    if (c == '\'' || c == '"' || prefixed) {
      bool unicode = c == 'u';
      if (prefixed) ++i;
      read_string(in, i, unicode, raw);
      put_json_string(out, as_utf8(raw, buf));
    } else if (c >= '0' && c <= '9') {
      // A number, exponent included ("1e5" must not read as a name).
      while (i < in.size() && (is_word_char(in[i]) || in[i] == '.' || in[i] == '+' || in[i] == '-')) out += in[i++];
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
      size_t start = i;
      while (i < in.size() && is_word_char(in[i])) ++i;
      std::string_view word = in.substr(start, i - start);
      if (word == "True") out += "true";
      else if (word == "False") out += "false";
      else if (word == "None") out += "null";
      else bad_line("Python literal: unexpected name \"" + std::string(word.substr(0, 40)) + "\"");
    } else {
      out += c;
      ++i;
    }
  }
}

}  // namespace userllm::data
