#include "tasks/task.h"

#include <algorithm>
#include <unordered_map>

#include "common/error.h"

namespace userllm::tasks {

const char* task_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::kNextItem: return "next-item";
    case TaskKind::kFavoriteGenre: return "favorite-genre";
    case TaskKind::kReview: return "review";
  }
  return "?";
}

TaskKind parse_task(const std::string& name) {
  for (TaskKind k : {TaskKind::kNextItem, TaskKind::kFavoriteGenre, TaskKind::kReview})
    if (name == task_name(k)) return k;
  fail("unknown task \"" + name + "\": expected next-item, favorite-genre or review");
}

std::string item_noun(const data::Dataset& ds) {
  if (ds.name() == "movielens" || ds.name() == "synthetic") return "movie";
  if (ds.name() == "amazon") return "product";
  if (ds.name() == "google-local") return "place";
  return "item";
}

static std::string item_verb(const std::string& noun) {
  if (noun == "movie") return "watch";
  if (noun == "product") return "buy";
  if (noun == "place") return "visit";
  return "choose";
}

uint32_t favorite_genre(const data::Dataset& ds, uint64_t begin, uint64_t end) {
  const uint32_t* items = ds.column(ds.field_index("item"));
  struct Tally {
    uint64_t count = 0;
    uint64_t last = 0;  // 1 + the latest event index where the genre occurs
  };
  std::unordered_map<uint32_t, Tally> tally;
  for (uint64_t e = begin; e < end; ++e)
    for (uint32_t g : ds.item_genres(items[e])) {
      if (g == data::kPadId || g == data::kOovId) continue;
      Tally& t = tally[g];
      ++t.count;
      t.last = e + 1;
    }
  uint32_t best = data::kPadId;
  Tally best_t;
  for (const auto& [g, t] : tally)
    if (t.count > best_t.count || (t.count == best_t.count && t.last > best_t.last) ||
        (t.count == best_t.count && t.last == best_t.last && g < best))  // same event: the smaller id, for determinism
      best = g, best_t = t;
  return best;
}

std::string next_item_instruction(const data::Dataset& ds) {
  const std::string noun = item_noun(ds);
  return "Based on the user's history, the next " + noun + " they will " + item_verb(noun) + " is:";
}

std::optional<Example> make_example(const data::Dataset& ds, const TaskOptions& opts, uint32_t user,
                                    uint64_t target, const data::GroundTruth* gt) {
  if (opts.history <= 0) fail("--history must be positive, got " + std::to_string(opts.history));
  if (user >= ds.num_users() || target < ds.user_begin(user) || target >= ds.user_end(user))
    fail("event " + std::to_string(target) + " is not an event of user " + std::to_string(user));
  Example ex;
  ex.user = user;
  ex.target = target;
  ex.end = target;
  ex.begin = std::max<uint64_t>(ds.user_begin(user), target >= uint64_t(opts.history) ? target - opts.history : 0);
  // min_history counts every earlier event of the user, not just the L read: runs at several L
  // over the same users. At least one, so the history is never empty.
  if (target - ds.user_begin(user) < uint64_t(std::max(1, opts.min_history))) return std::nullopt;
  ex.item = ds.column(ds.field_index("item"))[target];
  switch (opts.kind) {
    case TaskKind::kNextItem:
      ex.prompt = next_item_instruction(ds);
      ex.answer = std::string(ds.item_title(ex.item));
      break;
    case TaskKind::kFavoriteGenre: {
      ex.genre = favorite_genre(ds, ex.begin, ex.end);
      if (ex.genre == data::kPadId) return std::nullopt;
      int gf = ds.field_index(ds.genre_field());
      ex.prompt = "Based on the user's history, their favourite " + ds.genre_field() + " is:";
      ex.answer = std::string(ds.token(gf, ex.genre));
      if (gt && user < gt->favorite_genre_now.size()) ex.true_genre = gt->favorite_genre_now[user];
      break;
    }
    case TaskKind::kReview: {
      ex.review = std::string(ds.event_text(target));
      if (ex.review.empty()) return std::nullopt;
      ex.prompt = "Write the user's review of " + std::string(ds.item_title(ex.item));
      int rf = ds.field_index("rating");
      uint32_t r = rf >= 0 ? ds.column(rf)[target] : data::kPadId;
      if (r != data::kPadId && r != data::kOovId) ex.prompt += ", rated " + std::string(ds.token(rf, r)) + " stars";
      ex.prompt += ":";
      ex.answer = ex.review;
      break;
    }
  }
  return ex;
}

std::vector<Example> build_examples(const data::Dataset& ds, const TaskOptions& opts, data::Split split,
                                    const data::GroundTruth* gt) {
  std::vector<Example> out;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    uint64_t b = ds.split_begin(u, split), e = ds.split_end(u, split);
    if (split != data::Split::kTrain) {
      if (b < e)
        if (auto ex = make_example(ds, opts, u, b, gt)) out.push_back(std::move(*ex));
      continue;
    }
    // Latest train targets first, then restore time order for this user.
    size_t first = out.size();
    for (uint64_t t = e; t > b; --t) {
      if (opts.max_train_per_user > 0 && out.size() - first >= size_t(opts.max_train_per_user)) break;
      if (auto ex = make_example(ds, opts, u, t - 1, gt)) out.push_back(std::move(*ex));
    }
    std::reverse(out.begin() + first, out.end());
  }
  return out;
}

}  // namespace userllm::tasks
