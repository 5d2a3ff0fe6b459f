// libFuzzer target for llama2.c checkpoints, in memory: the header and the
// layout of every weight array (llm/llama2c_header.h). An accepted layout has
// its arrays inside the input, in order, covering it exactly.
#include <cstdint>

#include "common/error.h"
#include "common/mapped_file.h"
#include "llm/llama2c_header.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  llm::Llama2cLayout layout;
  try {
    layout = llm::read_llama2c_layout(ByteView(data, size, "model.bin"));
  } catch (const Error&) {
    return 0;
  }
  uint64_t at = 0;
  for (const auto& a : layout.arrays) {
    if (a.offset < at || a.offset > size) __builtin_trap();
    at = a.offset;
  }
  return 0;
}
