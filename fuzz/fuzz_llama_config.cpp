// libFuzzer target for config.json (LlamaConfig): a config either is refused
// with userllm::Error or is valid, and a valid one survives its own to_json.
#include <nlohmann/json.hpp>

#include <cstdint>

#include "common/error.h"
#include "llm/llama_config.h"

using userllm::llm::LlamaConfig;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  LlamaConfig c;
  try {
    c = LlamaConfig::from_json(j, "config.json");
    c.validate("config.json");
  } catch (const userllm::Error&) {
    return 0;
  }
  // What was accepted must be usable: these never fail on a valid config.
  (void)c.num_parameters();
  (void)c.context_length();
  (void)c.attention_scale();
  for (int64_t l = 0; l < c.num_layers; ++l) (void)c.layer_slides(l);
  LlamaConfig again = LlamaConfig::from_json(c.to_json(), "round trip");
  if (again.to_json() != c.to_json()) __builtin_trap();
  return 0;
}
