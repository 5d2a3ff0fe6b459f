// Bytes to parse, bounds-checked: a read-only memory map of a whole file, or
// bytes already in memory under a name (the fuzzers run the same binary
// readers without the file system). Readers of our binary formats check every
// offset against size() before touching data().
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

namespace userllm {

class ByteView {
 public:
  ByteView() = default;
  // Does not copy: `data` must outlive the view. `name` stands for the file in messages.
  ByteView(const uint8_t* data, uint64_t size, std::string name)
      : path_(std::move(name)), data_(data), size_(size) {}

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Pointer to [offset, offset + bytes), or an Error naming the file and offset.
  const uint8_t* range(uint64_t offset, uint64_t bytes, const char* what) const;
  // The little-endian value at `offset` (no alignment needed), bounds-checked as range().
  template <class T>
  T read(uint64_t offset, const char* what) const {
    T v;
    std::memcpy(&v, range(offset, sizeof v, what), sizeof v);
    return v;
  }

 protected:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

class MappedFile : public ByteView {
 public:
  // copy_on_write: the pages are also writable, privately (MAP_PRIVATE): a write
  // copies the page and never reaches the file. Tensors viewing the mapping need it.
  explicit MappedFile(const std::filesystem::path& path, bool copy_on_write = false);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
};

}  // namespace userllm
