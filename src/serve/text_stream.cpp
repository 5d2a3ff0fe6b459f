#include "serve/text_stream.h"

#include <algorithm>

#include "common/utf8.h"

namespace userllm::serve {

namespace {

// Bytes at the end of s that start a UTF-8 character not yet complete.
size_t incomplete_tail(const std::string& s) {
  for (size_t back = 1; back <= std::min<size_t>(3, s.size()); ++back) {
    const uint8_t c = uint8_t(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    return utf8_len(c) > back ? back : 0;
  }
  return 0;
}

}  // namespace

std::string TextStream::release(size_t n) {
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  sent_ += out;
  return out;
}

std::string TextStream::push(const std::string& piece) {
  if (stopped_) return {};
  pending_ += piece;
  size_t cut = std::string::npos;
  for (const auto& s : stop_)
    if (!s.empty()) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = release(cut);
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that is a prefix of a stop string.
  size_t hold = 0;
  for (const auto& s : stop_)
    for (size_t n = s.empty() ? 0 : std::min(s.size() - 1, pending_.size()); n > hold; --n)
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  hold = std::max(hold, incomplete_tail(pending_));
  return release(pending_.size() - hold);
}

std::string TextStream::finish() {
  if (stopped_) return {};
  const size_t bad = incomplete_tail(pending_);
  pending_.replace(pending_.size() - bad, bad, bad ? "\xEF\xBF\xBD" : "");
  return release(pending_.size());
}

}  // namespace userllm::serve
