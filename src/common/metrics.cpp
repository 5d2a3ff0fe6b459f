#include "common/metrics.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace userllm {

MetricsLog::MetricsLog(const std::filesystem::path& path, bool append) {
  f_ = std::fopen(path.c_str(), append ? "ab" : "wb");
  if (!f_) fail(path.string() + ": cannot open for writing: " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const nlohmann::json& record) {
  std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fflush(f_);
}

std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail(path.string() + ": cannot open");
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

void truncate_jsonl(const std::filesystem::path& path, int64_t max_step) {
  if (!std::filesystem::exists(path)) return;
  std::string kept;
  for (const auto& r : read_jsonl(path))
    if (r.value("step", int64_t{0}) <= max_step) kept += r.dump() + "\n";
  write_file_atomic(path, kept);
}

double last_train_loss(const std::filesystem::path& path, int64_t step) {
  if (!std::filesystem::exists(path)) return 0;
  double loss = 0;
  for (const auto& r : read_jsonl(path))
    if (r.value("step", int64_t{-1}) == step && !r.contains("split") && r.contains("loss") && r["loss"].is_number())
      loss = r["loss"].get<double>();
  return loss;
}

}  // namespace userllm
