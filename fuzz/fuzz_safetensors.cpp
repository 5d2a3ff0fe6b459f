// libFuzzer target for the safetensors header parser: any input must either
// parse or throw userllm::Error, never crash or hang.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "llm/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto h = userllm::llm::parse_safetensors_header(data, size, "fuzz-input");
    // Everything the parser accepted must lie inside the input, and match its shape.
    for (const auto& t : h.tensors) {
      if (h.data_start + t.end > size || t.end < t.begin) __builtin_trap();
      if ((t.end - t.begin) != t.numel() * userllm::llm::dtype_size(t.dtype)) __builtin_trap();
    }
  } catch (const userllm::Error&) {
  }
  return 0;
}
