// The pieces the readers share: CSV splitting, strict numbers, titles with
// years, Latin-1 to UTF-8, and Python dict literals to JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "data/fields.h"
#include "data/latin1.h"
#include "data/line_loop.h"
#include "data/python_literal.h"

using namespace userllm::data;

namespace {
std::string bad_line_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadLine& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a BadLine";
  return {};
}
}  // namespace

TEST(ReaderFields, SplitCsv) {
  std::vector<std::string> f;
  split_csv("1,\"A, \"\"quoted\"\" title\",x|y", f);
  EXPECT_EQ(f, (std::vector<std::string>{"1", "A, \"quoted\" title", "x|y"}));
  split_csv("", f);
  EXPECT_EQ(f, std::vector<std::string>{""});
  split_csv("a,,", f);
  EXPECT_EQ(f, (std::vector<std::string>{"a", "", ""}));
  EXPECT_EQ(bad_line_of([&] { split_csv("1,\"open", f); }), "unterminated quoted field 2");
  EXPECT_EQ(bad_line_of([&] { split_csv("\"a\"b,c", f); }), "unexpected text after the closing quote of field 1");
}

TEST(ReaderFields, Numbers) {
  EXPECT_EQ(parse_int(" 42 ", "userId"), 42);
  EXPECT_EQ(parse_number("4.5", "rating"), 4.5);
  EXPECT_EQ(bad_line_of([] { parse_int("4.5", "userId"); }), "userId \"4.5\" is not an integer");
  EXPECT_EQ(bad_line_of([] { parse_int("", "userId"); }), "userId \"\" is not an integer");
  EXPECT_EQ(bad_line_of([] { parse_int("99999999999999999999", "t"); }), "t \"99999999999999999999\" is not an integer");
  EXPECT_EQ(bad_line_of([] { parse_number("4.5x", "rating"); }), "rating \"4.5x\" is not a number");
  EXPECT_EQ(check_rating(4.5, 0.5, 5), 4.5f);
  EXPECT_EQ(bad_line_of([] { check_rating(0, 0.5, 5); }), "rating 0 is outside 0.5-5");
  EXPECT_EQ(bad_line_of([] { check_rating(std::nan(""), 0, 5); }), "rating nan is outside 0-5");
  EXPECT_EQ(bad_line_of([] { check_timestamp(-1, "time"); }), "time -1 is not a plausible Unix time");
}

TEST(ReaderFields, TitleYear) {
  int year = -1;
  EXPECT_EQ(split_title_year("Toy Story (1995)", year), "Toy Story");
  EXPECT_EQ(year, 1995);
  EXPECT_EQ(split_title_year("Ready Player One", year), "Ready Player One");
  EXPECT_EQ(year, 0);
  EXPECT_EQ(split_title_year("Cosmos (TV Mini Series)", year), "Cosmos (TV Mini Series)");
  EXPECT_EQ(year, 0);
  EXPECT_EQ(split_title_year("Les Mis (2012) ", year), "Les Mis");
  EXPECT_EQ(year, 2012);
  EXPECT_EQ(split_title_year("Show (2006-2007)", year), "Show");
  EXPECT_EQ(year, 2006);
  EXPECT_EQ(split_title_year("(1995)", year), "(1995)");  // nothing left for a name
  EXPECT_EQ(year, 0);
  EXPECT_EQ(split_title_year("1984 (19845)", year), "1984 (19845)");
  EXPECT_EQ(year, 0);
}

TEST(ReaderFields, Latin1ToUtf8) {
  std::string buf;
  EXPECT_EQ(as_utf8("Cit\xE9", buf), "Cit\xC3\xA9");
  EXPECT_EQ(as_utf8("Cit\xC3\xA9", buf), "Cit\xC3\xA9");  // already UTF-8: unchanged
  EXPECT_EQ(as_utf8("\xFF\x80", buf), "\xC3\xBF\xC2\x80");
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xE2\x80"));          // cut short
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
}

TEST(ReaderFields, PythonLiteralToJson) {
  std::string out;
  EXPECT_TRUE(looks_like_python_literal("{'asin': 'x'}"));
  EXPECT_TRUE(looks_like_python_literal("  { u'asin': 'x'}"));
  EXPECT_FALSE(looks_like_python_literal("{\"asin\": \"x\"}"));
  python_literal_to_json("{'a': \"it's\", 'b': [True, False, None], 'c': -1.5e3, 'd': {'e': u'\\u00e9\\U0001F600'}}",
                         out);
  EXPECT_EQ(out, "{\"a\": \"it's\", \"b\": [true, false, null], \"c\": -1.5e3, \"d\": {\"e\": \"\xC3\xA9\xF0\x9F\x98\x80\"}}");
  python_literal_to_json("{'q': 'say \"hi\"\\\\', 't': 'a\\tb'}", out);
  EXPECT_EQ(out, "{\"q\": \"say \\\"hi\\\"\\\\\", \"t\": \"a\\u0009b\"}");
  python_literal_to_json("{'latin': 'caf\\xe9'}", out);  // a lone byte, not UTF-8: read as Latin-1
  EXPECT_EQ(out, "{\"latin\": \"caf\xC3\xA9\"}");
  EXPECT_EQ(bad_line_of([&] { python_literal_to_json("{'a': 'open", out); }), "Python literal: unterminated string");
  EXPECT_EQ(bad_line_of([&] { python_literal_to_json("{'a': '\\x4'}", out); }), "Python literal: bad hex digit in escape");
  EXPECT_EQ(bad_line_of([&] { python_literal_to_json("{'a': '\\u12", out); }), "Python literal: truncated \\x/\\u escape");
}
