// libFuzzer target for chat templates (tokenizer_config.json's chat_template
// is code from the model's author): the input is the template's source. It
// must parse and render a fixed conversation, or fail with userllm::Error,
// within the interpreter's bounds on output, loops and work.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "common/error.h"
#include "llm/chat/chat_template.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json kMessages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hi <b>there</b> \u00e9"},
    {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
    {"role": "user", "content": "Recommend a film."}])");
  try {
    llm::ChatTemplate t(std::string(reinterpret_cast<const char*>(data), size), "<s>", "</s>");
    (void)t.render(kMessages, /*add_generation_prompt=*/true);
  } catch (const Error&) {
  }
  return 0;
}
