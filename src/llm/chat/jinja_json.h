// Python's json.dumps for template values: what HF's `tojson` filter prints.
#pragma once
#include <optional>
#include <string>

#include "llm/chat/jinja_value.h"

namespace userllm::llm::jinja {

struct JsonStyle {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // json.dumps(indent=...): None, or the text of one level
  std::optional<std::string> item_sep, key_sep;  // json.dumps(separators=...); defaults depend on indent
  bool sort_keys = false;
};

std::string to_json(const Value& v, const JsonStyle& style);

}  // namespace userllm::llm::jinja
