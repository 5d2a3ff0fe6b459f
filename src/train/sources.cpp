// Fingerprints of the frozen sources a run refers to: a run stores only what it
// trained, so loading it against a retrained encoder or another LLM at the same
// path would silently give a different model. CRC-32 and size of each weight file.
#include <zlib.h>

#include <algorithm>

#include "common/error.h"
#include "common/mapped_file.h"
#include "train/finetune_internal.h"

namespace userllm::train {

namespace fs = std::filesystem;

namespace {

// The files whose bytes make the model: the encoder's shape and weights, the LLM's config and weights.
std::vector<fs::path> source_files(const FinetuneOptions& o) {
  std::vector<fs::path> files;
  if (o.model.integration != bridge::IntegrationKind::kText) {
    files.push_back(fs::path(o.encoder) / "encoder.json");
    files.push_back(fs::path(o.encoder) / "checkpoint.pt");
  }
  if (fs::is_directory(o.llm)) {
    std::vector<fs::path> weights;
    for (const auto& e : fs::directory_iterator(o.llm))
      if (e.path().extension() == ".safetensors" || e.path().filename() == "config.json") weights.push_back(e.path());
    std::sort(weights.begin(), weights.end());
    files.insert(files.end(), weights.begin(), weights.end());
  } else {
    files.push_back(o.llm);
  }
  return files;
}

nlohmann::json fingerprint(const fs::path& file) {
  MappedFile m(file);
  uLong crc = crc32(0L, Z_NULL, 0);
  constexpr uint64_t kChunk = 1 << 30;  // crc32 takes a 32-bit length
  for (uint64_t off = 0; off < m.size(); off += kChunk)
    crc = crc32(crc, m.data() + off, static_cast<uInt>(std::min(kChunk, m.size() - off)));
  return {{"bytes", m.size()}, {"crc32", static_cast<uint64_t>(crc)}};
}

}  // namespace

nlohmann::json source_fingerprints(const FinetuneOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : source_files(o)) j[f.string()] = fingerprint(f);
  return j;
}

void check_source_fingerprints(const nlohmann::json& recorded, const FinetuneOptions& o, const std::string& spec) {
  const nlohmann::json now = source_fingerprints(o);
  for (const auto& [file, print] : now.items()) {
    if (!recorded.contains(file))
      fail(spec + ": the run was not trained with " + file + " (its sources have changed)");
    if (recorded.at(file) != print)
      fail(spec + ": " + file + " has changed since the run was trained (size or CRC-32 differ); the run stores "
                  "only its trained parameters and needs the same frozen sources");
  }
  if (recorded.size() != now.size()) fail(spec + ": some of the run's source files are missing");
}

}  // namespace userllm::train
