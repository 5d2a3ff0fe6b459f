// A 2-D picture of what the user encoder learned: every (sampled) user's
// vector over their train events, projected on the first two principal
// components and labelled with the favourite genre of those same events.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace userllm::report {

struct Projection {
  std::vector<float> x, y;              // per user
  std::vector<int> group;               // index into group_names
  std::vector<std::string> group_names; // the most common genres, then "other" when needed
  double explained[2] = {0, 0};         // variance fraction of each component
};

// Loads the encoder run and its dataset, embeds at most max_users users with
// train events (a seeded sample when there are more), and projects by PCA
// (SVD of the centred matrix, signs fixed so the result is reproducible).
// Genres beyond the `top_genres` most common are grouped as "other".
Projection project_users(const std::filesystem::path& encoder_run, const std::filesystem::path& data,
                         int64_t max_users, int top_genres = 8, uint64_t seed = 1);

}  // namespace userllm::report
