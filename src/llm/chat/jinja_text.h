// UTF-8 code points and the Python str methods chat templates call. Python
// indexes strings by code point, so these decode; invalid bytes become
// U+DC80+byte (like Python's surrogateescape) and encode back unchanged.
// Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
// (Python knows all of Unicode; these are the scripts seen in templates).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::llm::jinja {

using Codepoints = std::vector<uint32_t>;
Codepoints decode_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cp);
std::string encode_utf8(const Codepoints& cps, size_t begin, size_t end);
inline std::string encode_utf8(const Codepoints& cps) { return encode_utf8(cps, 0, cps.size()); }
size_t count_code_points(std::string_view s);

bool is_space(uint32_t c);      // Python str.isspace
bool is_alpha(uint32_t c);      // approximates str.isalpha outside ASCII (letters of the scripts above, CJK, ...)
bool is_printable(uint32_t c);  // approximates str.isprintable, for repr()
uint32_t to_upper(uint32_t c);
uint32_t to_lower(uint32_t c);

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_title(std::string_view s);     // str.title(): upper after any non-letter
std::string jinja_title(std::string_view s);  // the |title filter: upper after whitespace and -({[<
std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
std::string py_replace(std::string_view s, std::string_view old, std::string_view with, int64_t count);
int64_t py_find(std::string_view s, std::string_view sub, bool reverse);  // code point index or -1
int64_t py_count(std::string_view s, std::string_view sub);
std::string py_center(std::string_view s, int64_t width, uint32_t fill = ' ');

}  // namespace userllm::llm::jinja
