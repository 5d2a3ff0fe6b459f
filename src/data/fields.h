// Splitting delimited lines and parsing their fields strictly: every failure
// is a BadLine naming the field and the text found.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::data {

// RFC 4180 fields of one CSV line: quoted fields may hold commas and "" for a
// quote. A quote left open at the end of the line is a BadLine (records that
// span lines are not supported: no MovieLens file has them).
void split_csv(std::string_view line, std::vector<std::string>& out);

// Fields separated by `sep` ("::", "\t", "|"), no quoting. Views into line.
void split_on(std::string_view line, std::string_view sep, std::vector<std::string_view>& out);

std::string_view trim(std::string_view s);

// "userId \"x\" is not an integer" and the like; `what` names the field.
int64_t parse_int(std::string_view text, const char* what);
double parse_number(std::string_view text, const char* what);

// A rating must be finite, within [lo, hi] and in 0.5 steps.
float check_rating(double r, double lo, double hi);
// Unix seconds; negative or absurd (past year 9999) values are rejected.
int64_t check_timestamp(int64_t seconds, const char* what);

// "Toy Story (1995)" -> "Toy Story", 1995; "Death Note (2006–2007)" -> 2006.
// A title without a trailing year is kept whole with year 0.
std::string_view split_title_year(std::string_view title, int& year);

}  // namespace userllm::data
