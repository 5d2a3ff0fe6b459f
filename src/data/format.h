// The sectioned binary container behind events.bin (docs/data-format.md):
// a header, a table of named sections, and 64-byte aligned section bodies.
// The writer streams sections from caller memory; the reader validates every
// offset and size against the file before handing out a pointer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/atomic_file.h"
#include "common/mapped_file.h"

namespace userllm::data {

inline constexpr char kMagic[8] = {'U', 'L', 'L', 'M', 'E', 'V', 'T', 'S'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kSectionAlign = 64;
inline constexpr size_t kSectionNameBytes = 24;
inline constexpr uint64_t kHeaderBytes = 16;       // magic, version, section count
inline constexpr uint64_t kSectionEntryBytes = 40;  // name, offset, size
inline constexpr uint32_t kMaxSections = 4096;

// Sections are lists of memory chunks written back to back, so large columns
// are never copied. Chunks must stay alive until write() returns.
class FormatWriter {
 public:
  void add(std::string name, std::vector<std::string_view> chunks);
  template <class T>
  void add_array(std::string name, const std::vector<T>& v) {
    add(std::move(name), {std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T))});
  }
  // A string table: u64 count, u64 offsets[count + 1], then the bytes.
  // `offsets` must start at 0 and end at bytes.size().
  void add_strings(std::string name, const std::vector<uint64_t>& offsets, std::string_view bytes);
  void write(AtomicFile& out) const;

 private:
  struct Section {
    std::string name;
    std::vector<std::string_view> chunks;
    uint64_t size = 0;
  };
  std::vector<Section> sections_;
  std::vector<std::unique_ptr<uint64_t>> counts_;
};

// Offsets and bytes of a validated string table.
struct StringTable {
  const uint64_t* offsets = nullptr;
  const char* bytes = nullptr;
  uint64_t count = 0;
  std::string_view at(uint64_t i) const {
    return std::string_view(bytes + offsets[i], offsets[i + 1] - offsets[i]);
  }
};

class FormatReader {
 public:
  explicit FormatReader(const ByteView& file);
  bool has(std::string_view name) const;
  uint64_t offset(std::string_view name) const;  // where a section starts, for messages
  // Bytes of a section; an Error naming the file and offset if it is absent.
  std::string_view bytes(std::string_view name) const;
  // A section holding exactly `count` values of T.
  template <class T>
  const T* array(std::string_view name, uint64_t count) const {
    return reinterpret_cast<const T*>(checked_array(name, count, sizeof(T)));
  }
  // A string table with exactly `count` strings (offsets checked monotone).
  StringTable strings(std::string_view name, uint64_t count) const;
  [[noreturn]] void corrupt(std::string_view name, uint64_t offset, const std::string& what) const;

 private:
  struct Entry {
    std::string name;
    uint64_t offset, size;
  };
  const Entry& find(std::string_view name) const;
  const uint8_t* checked_array(std::string_view name, uint64_t count, size_t elem) const;
  const ByteView& file_;
  std::vector<Entry> entries_;
};

}  // namespace userllm::data
