// An error the client caused: its HTTP status and one line naming the field.
#pragma once
#include <stdexcept>
#include <string>

namespace userllm::serve {

struct RequestError : std::runtime_error {
  RequestError(int status, const std::string& msg) : std::runtime_error(msg), status(status) {}
  int status;
};

}  // namespace userllm::serve
