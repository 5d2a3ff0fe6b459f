// libFuzzer target for the safetensors header parser (no libtorch involved):
// any input must either parse or throw userllm::Error, never crash or hang.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "llm/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto h = userllm::llm::parse_safetensors_header(data, size, "fuzz-input");
    // Everything the parser accepted must lie inside the input.
    for (const auto& t : h.tensors)
      if (h.data_start + t.end > size) __builtin_trap();
  } catch (const userllm::Error&) {
  }
  return 0;
}
