// libFuzzer target for Hugging Face tokenizers: tokenizer.json, then
// optionally fuzz::kFileSeparator and tokenizer_config.json, then optionally
// a separator and a text to encode. An accepted tokenizer encodes any text to
// ids inside its vocabulary, and decodes them.
#include <cstdint>

#include "common/error.h"
#include "fuzz_split.h"
#include "llm/bpe_tokenizer.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  auto parts = fuzz::split_parts(fuzz::as_text(data, size), 3);
  std::optional<std::string_view> config;
  if (parts.size() > 1) config = parts[1];
  const std::string_view text = parts.size() > 2 ? parts[2] : "Hello, world! 123 <s> \xc3\xa9t\xc3\xa9  \n\tend";
  std::unique_ptr<llm::Tokenizer> tok;
  try {
    tok = llm::parse_bpe_tokenizer(parts[0], config, "tokenizer.json", "tokenizer_config.json");
  } catch (const Error&) {
    return 0;
  }
  try {
    auto ids = tok->encode(text, /*add_special=*/true, /*add_eos=*/true);
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    (void)tok->decode(ids);
    for (size_t i = 1; i < ids.size() && i < 64; ++i) (void)tok->decode_token(ids[i - 1], ids[i]);
  } catch (const Error&) {
  }
  return 0;
}
