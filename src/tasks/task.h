// The User-LLM contextualization tasks (Ning et al. 2024, section 4): next
// item, favourite genre / category, review generation. An Example is one
// (user, target event) pair: the history events before the target, the
// prompt and answer texts, and the task's gold labels.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace userllm::tasks {

enum class TaskKind { kNextItem, kFavoriteGenre, kReview };

const char* task_name(TaskKind kind);  // "next-item", "favorite-genre", "review"
TaskKind parse_task(const std::string& name);  // throws userllm::Error

struct TaskOptions {
  TaskKind kind = TaskKind::kNextItem;
  int history = 50;           // L: at most this many events before the target
  int max_train_per_user = 1; // train examples per user (the most recent targets); 0 = all
  int min_history = 1;        // skip targets with fewer events before them (all of them, not just the L read)
};

struct Example {
  uint32_t user = 0;
  uint64_t target = 0;      // global event index of the target event
  uint64_t begin = 0, end = 0;  // history events [begin, end); end == target
  std::string prompt;       // the instruction after the user context
  std::string answer;       // what the LLM should produce (EOS is added at tokenisation)
  uint32_t item = 0;        // target item id (every task)
  uint32_t genre = data::kPadId;  // favourite genre of the history (favourite-genre task)
  std::optional<uint32_t> true_genre;  // synthetic data: the generator's current favourite
  std::string review;       // the target event's review text (review task)
};

// "movie", "product", "place" or "item", from the dataset's name.
std::string item_noun(const data::Dataset& ds);
// The next-item task's instruction ("Based on the user's history, the next movie they will watch is:").
std::string next_item_instruction(const data::Dataset& ds);

// The most frequent genre over every genre of every item in events [begin,
// end) (catalogue genres, multi-valued), ties going to the genre seen most
// recently (genres of one item tie by the smaller id). kPadId when no history item has a genre.
uint32_t favorite_genre(const data::Dataset& ds, uint64_t begin, uint64_t end);

// The example for `target` of `user`, or nullopt when the task has nothing
// to ask there (no history, no genre in the history, no review text).
// `gt` (synthetic ground truth) fills true_genre.
std::optional<Example> make_example(const data::Dataset& ds, const TaskOptions& opts, uint32_t user,
                                    uint64_t target, const data::GroundTruth* gt = nullptr);

// Examples of every user for one split: test targets the last event,
// validation the second-last, train the events before those (the latest
// max_train_per_user of them that yield an example).
std::vector<Example> build_examples(const data::Dataset& ds, const TaskOptions& opts, data::Split split,
                                    const data::GroundTruth* gt = nullptr);

}  // namespace userllm::tasks
