// The loop every reader runs over its input: skips blank lines, counts the
// rest in report().lines_read, and turns a parser's BadLine into
// "FILE:LINE: message" or, with skip_bad_lines, into a skipped_lines count.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/line_reader.h"
#include "common/progress.h"
#include "data/readers.h"

namespace userllm::data {

// What a line parser throws for a malformed line; the loop adds FILE:LINE.
class BadLine : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
[[noreturn]] void bad_line(const std::string& message);

bool is_blank(std::string_view line);
std::string file_name(const std::string& path);  // last component, for progress labels

// Calls parse(line) for every non-blank line left in `in`. Returns how many
// such lines there were (parsed or skipped).
template <class Parse>
uint64_t for_each_line(LineReader& in, EventSink& sink, const ReadOptions& options, Parse&& parse) {
  Progress progress("reading " + file_name(in.path()), 0, "lines");
  uint64_t n = 0;
  std::string_view line;
  while (in.next(line)) {
    if (is_blank(line)) continue;
    ++n;
    ++sink.report().lines_read;
    try {
      parse(line);
    } catch (const BadLine& e) {
      if (!options.skip_bad_lines) fail(at_line(in.path(), in.line_number(), e.what()));
      ++sink.report().skipped_lines;
    }
    if ((n & 0xffff) == 0) progress.set(n);
  }
  progress.set(n);
  return n;
}

}  // namespace userllm::data
