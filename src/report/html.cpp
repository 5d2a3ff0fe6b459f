#include "report/html.h"

#include <cmath>
#include <cstdio>

namespace userllm::report {

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "&ndash;";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string si(double v) {
  if (!std::isfinite(v)) return "&ndash;";
  static const char* kSuffix[] = {"", "k", "M", "G", "T", "P", "E"};
  int i = 0;
  double a = std::fabs(v);
  while (a >= 999.5 && i < 6) {
    a /= 1000;
    v /= 1000;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, a >= 99.95 ? "%.0f%s" : a >= 9.995 ? "%.1f%s" : "%.2f%s", v, kSuffix[i]);
  return buf;
}

Table::Table(std::string id, std::vector<std::string> header, std::vector<bool> numeric)
    : id_(std::move(id)), header_(std::move(header)), numeric_(std::move(numeric)) {
  numeric_.resize(header_.size(), false);
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::html() const {
  std::string out = "<table id=\"" + html_escape(id_) + "\">\n<thead><tr>";
  for (const auto& h : header_) out += "<th>" + h + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows_) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i) out += (numeric_[i] ? "<td class=\"num\">" : "<td>") + row[i] + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string page_html(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + html_escape(title) +
         "</title>\n<style>\n"
         "body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; "
         "color: #222; line-height: 1.45; }\n"
         "h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }\n"
         "table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }\n"
         "th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; vertical-align: top; }\n"
         "th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }\n"
         "code { font-size: 0.82rem; background: #f6f6f6; padding: 0 0.2rem; word-break: break-all; }\n"
         "figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }\n"
         "figcaption { font-size: 0.88rem; color: #444; }\n"
         ".missing { color: #8a4b00; }\n"
         "</style>\n</head>\n<body>\n" +
         body + "</body>\n</html>\n";
}

}  // namespace userllm::report
