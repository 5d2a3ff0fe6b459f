// The safetensors container (https://huggingface.co/docs/safetensors): an
// 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the tensor bytes, offsets relative to 8 + N. This file knows nothing of
// libtorch, so the header parser can be fuzzed in a light build.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace userllm::llm {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType d);  // "F32", ...
size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to data_start
  uint64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length

  const TensorInfo* find(const std::string& name) const;
};

// Validates everything a reader relies on: the header fits in the file, the
// JSON is well formed, every dtype is known, every shape's byte size equals
// its data_offsets span, spans lie inside the file and do not overlap.
// `file` names the source in error messages (userllm::Error).
SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t size, const std::string& file);

// model.safetensors.index.json: each shard (a plain file name inside the model
// directory) with the tensors its "weight_map" assigns to it. `file` names the
// source in error messages (userllm::Error).
std::map<std::string, std::set<std::string>> parse_safetensors_index(const std::string& json, const std::string& file);

struct TensorBlob {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // shape product * dtype_size bytes, little-endian
};

// Writes a safetensors file atomically: header padded with spaces to a
// multiple of 8 bytes (as the reference writer does), tensors sorted by name.
void write_safetensors(const std::string& path, const std::vector<TensorBlob>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace userllm::llm
