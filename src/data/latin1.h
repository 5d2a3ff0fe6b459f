// The old MovieLens releases (ml-100k, ml-1m, ml-10m) are Latin-1; everything
// the readers emit is UTF-8.
#pragma once
#include <string>
#include <string_view>

namespace userllm::data {

bool is_valid_utf8(std::string_view s);

// Returns s itself when it is valid UTF-8 (so files already converted stay
// intact), else s read as Latin-1 and converted into buf.
std::string_view as_utf8(std::string_view s, std::string& buf);

}  // namespace userllm::data
