#include "data/json_fields.h"

#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "data/line_loop.h"
#include "data/python_literal.h"

namespace userllm::data {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

const char* type_name(element e) {
  switch (e.type()) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "number";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

[[noreturn]] void wrong_type(std::string_view key, const char* expected, element e) {
  bad_line("field \"" + std::string(key) + "\" should be " + expected + ", found " + type_name(e));
}

bool find(object o, std::string_view key, element& out) { return o.at_key(key).get(out) == simdjson::SUCCESS; }

element need(object o, std::string_view key) {
  element e;
  if (!find(o, key, e)) bad_line("missing field \"" + std::string(key) + "\"");
  return e;
}

bool is_number(element e) {
  auto t = e.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

// A set, not a scan of out: a hostile line may hold millions of entries.
void add_unique(std::vector<std::string>& out, std::unordered_set<std::string_view>& seen, std::string_view s) {
  if (seen.insert(s).second) out.emplace_back(s);
}

}  // namespace

simdjson::dom::object JsonLineParser::parse(std::string_view line) {
  if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // a UTF-8 byte-order mark
  size_t start = line.find_first_not_of(" \t");
  if (start != std::string_view::npos && line.compare(start, 1, "{") == 0 &&
      looks_like_python_literal(line.substr(start))) {
    python_literal_to_json(line, converted_);
    line = converted_;
  }
  // simdjson reads SIMDJSON_PADDING bytes past the end.
  padded_.assign(line);
  padded_.append(simdjson::SIMDJSON_PADDING, '\0');
  element doc;
  auto err = parser_.parse(padded_.data(), line.size(), false).get(doc);
  if (err) bad_line(std::string("invalid JSON: ") + simdjson::error_message(err));
  object o;
  if (doc.get(o)) bad_line(std::string("expected a JSON object, found ") + type_name(doc));
  return o;
}

bool has_field(object o, std::string_view key) {
  element e;
  return find(o, key, e);
}

std::string_view need_string(object o, std::string_view key) {
  element e = need(o, key);
  std::string_view s;
  if (e.get(s)) wrong_type(key, "a string", e);
  return s;
}

double need_number(object o, std::string_view key) {
  element e = need(o, key);
  if (!is_number(e)) wrong_type(key, "a number", e);
  return double(e);
}

int64_t need_integer(object o, std::string_view key) {
  element e = need(o, key);
  int64_t v;
  if (e.get(v) == simdjson::SUCCESS) return v;
  double d;
  if (e.get(d) == simdjson::SUCCESS) {
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) return int64_t(d);
    char shown[32];
    std::snprintf(shown, sizeof shown, "%.17g", d);
    bad_line("field \"" + std::string(key) + "\" should be an integer, found " + shown);
  }
  wrong_type(key, "an integer", e);
}

std::string_view opt_string(object o, std::string_view key) {
  element e;
  if (!find(o, key, e) || e.is_null()) return {};
  std::string_view s;
  if (e.get(s)) wrong_type(key, "a string or null", e);
  return s;
}

std::string opt_text(object o, std::string_view key) {
  element e;
  if (!find(o, key, e) || e.is_null()) return {};
  std::string_view s;
  if (e.get(s) == simdjson::SUCCESS) return std::string(s);
  simdjson::dom::array a;
  if (e.get(a)) wrong_type(key, "a string or a list of strings", e);
  std::string out;
  for (element item : a) {
    if (item.get(s)) wrong_type(key, "a list of strings", item);
    if (s.empty()) continue;
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

void opt_string_list(object o, std::string_view key, std::vector<std::string>& out) {
  out.clear();
  element e;
  if (!find(o, key, e) || e.is_null()) return;
  simdjson::dom::array a;
  if (e.get(a)) wrong_type(key, "a list", e);
  std::unordered_set<std::string_view> seen;
  std::string_view s;
  for (element item : a) {
    simdjson::dom::array inner;
    if (item.get(s) == simdjson::SUCCESS) {
      add_unique(out, seen, s);
    } else if (item.get(inner) == simdjson::SUCCESS) {
      for (element x : inner) {
        if (x.get(s)) wrong_type(key, "a list of strings or of lists of strings", x);
        add_unique(out, seen, s);
      }
    } else {
      wrong_type(key, "a list of strings or of lists of strings", item);
    }
  }
}

}  // namespace userllm::data
