// libFuzzer target for read_google_local, in memory: the input is the reviews
// file, then optionally fuzz::kFileSeparator and the metadata file.
#include "fuzz_util.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  TextInput reviews("review-State.json", parts[0]);
  std::optional<TextInput> meta;
  if (parts.size() > 1) meta = TextInput("meta-State.json", parts[1]);
  fuzz::run_both_ways([&](auto& sink, auto& options) { data::read_google_local(reviews, meta, sink, options); });
  return 0;
}
