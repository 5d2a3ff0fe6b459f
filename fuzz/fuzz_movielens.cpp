// libFuzzer target for read_movielens, in memory. The first byte picks the
// layout (CSV, DAT, 100k); the rest is the ratings, movies and tags files
// joined by fuzz::kFileSeparator.
#include "fuzz_util.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kFiles[3][3] = {
      {"ratings.csv", "movies.csv", "tags.csv"}, {"ratings.dat", "movies.dat", "tags.dat"}, {"u.data", "u.item", ""}};
  const auto& names = kFiles[data[0] % 3];
  auto parts = fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), 3);
  std::map<std::string, std::string_view> files;
  for (size_t i = 0; i < parts.size(); ++i)
    if (*names[i]) files[names[i]] = parts[i];
  fuzz::run_both_ways([&](auto& sink, auto& options) { data::read_movielens(files, sink, options); });
  return 0;
}
