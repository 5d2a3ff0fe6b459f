// One exception type for every failure caused by the user's input (bad files,
// bad flags). The CLI prints its message and exits non-zero; bugs stay asserts.
#pragma once
#include <stdexcept>
#include <string>

namespace userllm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "FILE:LINE: message" for text inputs, "FILE: byte OFFSET: message" for binary ones.
std::string at_line(const std::string& file, uint64_t line, const std::string& message);
std::string at_byte(const std::string& file, uint64_t offset, const std::string& message);

[[noreturn]] void fail(const std::string& message);

}  // namespace userllm
