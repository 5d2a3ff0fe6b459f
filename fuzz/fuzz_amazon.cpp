// libFuzzer target for read_amazon, in memory: the input is the reviews file,
// then optionally fuzz::kFileSeparator and the metadata file.
#include "fuzz_util.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  TextInput reviews("reviews.json", parts[0]);
  std::optional<TextInput> meta;
  if (parts.size() > 1) meta = TextInput("meta.json", parts[1]);
  fuzz::run_both_ways([&](auto& sink, auto& options) { data::read_amazon(reviews, meta, sink, options); });
  return 0;
}
