#include "llm/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

#include "common/atomic_file.h"
#include "common/error.h"

namespace userllm::llm {

namespace {

struct DTypeName {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeName kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

// A header is metadata, not weights; 100 MB is the reference implementation's limit too.
constexpr uint64_t kMaxHeader = 100ull << 20;

// Names a sharded index may point at: plain file names inside the model directory.
void check_shard_name(const std::string& shard, const std::string& index) {
  if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos || shard == "." ||
      shard == "..")
    fail(index + ": shard \"" + shard + "\" is not a file name inside the model directory");
}

}  // namespace

std::map<std::string, std::set<std::string>> parse_safetensors_index(const std::string& json, const std::string& file) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(file + ": expected a JSON object with a \"weight_map\" object");
  std::map<std::string, std::set<std::string>> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) fail(file + ": weight_map values must be file names");
    check_shard_name(it.value().get<std::string>(), file);
    shards[it.value().get<std::string>()].insert(it.key());
  }
  return shards;
}

const char* dtype_name(DType d) {
  for (const auto& t : kDTypes)
    if (t.dtype == d) return t.name;
  return "?";
}

size_t dtype_size(DType d) {
  for (const auto& t : kDTypes)
    if (t.dtype == d) return t.size;
  return 0;
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (int64_t s : shape) n *= uint64_t(s);
  return n;
}

const TensorInfo* SafetensorsHeader::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t size, const std::string& file) {
  if (size < 8) fail(at_byte(file, 0, "file of " + std::to_string(size) + " bytes is too short for a safetensors header"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxHeader) fail(at_byte(file, 0, "header length " + std::to_string(n) + " exceeds the 100 MB limit"));
  if (n > size - 8)
    fail(at_byte(file, 0, "header length " + std::to_string(n) + " runs past the end of the file (" +
                              std::to_string(size) + " bytes)"));
  if (n < 2 || data[8] != '{') fail(at_byte(file, 8, "header does not start with '{'"));
  auto j = nlohmann::json::parse(data + 8, data + 8 + n, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) fail(at_byte(file, 8, "header is not a valid JSON object"));

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(at_byte(file, 8, "__metadata__ must be an object of strings"));
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(at_byte(file, 8, "__metadata__ value \"" + m.key() + "\" is not a string"));
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { fail(at_byte(file, 8, "tensor \"" + name + "\": " + what)); };
    if (!v.is_object()) bad("entry is not an object");
    TensorInfo t;
    t.name = name;
    if (!v.contains("dtype") || !v["dtype"].is_string()) bad("missing dtype");
    const std::string dt = v["dtype"].get<std::string>();
    const DTypeName* found = nullptr;
    for (const auto& d : kDTypes)
      if (dt == d.name) found = &d;
    if (!found) bad("unknown dtype \"" + dt + "\"");
    t.dtype = found->dtype;
    if (!v.contains("shape") || !v["shape"].is_array()) bad("missing shape");
    unsigned __int128 bytes = found->size;
    for (const auto& s : v["shape"]) {
      if (!s.is_number_unsigned()) bad("shape entries must be non-negative integers");
      uint64_t d = s.get<uint64_t>();
      if (d > (uint64_t(1) << 48)) bad("dimension " + std::to_string(d) + " is implausibly large");
      t.shape.push_back(int64_t(d));
      bytes *= d;
      if (bytes > (unsigned __int128)(data_size) + 1) bytes = (unsigned __int128)(data_size) + 1;  // saturate
    }
    const auto& off = v.contains("data_offsets") ? v["data_offsets"] : nlohmann::json();
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad("data_offsets must be [begin, end]");
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.begin > t.end) bad("data_offsets begin > end");
    if (t.end > data_size)
      bad("data_offsets end " + std::to_string(t.end) + " is past the end of the data (" + std::to_string(data_size) +
          " bytes)");
    if ((unsigned __int128)(t.end - t.begin) != bytes)
      bad("data_offsets span " + std::to_string(t.end - t.begin) + " bytes but dtype and shape need " +
          (bytes > data_size ? std::string("more than the file holds") : std::to_string(uint64_t(bytes))));
    h.tensors.push_back(std::move(t));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  const TensorInfo* reach = nullptr;  // the tensor ending furthest so far
  for (const auto& b : h.tensors) {
    if (b.begin == b.end) continue;
    if (reach && b.begin < reach->end)
      fail(at_byte(file, h.data_start + b.begin, "tensors \"" + reach->name + "\" and \"" + b.name + "\" overlap"));
    if (!reach || b.end > reach->end) reach = &b;
  }
  return h;
}

void write_safetensors(const std::string& path, const std::vector<TensorBlob>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorBlob*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorBlob* a, const TensorBlob* b) { return a->name < b->name; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (const auto* t : order) {
    uint64_t bytes = dtype_size(t->dtype);
    for (int64_t s : t->shape) bytes *= uint64_t(s);
    header[t->name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + bytes}}};
    sizes.push_back(bytes);
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(json.size()) >> (8 * i));

  AtomicFile out(path);
  out.write(len, 8);
  out.write(json);
  for (size_t i = 0; i < order.size(); ++i) out.write(order[i]->data, sizes[i]);
  out.commit();
}

}  // namespace userllm::llm
