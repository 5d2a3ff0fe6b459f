// A read-only memory map of a whole file. Readers of our binary formats
// bounds-check every offset against size() before touching data().
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace userllm {

class MappedFile {
 public:
  // copy_on_write: the pages are also writable, privately (MAP_PRIVATE): a write
  // copies the page and never reaches the file. Tensors viewing the mapping need it.
  explicit MappedFile(const std::filesystem::path& path, bool copy_on_write = false);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Pointer to [offset, offset + bytes), or an Error naming the file and offset.
  const uint8_t* range(uint64_t offset, uint64_t bytes, const char* what) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace userllm
