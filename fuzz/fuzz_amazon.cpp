// libFuzzer target for read_amazon: the input is the reviews file, then
// optionally fuzz::kFileSeparator and the metadata file.
#include "fuzz_util.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::reset_scratch();
  auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  auto reviews = fuzz::write_input("reviews.json", parts[0]);
  std::optional<std::filesystem::path> meta;
  if (parts.size() > 1) meta = fuzz::write_input("meta.json", parts[1]);
  fuzz::run_both_ways([&](auto& sink, auto& options) { data::read_amazon(reviews, meta, sink, options); });
  return 0;
}
