// Fingerprints of the frozen sources a run refers to: a run stores only what it
// trained, so loading it against a retrained encoder or another LLM at the same
// path would silently give a different model. CRC-32 and size of each weight file,
// named by role ("encoder/checkpoint.pt", "llm/model.safetensors") so that
// sources moved together with the run, or given anew, still match.
#include <zlib.h>

#include <algorithm>

#include "common/error.h"
#include "common/mapped_file.h"
#include "train/finetune_internal.h"

namespace userllm::train {

namespace fs = std::filesystem;

namespace {

// The files whose bytes make the model, by role: the encoder's shape and weights, the LLM's config and weights.
std::vector<std::pair<std::string, fs::path>> source_files(const FinetuneOptions& o) {
  std::vector<std::pair<std::string, fs::path>> files;
  if (o.model.integration != bridge::IntegrationKind::kText)
    for (const char* name : {"encoder.json", "checkpoint.pt"}) files.emplace_back(std::string("encoder/") + name, fs::path(o.encoder) / name);
  if (fs::is_directory(o.llm)) {
    std::vector<fs::path> weights;
    for (const auto& e : fs::directory_iterator(o.llm))
      if (e.path().extension() == ".safetensors" || e.path().filename() == "config.json") weights.push_back(e.path());
    std::sort(weights.begin(), weights.end());
    for (const auto& w : weights) files.emplace_back("llm/" + w.filename().string(), w);
  } else {
    files.emplace_back("llm/" + fs::path(o.llm).filename().string(), o.llm);
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
  for (const auto& [role, file] : source_files(o)) j[role] = fingerprint(file);
  return j;
}

void check_source_fingerprints(const nlohmann::json& recorded, const FinetuneOptions& o, const std::string& spec) {
  // Runs made before the roles named each file by its absolute path.
  bool by_path = false;
  for (const auto& [key, print] : recorded.items()) by_path = by_path || (!key.empty() && key[0] == '/');
  const auto files = source_files(o);
  for (const auto& [role, file] : files) {
    const std::string key = by_path ? file.string() : role;
    if (!recorded.contains(key))
      fail(spec + ": the run was not trained with " + file.string() + " (its sources have changed)");
    if (recorded.at(key) != fingerprint(file))
      fail(spec + ": " + file.string() + " has changed since the run was trained (size or CRC-32 differ); the run "
                  "stores only its trained parameters and needs the same frozen sources");
  }
  if (recorded.size() != files.size()) fail(spec + ": some of the run's source files are missing");
}

}  // namespace userllm::train
