// Readers stream raw rows into a LogBuilder. It interns user, item and field
// strings, keeps the item catalogue, and at finish() sorts, filters, splits
// and writes the prepared dataset (docs/data-format.md).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::data {

// One interaction as a reader sees it. Views are only valid during add_event.
struct RawEvent {
  std::string_view user;
  int64_t timestamp = 0;  // Unix seconds
  std::string_view item;
  std::optional<float> rating;  // stored as a field in 0.5 steps
  std::string_view text;        // review text, may be empty
  std::string_view summary;     // review title / summary, may be empty
};

// One catalogue entry. May arrive before or after the item's events; items
// that never occur in an event are kept in the catalogue only if they do.
struct ItemRecord {
  std::string_view key;
  std::string_view title;
  int year = 0;                     // 0 when unknown
  std::vector<std::string> genres;  // genres or categories, most general first, kept whole
  std::string_view description;
  std::string_view brand;
};

struct PrepareOptions {
  uint32_t min_user_events = 0;  // k-core: repeated until both hold
  uint32_t min_item_events = 0;
  uint32_t min_token_count = 1;  // vocabulary min-count (rarer tokens become OOV)
  bool dedupe = false;           // drop exact duplicate events (Amazon 2018 5-core repeats reviews)
};

// What prepare did, reported by `data stats`.
struct PrepareReport {
  uint64_t lines_read = 0;
  uint64_t skipped_lines = 0;
  uint64_t duplicates_removed = 0;
  uint64_t filtered_events = 0;  // removed by k-core
};

// Where readers push rows. LogBuilder is the real one; tests may record.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void add_event(const RawEvent& e) = 0;
  virtual void add_item(const ItemRecord& item) = 0;
  virtual PrepareReport& report() = 0;  // readers count lines_read / skipped_lines here
};

class LogBuilder : public EventSink {
 public:
  // name: "movielens", "amazon", "google-local", "synthetic". genre_field:
  // "genre" (MovieLens, synthetic) or "category" (Amazon, Google Local).
  LogBuilder(std::string name, std::string genre_field);
  ~LogBuilder() override;
  LogBuilder(const LogBuilder&) = delete;
  LogBuilder& operator=(const LogBuilder&) = delete;

  void add_event(const RawEvent& e) override;
  void add_item(const ItemRecord& item) override;
  PrepareReport& report() override;

  // Sorts, filters, splits, and writes DIR atomically (nothing is left on failure).
  void finish(const PrepareOptions& options, const std::filesystem::path& out_dir);
  // The same, calling before_commit(temp_dir) just before the rename so the
  // caller can add files (config.json, ground_truth.json) to the same atomic output.
  void finish(const PrepareOptions& options, const std::filesystem::path& out_dir,
              const std::function<void(const std::filesystem::path&)>& before_commit);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace userllm::data
