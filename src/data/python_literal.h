// The 2014 Amazon metadata files are Python dict literals written by
// str(dict), not JSON: {'asin': '0000031852', 'title': "Kid's Tutu", 'x': None}.
// This turns one such line into JSON so the JSON readers handle both.
#pragma once
#include <string>
#include <string_view>

namespace userllm::data {

// True when the object opens with a single-quoted key: {'asin': ...
bool looks_like_python_literal(std::string_view line);

// Rewrites strings ('..', "..", u'..', with Python escapes) as JSON strings
// and True/False/None as true/false/null; everything else is copied. Bytes
// that are not UTF-8 are read as Latin-1. A malformed literal is a BadLine.
void python_literal_to_json(std::string_view in, std::string& out);

}  // namespace userllm::data
