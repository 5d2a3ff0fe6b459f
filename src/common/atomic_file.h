// Outputs appear whole or not at all: write to a temporary name beside the
// target, flush, then rename over it.
#pragma once
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace userllm {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();  // an uncommitted file is removed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }
  // Flushes, fsyncs and renames onto the target.
  void commit();

 private:
  std::filesystem::path target_, temp_;
  std::FILE* f_ = nullptr;
  uint64_t written_ = 0;
};

// Writes a whole string atomically.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);
std::string read_file(const std::filesystem::path& path);

// A directory built under a temporary name and renamed into place on commit,
// so a failed run leaves no partial output directory.
class AtomicDir {
 public:
  explicit AtomicDir(std::filesystem::path target);
  ~AtomicDir();
  const std::filesystem::path& path() const { return temp_; }
  std::filesystem::path operator/(const std::string& name) const { return temp_ / name; }
  void commit();  // replaces any existing target

 private:
  std::filesystem::path target_, temp_;
  bool committed_ = false;
};

}  // namespace userllm
