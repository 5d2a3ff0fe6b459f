#include "data/fields.h"

#include <charconv>
#include <cmath>

#include "data/line_loop.h"

namespace userllm::data {
namespace {

// Quoted for messages, cut short so a huge field cannot flood the terminal.
std::string shown(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "\"";
  out += s.substr(0, kMax);
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

void split_csv(std::string_view line, std::vector<std::string>& out) {
  out.clear();
  size_t i = 0;
  for (;;) {
    out.emplace_back();
    std::string& field = out.back();
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i >= line.size()) bad_line("unterminated quoted field " + std::to_string(out.size()));
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      if (i < line.size() && line[i] != ',')
        bad_line("unexpected text after the closing quote of field " + std::to_string(out.size()));
    } else {
      size_t end = line.find(',', i);
      if (end == std::string_view::npos) end = line.size();
      field.assign(line.substr(i, end - i));
      i = end;
    }
    if (i >= line.size()) return;
    ++i;  // the comma
  }
}

void split_on(std::string_view line, std::string_view sep, std::vector<std::string_view>& out) {
  out.clear();
  size_t start = 0;
  for (;;) {
    size_t end = line.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(line.substr(start));
      return;
    }
    out.push_back(line.substr(start, end - start));
    start = end + sep.size();
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

int64_t parse_int(std::string_view text, const char* what) {
  std::string_view t = trim(text);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size())
    bad_line(std::string(what) + " " + shown(text) + " is not an integer");
  return v;
}

double parse_number(std::string_view text, const char* what) {
  std::string_view t = trim(text);
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size())
    bad_line(std::string(what) + " " + shown(text) + " is not a number");
  return v;
}

float check_rating(double r, double lo, double hi) {
  if (!std::isfinite(r) || r < lo || r > hi) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "rating %g is outside %g-%g", r, lo, hi);
    bad_line(buf);
  }
  if (r * 2 != std::floor(r * 2)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "rating %g is not in 0.5 steps", r);
    bad_line(buf);
  }
  return float(r);
}

int64_t check_timestamp(int64_t seconds, const char* what) {
  constexpr int64_t kYear10000 = 253402300800;
  if (seconds < 0 || seconds >= kYear10000)
    bad_line(std::string(what) + " " + std::to_string(seconds) + " is not a plausible Unix time");
  return seconds;
}

std::string_view split_title_year(std::string_view title, int& year) {
  year = 0;
  std::string_view t = trim(title);
  if (t.empty() || t.back() != ')') return t;
  size_t open = t.rfind('(');
  if (open == std::string_view::npos) return t;
  std::string_view inside = t.substr(open + 1, t.size() - open - 2);
  // "1995", "2006-2007", "2006–2007" (en dash), "2007-": a year then anything but letters.
  if (inside.size() < 4 || !is_digit(inside[0]) || !is_digit(inside[1]) || !is_digit(inside[2]) ||
      !is_digit(inside[3]))
    return t;
  std::string_view rest = inside.substr(4);
  if (!rest.empty() && rest[0] != '-' && rest.substr(0, 3) != "\xE2\x80\x93") return t;
  std::string_view name = trim(t.substr(0, open));
  if (name.empty()) return t;
  year = (inside[0] - '0') * 1000 + (inside[1] - '0') * 100 + (inside[2] - '0') * 10 + (inside[3] - '0');
  return name;
}

}  // namespace userllm::data
