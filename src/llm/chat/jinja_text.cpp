#include "llm/chat/jinja_text.h"

#include <algorithm>
#include <stdexcept>

namespace userllm::llm::jinja {

Codepoints decode_utf8(std::string_view s) {
  Codepoints out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = uint8_t(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
    bool ok = n >= 0;
    for (size_t j = i + 1; ok && j <= i + size_t(n); j++) {
      if (j >= s.size() || (uint8_t(s[j]) & 0xc0) != 0x80) ok = false;
      else cp = (cp << 6) | (uint8_t(s[j]) & 0x3f);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (ok && ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
               (cp >= 0xd800 && cp <= 0xdfff)))
      ok = false;
    if (!ok) out.push_back(0xdc00 + c), i++;
    else out.push_back(cp), i += size_t(n) + 1;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp >= 0xdc80 && cp <= 0xdcff) out += char(cp - 0xdc00);  // an undecodable byte, back as it was
  else if (cp < 0x80) out += char(cp);
  else if (cp < 0x800) out += char(0xc0 | (cp >> 6)), out += char(0x80 | (cp & 0x3f));
  else if (cp < 0x10000)
    out += char(0xe0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3f)), out += char(0x80 | (cp & 0x3f));
  else
    out += char(0xf0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3f)), out += char(0x80 | ((cp >> 6) & 0x3f)),
        out += char(0x80 | (cp & 0x3f));
}

std::string encode_utf8(const Codepoints& cps, size_t begin, size_t end) {
  std::string out;
  out.reserve(end - begin);
  for (size_t i = begin; i < end; i++) append_utf8(out, cps[i]);
  return out;
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (uint8_t(c) & 0xc0) != 0x80;
  // Invalid sequences decode byte by byte; fall back to the exact count for them.
  return n == s.size() ? n : decode_utf8(s).size();
}

bool is_space(uint32_t c) {
  return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

bool is_alpha(uint32_t c) {
  if (c < 0x80) return (c | 32) >= 'a' && (c | 32) <= 'z';
  if (c == 0xaa || c == 0xb5 || c == 0xba) return true;
  if (c < 0xc0 || c == 0xd7 || c == 0xf7) return false;
  auto in = [c](uint32_t a, uint32_t b) { return c >= a && c <= b; };
  return in(0xc0, 0x2ff) || in(0x370, 0x3ff) || in(0x400, 0x481) || in(0x48a, 0x52f) || in(0x531, 0x587) ||
         in(0x5d0, 0x5ea) || in(0x620, 0x64a) || in(0x1100, 0x11ff) || in(0x3041, 0x30fa) || in(0x3400, 0x4dbf) ||
         in(0x4e00, 0x9fff) || in(0xac00, 0xd7a3) || in(0xf900, 0xfaff) || in(0xff21, 0xff3a) ||
         in(0xff41, 0xff5a) || in(0x20000, 0x3134f);
}

bool is_printable(uint32_t c) {
  if (c < 0x20 || c == 0x7f) return false;
  if (c < 0x7f) return true;
  auto in = [c](uint32_t a, uint32_t b) { return c >= a && c <= b; };
  return !(in(0x80, 0xa0) || c == 0xad || c == 0x61c || c == 0x1680 || c == 0x180e || in(0x2000, 0x200f) ||
           in(0x2028, 0x202f) || in(0x205f, 0x206f) || c == 0x3000 || in(0xd800, 0xf8ff) || c == 0xfeff ||
           in(0xfff0, 0xfffb) || c == 0xfffe || c == 0xffff || in(0x13430, 0x1343f) || in(0x1bca0, 0x1bca3) ||
           in(0x1d173, 0x1d17a) || c == 0xe0001 || in(0xe0020, 0xe007f) || c >= 0xf0000);
}

uint32_t to_upper(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0xb5) return c;
  if (c == 0xb5) return 0x39c;
  if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 0x20;
  if (c == 0xff) return 0x178;
  if (c == 0x131) return 'I';
  if (c == 0x17f) return 'S';
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) return c & 1 ? c - 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return c & 1 ? c : c - 1;
  if (c == 0x3c2) return 0x3a3;
  if (c >= 0x3b1 && c <= 0x3cb) return c - 0x20;
  if (c == 0x3ac) return 0x386;
  if (c >= 0x3ad && c <= 0x3af) return c - 0x25;
  if (c == 0x3cc) return 0x38c;
  if (c == 0x3cd || c == 0x3ce) return c - 0x3f;
  if (c >= 0x430 && c <= 0x44f) return c - 0x20;
  if (c >= 0x450 && c <= 0x45f) return c - 0x50;
  return c;
}

uint32_t to_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xc0) return c;
  if (c <= 0xde && c != 0xd7) return c + 0x20;
  if (c == 0x178) return 0xff;
  if ((c >= 0x100 && c <= 0x137 && c != 0x130) || (c >= 0x14a && c <= 0x177)) return c & 1 ? c : c + 1;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return c & 1 ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3ab && c != 0x3a2) return c + 0x20;
  if (c == 0x386) return 0x3ac;
  if (c >= 0x388 && c <= 0x38a) return c + 0x25;
  if (c == 0x38c) return 0x3cc;
  if (c == 0x38e || c == 0x38f) return c + 0x3f;
  if (c >= 0x410 && c <= 0x42f) return c + 0x20;
  if (c >= 0x400 && c <= 0x40f) return c + 0x50;
  return c;
}

static bool is_cased(uint32_t c) { return to_upper(c) != c || to_lower(c) != c || c == 0xdf; }

static void append_upper(std::string& out, uint32_t c) {
  if (c == 0xdf) out += "SS";  // Python: 'ß'.upper() == 'SS'
  else append_utf8(out, to_upper(c));
}
static void append_lower(std::string& out, uint32_t c) {
  if (c == 0x130) out += "i\xcc\x87";  // Python: 'İ'.lower() == 'i̇'
  else append_utf8(out, to_lower(c));
}

std::string py_upper(std::string_view s) {
  std::string out;
  for (uint32_t c : decode_utf8(s)) append_upper(out, c);
  return out;
}

std::string py_lower(std::string_view s) {
  std::string out;
  for (uint32_t c : decode_utf8(s)) append_lower(out, c);
  return out;
}

std::string py_capitalize(std::string_view s) {
  std::string out;
  auto cps = decode_utf8(s);
  for (size_t i = 0; i < cps.size(); i++) i == 0 ? append_upper(out, cps[i]) : append_lower(out, cps[i]);
  return out;
}

std::string py_title(std::string_view s) {
  std::string out;
  bool prev_cased = false;
  for (uint32_t c : decode_utf8(s)) {
    prev_cased ? append_lower(out, c) : append_upper(out, c);
    prev_cased = is_cased(c);
  }
  return out;
}

std::string jinja_title(std::string_view s) {
  // jinja2: re.split(r"([-\s({\[<]+)"), then item[0].upper() + item[1:].lower() for each piece.
  std::string out;
  bool start = true;
  for (uint32_t c : decode_utf8(s)) {
    const bool sep = is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) append_utf8(out, c), start = true;
    else start ? append_upper(out, c) : append_lower(out, c), start = false;
  }
  return out;
}

std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  auto cps = decode_utf8(s);
  Codepoints set = chars ? decode_utf8(*chars) : Codepoints{};
  auto strip = [&](uint32_t c) { return chars ? std::find(set.begin(), set.end(), c) != set.end() : is_space(c); };
  size_t b = 0, e = cps.size();
  while (left && b < e && strip(cps[b])) b++;
  while (right && e > b && strip(cps[e - 1])) e--;
  return encode_utf8(cps, b, e);
}

std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw std::invalid_argument("empty separator");
    size_t pos = 0;
    for (size_t hit; (maxsplit < 0 || int64_t(out.size()) < maxsplit) && (hit = s.find(*sep, pos)) != s.npos;)
      out.emplace_back(s.substr(pos, hit - pos)), pos = hit + sep->size();
    out.emplace_back(s.substr(pos));
    return out;
  }
  auto cps = decode_utf8(s);
  size_t i = 0, n = cps.size();
  while (true) {
    while (i < n && is_space(cps[i])) i++;
    if (i == n) break;
    if (maxsplit >= 0 && int64_t(out.size()) == maxsplit) {
      out.push_back(encode_utf8(cps, i, n));
      break;
    }
    size_t j = i;
    while (j < n && !is_space(cps[j])) j++;
    out.push_back(encode_utf8(cps, i, j));
    i = j;
  }
  return out;
}

std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw std::invalid_argument("empty separator");
    size_t end = s.size();
    while (maxsplit < 0 || int64_t(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == s.npos) break;
      out.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    out.emplace_back(s.substr(0, end));
  } else {
    auto cps = decode_utf8(s);
    size_t j = cps.size();
    while (true) {
      while (j > 0 && is_space(cps[j - 1])) j--;
      if (j == 0) break;
      if (maxsplit >= 0 && int64_t(out.size()) == maxsplit) {
        out.push_back(encode_utf8(cps, 0, j));
        break;
      }
      size_t i = j;
      while (i > 0 && !is_space(cps[i - 1])) i--;
      out.push_back(encode_utf8(cps, i, j));
      j = i;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
  auto cps = decode_utf8(s);
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < cps.size(); i++) {
    const uint32_t c = cps[i];
    const bool brk = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e) || c == 0x85 ||
                     c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    size_t end = i;
    if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') i++;
    out.push_back(encode_utf8(cps, start, keepends ? i + 1 : end));
    start = i + 1;
  }
  if (start < cps.size()) out.push_back(encode_utf8(cps, start, cps.size()));
  return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view with, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `with` around every character
    auto cps = decode_utf8(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); i++) {
      if (count < 0 || done < count) out += with, done++;
      if (i < cps.size()) append_utf8(out, cps[i]);
    }
    return out;
  }
  size_t pos = 0;
  for (int64_t done = 0; count < 0 || done < count; done++) {
    size_t hit = s.find(old, pos);
    if (hit == s.npos) break;
    out.append(s.substr(pos, hit - pos)).append(with);
    pos = hit + old.size();
  }
  return out.append(s.substr(pos));
}

int64_t py_find(std::string_view s, std::string_view sub, bool reverse) {
  size_t hit = reverse ? s.rfind(sub) : s.find(sub);
  return hit == s.npos ? -1 : int64_t(count_code_points(s.substr(0, hit)));
}

int64_t py_count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return int64_t(count_code_points(s)) + 1;
  int64_t n = 0;
  for (size_t pos = 0; (pos = s.find(sub, pos)) != s.npos; pos += sub.size()) n++;
  return n;
}

std::string py_center(std::string_view s, int64_t width, uint32_t fill) {
  const int64_t len = int64_t(count_code_points(s)), marg = width - len;
  if (marg <= 0) return std::string(s);
  const int64_t left = marg / 2 + (marg & width & 1);
  std::string pad_l, pad_r;
  for (int64_t k = 0; k < left; k++) append_utf8(pad_l, fill);
  for (int64_t k = 0; k < marg - left; k++) append_utf8(pad_r, fill);
  return pad_l + std::string(s) + pad_r;
}

}  // namespace userllm::llm::jinja
