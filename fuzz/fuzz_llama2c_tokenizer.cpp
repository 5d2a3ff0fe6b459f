// libFuzzer target for llama2.c tokenizer.bin, in memory: an accepted
// vocabulary encodes a text to ids inside it, and decodes them.
#include <cstdint>

#include "common/error.h"
#include "common/mapped_file.h"
#include "llm/llama2c_tokenizer.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<llm::Tokenizer> tok;
  try {
    tok = llm::load_llama2c_tokenizer(ByteView(data, size, "tokenizer.bin"));
  } catch (const Error&) {
    return 0;
  }
  try {
    auto ids = tok->encode("Once upon a time, \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 <0x0A> 42", true, true);
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    (void)tok->decode(ids);
  } catch (const Error&) {
  }
  return 0;
}
