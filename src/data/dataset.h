// A prepared dataset: per-user, time-ordered, multi-field event sequences,
// memory-mapped from the binary format of docs/data-format.md. This is the
// read side every higher layer (encoder, tasks) uses.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace userllm {
class ByteView;
}

namespace userllm::data {

// Every field vocabulary reserves these ids.
inline constexpr uint32_t kPadId = 0;
inline constexpr uint32_t kOovId = 1;

// One categorical field of an event ("item", "genre", "rating", "category", ...).
struct FieldInfo {
  std::string name;
  uint32_t vocab_size = 0;  // including PAD and OOV
};

enum class Split { kTrain, kValidation, kTest };

class Dataset {
 public:
  // Opens DIR/events.bin (and its siblings); every offset is bounds-checked.
  static Dataset open(const std::filesystem::path& dir);
  // The same checks over an events.bin already in memory (the fuzzers); the
  // bytes are not copied and must outlive the dataset.
  static Dataset from_bytes(const ByteView& events_bin);
  Dataset(Dataset&&) noexcept;
  Dataset& operator=(Dataset&&) noexcept;
  ~Dataset();

  const std::string& name() const;  // "movielens", "amazon", "google-local", "synthetic"
  uint32_t num_users() const;
  uint64_t num_events() const;
  uint32_t num_items() const;  // vocab size of the item field, PAD and OOV included

  const std::vector<FieldInfo>& fields() const;
  int field_index(std::string_view name) const;  // -1 when absent
  // "genre" or "category": the field item_genres() ids belong to (it may be
  // absent from fields() when the source had no genres).
  const std::string& genre_field() const;

  // Columns over all events (global event index), num_events() long.
  const uint32_t* column(int field) const;
  const int64_t* timestamps() const;  // Unix seconds

  // The events of user u are [user_begin(u), user_end(u)), sorted by time (stable).
  uint64_t user_begin(uint32_t u) const;
  uint64_t user_end(uint32_t u) const;
  std::string_view user_key(uint32_t u) const;  // the id in the source data
  std::optional<uint32_t> find_user(std::string_view key) const;  // linear scan

  // Leave-last-out: the last event is test, the second-last validation, the
  // rest train. Users with fewer than 3 events have train events only.
  // split_end(u, kTrain) is the end of u's train events, and so on.
  uint64_t split_begin(uint32_t u, Split s) const;
  uint64_t split_end(uint32_t u, Split s) const;

  // Vocabulary strings: token(f, id) for any field; PAD is "<pad>", OOV "<oov>".
  std::string_view token(int field, uint32_t id) const;
  std::optional<uint32_t> lookup(int field, std::string_view token) const;

  // Catalogue, indexed by item-field id.
  std::string_view item_title(uint32_t item) const;  // readable title (falls back to the item key)
  int item_year(uint32_t item) const;                // 0 when unknown
  // All genres / categories of an item, as ids of the "genre" (or "category") field.
  std::vector<uint32_t> item_genres(uint32_t item) const;
  std::string_view item_description(uint32_t item) const;
  std::string_view item_brand(uint32_t item) const;

  // Review text of an event (empty when the source has none).
  std::string_view event_text(uint64_t event) const;
  // Review title / summary of an event (Amazon; empty otherwise).
  std::string_view event_summary(uint64_t event) const;

  // The dataset's JSON metadata (schema, counts, preparation options).
  const std::string& metadata_json() const;

 private:
  struct Impl;
  explicit Dataset(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A training window: events [begin, end) of one user, end - begin <= length.
struct Window {
  uint32_t user;
  uint64_t begin, end;
};

// Sliding windows of `length` over each user's train events with `stride`;
// the last window of a user always ends at the user's last train event.
std::vector<Window> training_windows(const Dataset& ds, int length, int stride);

// What the synthetic generator planted (DIR/ground_truth.json), indexed by
// dataset user index; absent for real data.
struct GroundTruth {
  std::vector<uint32_t> favorite_genre_now;  // ids of the "genre" field
};
std::optional<GroundTruth> read_ground_truth(const Dataset& ds, const std::filesystem::path& dir);

}  // namespace userllm::data
