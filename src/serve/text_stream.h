// Generated text on its way to a client: OpenAI's `stop` strings end it (the
// stop string itself is not returned), so text that could still become one is
// held back, and so is a UTF-8 character split across tokens.
#pragma once
#include <string>
#include <vector>

namespace userllm::serve {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop = {}) : stop_(std::move(stop)) {}
  // Adds decoded text; returns what may be sent now.
  std::string push(const std::string& piece);
  // The end of generation: whatever was held back (an incomplete character becomes U+FFFD).
  std::string finish();
  bool stopped() const { return stopped_; }
  const std::string& text() const { return sent_; }  // everything returned so far

 private:
  std::string release(size_t n);
  std::vector<std::string> stop_;
  std::string pending_, sent_;
  bool stopped_ = false;
};

}  // namespace userllm::serve
