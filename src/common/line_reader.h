// Streams the lines of a text file, plain or gzip (detected by its magic bytes),
// with 1-based line numbers for error messages. Never holds more than one
// buffer of the file in memory. The same reader runs over bytes already in
// memory (a TextInput with bytes), so every parser can be fuzzed without files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace userllm {

// What a text reader reads: a file, or bytes in memory shown under a name.
struct TextInput {
  // A file is an input: implicit, so that callers pass paths as they are.
  TextInput(const std::filesystem::path& file) : path(file.string()) {}  // NOLINT
  TextInput(const std::string& file) : path(file) {}                     // NOLINT
  TextInput(const char* file) : path(file) {}                            // NOLINT
  TextInput(std::string name, std::string_view in_memory) : path(std::move(name)), bytes(in_memory) {}

  std::string path;                       // the file; for bytes, the name in messages
  std::optional<std::string_view> bytes;  // in memory when set; not copied: must outlive the reader
};

class LineReader {
 public:
  explicit LineReader(const TextInput& input);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its "\n" (and "\r"); false at the end. The view is
  // valid until the next call. A truncated or corrupt gzip stream is an Error.
  bool next(std::string_view& line);
  uint64_t line_number() const { return line_no_; }
  uint64_t bytes_read() const { return consumed_; }  // uncompressed
  const std::string& path() const { return path_; }
  bool gzipped() const { return gz_ != nullptr || zs_ != nullptr; }

 private:
  bool fill();
  long read_memory(char* out, size_t n);  // the in-memory counterpart of read()/gzread()
  std::string path_;
  void* gz_ = nullptr;   // gzFile when a compressed file
  void* zs_ = nullptr;   // z_stream when compressed bytes in memory
  int fd_ = -1;          // plain file otherwise
  std::optional<std::string_view> mem_;  // the bytes not yet read, when in memory
  bool member_open_ = false;             // inside a gzip member (in memory)
  uint64_t inflated_ = 0;                // bytes inflated so far (in memory)
  std::string buf_, line_;
  size_t pos_ = 0;
  bool eof_ = false;
  uint64_t line_no_ = 0, consumed_ = 0;
};

}  // namespace userllm
