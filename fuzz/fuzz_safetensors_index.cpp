// libFuzzer target for model.safetensors.index.json: every shard it accepts
// is a plain file name inside the model directory.
#include <cstdint>
#include <string>

#include "common/error.h"
#include "llm/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto shards = userllm::llm::parse_safetensors_index(std::string(reinterpret_cast<const char*>(data), size), "index");
    for (const auto& [shard, names] : shards)
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") __builtin_trap();
  } catch (const userllm::Error&) {
  }
  return 0;
}
