#include "data/format.h"

#include <cstring>
#include <memory>

#include "common/error.h"

namespace userllm::data {
namespace {

uint64_t align_up(uint64_t x) { return (x + kSectionAlign - 1) / kSectionAlign * kSectionAlign; }

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void FormatWriter::add(std::string name, std::vector<std::string_view> chunks) {
  if (name.size() >= kSectionNameBytes) fail("section name too long: " + name);
  Section s{std::move(name), std::move(chunks), 0};
  for (auto c : s.chunks) s.size += c.size();
  sections_.push_back(std::move(s));
}

void FormatWriter::add_strings(std::string name, const std::vector<uint64_t>& offsets, std::string_view bytes) {
  counts_.push_back(std::make_unique<uint64_t>(offsets.size() - 1));
  add(std::move(name), {std::string_view(reinterpret_cast<const char*>(counts_.back().get()), 8),
                        std::string_view(reinterpret_cast<const char*>(offsets.data()), offsets.size() * 8), bytes});
}

void FormatWriter::write(AtomicFile& out) const {
  std::string head(kHeaderBytes + kSectionEntryBytes * sections_.size(), '\0');
  std::memcpy(head.data(), kMagic, 8);
  uint32_t version = kFormatVersion, n = uint32_t(sections_.size());
  std::memcpy(head.data() + 8, &version, 4);
  std::memcpy(head.data() + 12, &n, 4);
  uint64_t offset = align_up(head.size());
  for (size_t i = 0; i < sections_.size(); ++i) {
    char* e = head.data() + kHeaderBytes + kSectionEntryBytes * i;
    std::memcpy(e, sections_[i].name.data(), sections_[i].name.size());
    std::memcpy(e + kSectionNameBytes, &offset, 8);
    std::memcpy(e + kSectionNameBytes + 8, &sections_[i].size, 8);
    offset = align_up(offset + sections_[i].size);
  }
  static const char zeros[kSectionAlign] = {};
  out.write(head);
  for (const auto& s : sections_) {
    out.write(zeros, align_up(out.bytes_written()) - out.bytes_written());
    for (auto c : s.chunks) out.write(c.data(), c.size());
  }
  out.write(zeros, align_up(out.bytes_written()) - out.bytes_written());
}

FormatReader::FormatReader(const ByteView& file) : file_(file) {
  const uint8_t* h = file.range(0, kHeaderBytes, "header");
  if (std::memcmp(h, kMagic, 8) != 0)
    fail(at_byte(file.path(), 0, "not a userllm dataset (bad magic; expected \"ULLMEVTS\")"));
  uint32_t version = load<uint32_t>(h + 8), n = load<uint32_t>(h + 12);
  if (version != kFormatVersion)
    fail(at_byte(file.path(), 8, "format version " + std::to_string(version) + " is not supported (expected " +
                                     std::to_string(kFormatVersion) + ")"));
  if (n > kMaxSections)
    fail(at_byte(file.path(), 12, "section count " + std::to_string(n) + " is implausible (at most " +
                                      std::to_string(kMaxSections) + ")"));
  const uint8_t* table = file.range(kHeaderBytes, uint64_t(n) * kSectionEntryBytes, "section table");
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* e = table + kSectionEntryBytes * i;
    uint64_t at = kHeaderBytes + kSectionEntryBytes * i;
    const char* name = reinterpret_cast<const char*>(e);
    size_t len = strnlen(name, kSectionNameBytes);
    if (len == kSectionNameBytes) fail(at_byte(file.path(), at, "section name is not terminated"));
    Entry entry{std::string(name, len), load<uint64_t>(e + kSectionNameBytes), load<uint64_t>(e + kSectionNameBytes + 8)};
    if (entry.offset % kSectionAlign != 0)
      fail(at_byte(file.path(), at + kSectionNameBytes,
                   "section \"" + entry.name + "\" offset " + std::to_string(entry.offset) + " is not 64-byte aligned"));
    if (entry.offset > file.size() || entry.size > file.size() - entry.offset)
      fail(at_byte(file.path(), at + kSectionNameBytes,
                   "section \"" + entry.name + "\" [" + std::to_string(entry.offset) + ", +" + std::to_string(entry.size) +
                       ") runs past the end of the file (" + std::to_string(file.size()) + " bytes; truncated?)"));
    entries_.push_back(std::move(entry));
  }
}

bool FormatReader::has(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return true;
  return false;
}

uint64_t FormatReader::offset(std::string_view name) const { return find(name).offset; }

const FormatReader::Entry& FormatReader::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return e;
  fail(at_byte(file_.path(), kHeaderBytes, "section \"" + std::string(name) + "\" is missing"));
}

void FormatReader::corrupt(std::string_view name, uint64_t offset, const std::string& what) const {
  fail(at_byte(file_.path(), offset, "section \"" + std::string(name) + "\": " + what));
}

std::string_view FormatReader::bytes(std::string_view name) const {
  const Entry& e = find(name);
  return std::string_view(reinterpret_cast<const char*>(file_.data() + e.offset), e.size);
}

const uint8_t* FormatReader::checked_array(std::string_view name, uint64_t count, size_t elem) const {
  const Entry& e = find(name);
  if (count > e.size / elem || e.size != count * elem)
    corrupt(name, e.offset, "holds " + std::to_string(e.size) + " bytes, expected " + std::to_string(count) + " x " +
                                std::to_string(elem));
  return file_.data() + e.offset;
}

StringTable FormatReader::strings(std::string_view name, uint64_t count) const {
  const Entry& e = find(name);
  if (e.size < 8) corrupt(name, e.offset, "too small for a string table");
  const uint8_t* p = file_.data() + e.offset;
  uint64_t n = load<uint64_t>(p);
  if (n != count)
    corrupt(name, e.offset, "holds " + std::to_string(n) + " strings, expected " + std::to_string(count));
  if (n + 1 > (e.size - 8) / 8) corrupt(name, e.offset, std::to_string(n) + " string offsets do not fit the section");
  StringTable t;
  t.count = n;
  t.offsets = reinterpret_cast<const uint64_t*>(p + 8);
  t.bytes = reinterpret_cast<const char*>(p + 8 + 8 * (n + 1));
  uint64_t blob = e.size - 8 - 8 * (n + 1);
  if (t.offsets[0] != 0) corrupt(name, e.offset + 8, "first string offset is not 0");
  for (uint64_t i = 0; i < n; ++i)
    if (t.offsets[i + 1] < t.offsets[i] || t.offsets[i + 1] > blob)
      corrupt(name, e.offset + 8 + 8 * (i + 1),
              "string offset " + std::to_string(t.offsets[i + 1]) + " is out of order or past the " +
                  std::to_string(blob) + "-byte string data");
  return t;
}

}  // namespace userllm::data
