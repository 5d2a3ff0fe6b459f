// json_int: integers from untrusted JSON are taken only when they are integers
// that fit, never converted with undefined behaviour or silently wrapped
// (fuzz_encoder_json and fuzz_tokenizer_json found both through get<int>()).
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/json_int.h"

namespace userllm {
namespace {

using nlohmann::json;

std::string error_of(const json& v) {
  try {
    json_int<int>(v, "heads");
  } catch (const Error& e) {
    return e.what();
  }
  return "accepted";
}

TEST(JsonInt, TakesIntegersThatFit) {
  EXPECT_EQ(json_int<int>(json(12), "x"), 12);
  EXPECT_EQ(json_int<int>(json(-3), "x"), -3);
  EXPECT_EQ(json_int<uint32_t>(json(4294967295u), "x"), 4294967295u);
  EXPECT_EQ(json_int<int64_t>(json::parse("9223372036854775807"), "x"), INT64_MAX);
  EXPECT_EQ(json_int<int64_t>(json(INT64_MIN), "x"), INT64_MIN);
  EXPECT_EQ(json_int_or<int>(json::parse(R"({"a": null})"), "a", 7, "a"), 7);
  EXPECT_EQ(json_int_or<int>(json::object(), "a", 7, "a"), 7);
  EXPECT_EQ(json_int_or<int>(json::parse(R"({"a": 2})"), "a", 7, "a"), 2);
}

TEST(JsonInt, RefusesWhatGetWouldConvertBadly) {
  EXPECT_EQ(error_of(json::parse("92233720368547758072")), "heads: expected an integer, got 9.223372036854776e+19");
  EXPECT_EQ(error_of(json(4294967306LL)), "heads: 4294967306 is out of range (-2147483648..2147483647)");
  EXPECT_EQ(error_of(json(2.5)), "heads: expected an integer, got 2.5");
  EXPECT_EQ(error_of(json("4")), "heads: expected an integer, got string");
  EXPECT_EQ(error_of(json(true)), "heads: expected an integer, got boolean");
  EXPECT_THROW(json_int<uint32_t>(json(-1), "x"), Error);
  EXPECT_THROW(json_int<int64_t>(json::parse("18446744073709551615"), "x"), Error);
  EXPECT_THROW(json_int<uint8_t>(json(256), "x"), Error);
}

}  // namespace
}  // namespace userllm
