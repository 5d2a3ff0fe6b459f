// The built-in synthetic data: users whose taste over ~18 genres drifts over
// time, a Zipf-popular catalogue with readable titles, ratings that follow how
// well an item fits the user's current taste, and short templated reviews.
// Seeded and platform-independent: the same seed gives byte-identical files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "data/log_builder.h"

namespace userllm::data {

struct SynthOptions {
  uint32_t users = 2000;
  uint32_t items = 1500;
  uint32_t events_per_user = 250;  // the mean; each user gets 0.4x to 1.6x
  uint64_t seed = 1;
};

// Streams the catalogue, then every user's events in time order, into sink.
// Returns ground_truth.json's text (docs/data-format.md).
std::string generate_synthetic(const SynthOptions& options, EventSink& sink);

// The prepared dataset plus ground_truth.json in DIR, atomically.
// before_commit(temp_dir) may add files (config.json).
void write_synthetic_dataset(const SynthOptions& options, const std::filesystem::path& dir,
                             const std::function<void(const std::filesystem::path&)>& before_commit = nullptr);

// The MovieLens CSV layout (ratings.csv, movies.csv) plus ground_truth.json,
// which `data prepare --format movielens` reads back.
void write_synthetic_csv(const SynthOptions& options, const std::filesystem::path& dir,
                         const std::function<void(const std::filesystem::path&)>& before_commit = nullptr);

}  // namespace userllm::data
