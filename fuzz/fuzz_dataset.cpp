// libFuzzer target for a prepared dataset's events.bin (its sections and the
// JSON metadata that is its schema), in memory. An accepted dataset answers
// every accessor for every user, event and token without a bad offset.
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/mapped_file.h"
#include "data/dataset.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Sections are 64-byte aligned within the file; give the bytes the alignment a mapping has.
  std::vector<uint64_t> aligned((size + 7) / 8);
  if (size) std::memcpy(aligned.data(), data, size);
  const ByteView bytes(reinterpret_cast<const uint8_t*>(aligned.data()), size, "events.bin");
  try {
    auto ds = data::Dataset::from_bytes(bytes);
    uint64_t sum = 0;
    for (uint32_t u = 0; u < ds.num_users() && u < 64; ++u) {
      sum += ds.user_key(u).size();
      for (uint64_t e = ds.user_begin(u); e < ds.user_end(u) && e < 4096; ++e)
        for (size_t f = 0; f < ds.fields().size(); ++f) sum += ds.token(int(f), ds.column(int(f))[e]).size();
    }
    for (uint32_t i = 0; i < ds.num_items() && i < 256; ++i) sum += ds.item_title(i).size() + ds.item_genres(i).size();
    // A token is found again (PAD and OOV, ids 0 and 1, are not looked up by design).
    if (ds.num_events() > 0 && ds.column(0)[0] > 1 && !ds.lookup(0, ds.token(0, ds.column(0)[0]))) __builtin_trap();
    (void)sum;
  } catch (const Error&) {
  }
  return 0;
}
