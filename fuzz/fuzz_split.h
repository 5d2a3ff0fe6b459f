// Shared by every fuzzer: quiet logs, and one input split into several files.
#pragma once
#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/progress.h"

namespace userllm::fuzz {

// No logs and no progress bars: set once, before the first input.
inline void quiet() {
  static const bool once = [] {
    Progress::set_enabled(false);
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)once;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// The files of one input are joined by this line. Not NUL: gzip data holds
// NUL bytes, and any of the files may be gzip.
inline constexpr std::string_view kFileSeparator = "\n--next-file--\n";

// Splits the input into up to n files (the last takes the rest).
inline std::vector<std::string_view> split_parts(std::string_view in, size_t n) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < n) {
    size_t at = in.find(kFileSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(in.substr(0, at));
    in.remove_prefix(at + kFileSeparator.size());
  }
  parts.push_back(in);
  return parts;
}

}  // namespace userllm::fuzz
