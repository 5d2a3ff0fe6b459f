// Minimal UTF-8 helpers (tokenizers, readers).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace userllm {

// Byte length of the UTF-8 sequence starting with `lead` (1 for a stray byte).
inline size_t utf8_len(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

inline void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Decodes the codepoint at s[i] and advances i; a malformed sequence yields
// its first byte as a codepoint below 0x100 (never reads past the end).
inline uint32_t utf8_next(std::string_view s, size_t& i) {
  const auto lead = uint8_t(s[i]);
  size_t n = utf8_len(lead);
  if (n == 1 || i + n > s.size()) {
    i++;
    return lead;
  }
  uint32_t cp = lead & (0x7F >> n);
  for (size_t k = 1; k < n; k++) {
    const auto c = uint8_t(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      i++;
      return lead;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += n;
  return cp;
}

// Byte offset of the first invalid UTF-8 sequence, or npos when valid.
inline size_t utf8_invalid_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto lead = uint8_t(s[i]);
    const size_t n = utf8_len(lead);
    if (n == 1 && lead >= 0x80) return i;
    if (i + n > s.size()) return i;
    for (size_t k = 1; k < n; k++)
      if ((uint8_t(s[i + k]) & 0xC0) != 0x80) return i;
    size_t j = i;
    const uint32_t cp = utf8_next(s, j);
    const uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : n == 4 ? 0x10000 : 0;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n;
  }
  return std::string_view::npos;
}

}  // namespace userllm
