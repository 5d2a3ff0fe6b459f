#include "common/error.h"

namespace userllm {

std::string at_line(const std::string& file, uint64_t line, const std::string& message) {
  return file + ":" + std::to_string(line) + ": " + message;
}

std::string at_byte(const std::string& file, uint64_t offset, const std::string& message) {
  return file + ": byte " + std::to_string(offset) + ": " + message;
}

void fail(const std::string& message) { throw Error(message); }

}  // namespace userllm
