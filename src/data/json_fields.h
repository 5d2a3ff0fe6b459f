// One JSON object per line (simdjson DOM) and typed field access whose
// failures are BadLines: `missing field "asin"`, `field "overall" should be a
// number, found string`.
#pragma once
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::data {

class JsonLineParser {
 public:
  // The line as a JSON object. A Python dict literal ({'asin': ...}, the 2014
  // Amazon metadata) is converted first (python_literal.h). Views into the
  // result are valid until the next parse.
  simdjson::dom::object parse(std::string_view line);

 private:
  simdjson::dom::parser parser_;
  std::string padded_, converted_;
};

// Presence (a null value counts as present).
bool has_field(simdjson::dom::object o, std::string_view key);

std::string_view need_string(simdjson::dom::object o, std::string_view key);
double need_number(simdjson::dom::object o, std::string_view key);
int64_t need_integer(simdjson::dom::object o, std::string_view key);  // integral doubles too

// Missing or null give "".
std::string_view opt_string(simdjson::dom::object o, std::string_view key);
// A string, or a list of strings joined by "\n" (2018 / 2023 descriptions).
std::string opt_text(simdjson::dom::object o, std::string_view key);
// A list of strings, or a list of lists of strings (2014 categories), flattened
// in order without repeats; missing or null give an empty list.
void opt_string_list(simdjson::dom::object o, std::string_view key, std::vector<std::string>& out);

}  // namespace userllm::data
