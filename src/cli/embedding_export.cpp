#include "cli/embedding_export.h"

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/safetensors.h"

namespace userllm::cli {

void write_embeddings_safetensors(const std::filesystem::path& path, const encoder::UserEmbeddings& e) {
  const int64_t rows = static_cast<int64_t>(e.offsets.back());
  const std::vector<int64_t> offsets(e.offsets.begin(), e.offsets.end());
  llm::write_safetensors(path.string(),
                         {{"embeddings", llm::DType::F32, {rows, static_cast<int64_t>(e.dim)}, e.vectors.data()},
                          {"offsets", llm::DType::I64, {static_cast<int64_t>(offsets.size())}, offsets.data()}},
                         {{"format", "pt"},
                          {"users", nlohmann::json(e.keys).dump()},
                          {"per_event", e.per_event ? "true" : "false"}});
}

void write_embeddings_npy(const std::filesystem::path& path, const std::filesystem::path& keys_path,
                          const encoder::UserEmbeddings& e) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(e.num_users()) + ", " +
                       std::to_string(e.dim) + "), }";
  // Magic, version 1.0, a little-endian uint16 length, then the header padded so the data starts at a multiple of 64.
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string prefix = "\x93NUMPY\x01";
  prefix += '\0';
  prefix += static_cast<char>(header.size() & 0xff);
  prefix += static_cast<char>(header.size() >> 8);
  std::string keys;
  for (const auto& k : e.keys) {
    if (k.find('\n') != std::string::npos) fail("user id with a newline: it cannot be listed one per line");
    keys += k + "\n";
  }
  AtomicFile out(path);
  out.write(prefix);
  out.write(header);
  out.write(e.vectors.data(), e.vectors.size() * sizeof(float));
  write_file_atomic(keys_path, keys);
  out.commit();
}

}  // namespace userllm::cli
