// The small HTML vocabulary of the report page: escaping, number formats
// that read well in a table, and tables themselves.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace userllm::report {

std::string html_escape(std::string_view s);

// Fixed decimals ("0.3125"); "–" for NaN.
std::string fixed(double v, int decimals);
// Three significant digits with an SI suffix: 1.23k, 45.6M, 7.89G, 1.00T.
std::string si(double v);

// A table of already-escaped HTML cells; numeric columns are right-aligned.
class Table {
 public:
  Table(std::string id, std::vector<std::string> header, std::vector<bool> numeric = {});
  void add_row(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  std::string html() const;

 private:
  std::string id_;
  std::vector<std::string> header_;
  std::vector<bool> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

// The page around the sections: title, CSS, and the body given.
std::string page_html(const std::string& title, const std::string& body);

}  // namespace userllm::report
