// A message from elsewhere (SQLite, Gloo, a peer) made fit for a one-line error.
#pragma once
#include <string>

namespace userllm {

inline std::string one_line(std::string s, size_t max_chars = 400) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

}  // namespace userllm
