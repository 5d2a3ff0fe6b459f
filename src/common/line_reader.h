// Streams the lines of a text file, plain or gzip (detected by its magic bytes),
// with 1-based line numbers for error messages. Never holds more than one
// buffer of the file in memory.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace userllm {

class LineReader {
 public:
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its "\n" (and "\r"); false at the end. The view is
  // valid until the next call. A truncated or corrupt gzip stream is an Error.
  bool next(std::string_view& line);
  uint64_t line_number() const { return line_no_; }
  uint64_t bytes_read() const { return consumed_; }  // uncompressed
  const std::string& path() const { return path_; }
  bool gzipped() const { return gz_ != nullptr; }

 private:
  bool fill();
  std::string path_;
  void* gz_ = nullptr;   // gzFile when compressed
  int fd_ = -1;          // plain file otherwise
  std::string buf_, line_;
  size_t pos_ = 0;
  bool eof_ = false;
  uint64_t line_no_ = 0, consumed_ = 0;
};

}  // namespace userllm
