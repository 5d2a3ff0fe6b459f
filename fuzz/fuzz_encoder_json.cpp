// libFuzzer target for a run's encoder.json (the encoder's options): refused
// with userllm::Error, or valid and unchanged by its own to_json.
#include <nlohmann/json.hpp>

#include <cstdint>

#include "common/error.h"
#include "encoder/encoder_options.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  encoder::EncoderOptions o;
  try {
    o = encoder::options_from_json(j);
    o.validate();
  } catch (const Error&) {
    return 0;
  }
  if (encoder::to_json(encoder::options_from_json(encoder::to_json(o))) != encoder::to_json(o)) __builtin_trap();
  return 0;
}
