// A run's encoder.json is untrusted: fuzz_encoder_json found that "heads":
// 92233720368547758072 reached nlohmann's get<int>() (undefined behaviour), and
// 4294967306 would have become 10. Both, and every other non-integer, are errors.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "encoder/encoder_options.h"

namespace userllm::encoder {
namespace {

nlohmann::json seed() {
  std::ifstream in(std::string(USERLLM_SOURCE_DIR) + "/fuzz/corpus/encoder_json/seed-early");
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

TEST(EncoderOptionsJson, RoundTripsAndRefusesNumbersThatAreNotIntegersInRange) {
  auto j = seed();
  EXPECT_EQ(to_json(options_from_json(j)), j);
  for (const char* key : {"heads", "dim", "layers", "max_len", "ffn_mult"})
    for (const char* v : {"92233720368547758072", "4294967306", "-1e30", "2.5", "\"4\""}) {
      auto bad = j;
      bad[key] = nlohmann::json::parse(v);
      try {
        options_from_json(bad);
        ADD_FAILURE() << key << " = " << v;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
      }
    }
  auto bad = j;
  bad["fields"][0]["vocab"] = 4294967306LL;
  EXPECT_THROW(options_from_json(bad), Error);
}

}  // namespace
}  // namespace userllm::encoder
