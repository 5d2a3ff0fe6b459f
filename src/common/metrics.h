// Metrics as JSON lines: one object per line, appended and flushed at once so
// a killed run keeps everything it logged.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

namespace userllm {

class MetricsLog {
 public:
  explicit MetricsLog(const std::filesystem::path& path, bool append = true);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const nlohmann::json& record);

 private:
  std::FILE* f_ = nullptr;
};

// Reads every record of a JSON-lines file (a torn last line from a kill is ignored).
std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path);

// Keeps the records whose "step" is <= max_step (a killed run may have logged
// past its last checkpoint); rewrites the file atomically. No file, no-op.
void truncate_jsonl(const std::filesystem::path& path, int64_t max_step);

// The training loss logged at `step` (records without "split"), or 0 when none was.
double last_train_loss(const std::filesystem::path& path, int64_t step);

}  // namespace userllm
