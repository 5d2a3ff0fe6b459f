#include "report/projection.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include <torch/linalg.h>

#include "common/error.h"
#include "data/dataset.h"
#include "encoder/batch.h"
#include "encoder/checkpoint.h"
#include "encoder/embed.h"
#include "encoder/events.h"
#include "tasks/task.h"

namespace userllm::report {
namespace {

// The users to show: those with train events, a seeded sample when too many.
std::vector<uint32_t> pick_users(const encoder::Events& ev, int64_t max_users, uint64_t seed) {
  std::vector<uint32_t> users;
  for (uint32_t u = 0; u < ev.num_users(); ++u)
    if (ev.train_end[u] > ev.offsets[u]) users.push_back(u);
  if (max_users > 0 && static_cast<int64_t>(users.size()) > max_users) {
    std::mt19937_64 rng(seed);
    for (int64_t i = 0; i < max_users; ++i) {  // partial Fisher-Yates
      std::uniform_int_distribution<size_t> pick(i, users.size() - 1);
      std::swap(users[i], users[pick(rng)]);
    }
    users.resize(max_users);
    std::sort(users.begin(), users.end());
  }
  return users;
}

// The same events restricted to `users` and to their train part.
encoder::Events train_part(const encoder::Events& ev, const std::vector<uint32_t>& users) {
  encoder::Events sub;
  sub.field_names = ev.field_names;
  sub.field_vocab = ev.field_vocab;
  sub.offsets.push_back(0);
  const size_t F = ev.num_fields();
  for (uint32_t u : users) {
    sub.tokens.insert(sub.tokens.end(), ev.tokens.begin() + ev.offsets[u] * F, ev.tokens.begin() + ev.train_end[u] * F);
    sub.offsets.push_back(sub.tokens.size() / F);
    sub.train_end.push_back(sub.offsets.back());
    sub.validation_end.push_back(sub.offsets.back());
  }
  return sub;
}

}  // namespace

Projection project_users(const std::filesystem::path& encoder_run, const std::filesystem::path& data,
                         int64_t max_users, int top_genres, uint64_t seed) {
  const torch::Device cpu(torch::kCPU);
  auto ds = data::Dataset::open(data);
  auto model = encoder::load_encoder(encoder_run, cpu);
  const auto ev = encoder::events_from(ds, model->options().time_gap);
  encoder::check_compatible(ev, model->options());
  const auto users = pick_users(ev, max_users, seed);
  if (users.size() < 3)
    fail(data.string() + ": " + std::to_string(users.size()) + " users with train events, too few to project");

  torch::NoGradGuard no_grad;
  auto emb = encoder::embed_users(model, train_part(ev, users), std::vector<std::string>(users.size()), false, cpu);
  const int64_t n = static_cast<int64_t>(users.size()), d = emb.dim;
  auto x = torch::from_blob(emb.vectors.data(), {n, d}, torch::kFloat).to(torch::kDouble);
  x = x - x.mean(0, true);
  auto [u, s, vh] = torch::linalg::svd(x, false, c10::nullopt);
  const int64_t k = std::min<int64_t>(2, vh.size(0));
  auto components = vh.narrow(0, 0, k).clone();
  for (int64_t c = 0; c < k; ++c) {  // an SVD's signs are arbitrary: make the largest loading positive
    auto row = components[c];
    if (row[row.abs().argmax()].item<double>() < 0) components[c] = -row;
  }
  auto xy = torch::matmul(x, components.t()).contiguous();
  auto var = s.pow(2);
  const double total = var.sum().item<double>();

  Projection p;
  for (int64_t c = 0; c < k; ++c) p.explained[c] = total > 0 ? var[c].item<double>() / total : 0.0;
  auto acc = xy.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    p.x.push_back(static_cast<float>(acc[i][0]));
    p.y.push_back(k > 1 ? static_cast<float>(acc[i][1]) : 0.0f);
  }

  // Favourite genre of each user's train events; the most common ones get a colour each.
  std::vector<uint32_t> genre(n);
  std::map<uint32_t, int64_t> count;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t user = users[i];
    genre[i] = tasks::favorite_genre(ds, ds.user_begin(user), ds.split_end(user, data::Split::kTrain));
    if (genre[i] != data::kPadId) ++count[genre[i]];
  }
  std::vector<std::pair<int64_t, uint32_t>> ranked;
  for (auto [g, c] : count) ranked.push_back({-c, g});
  std::sort(ranked.begin(), ranked.end());
  const int gf = ds.field_index(ds.genre_field());
  std::map<uint32_t, int> colour;
  for (const auto& [neg, g] : ranked) {
    if (static_cast<int>(colour.size()) == top_genres) break;
    colour[g] = static_cast<int>(p.group_names.size());
    p.group_names.push_back(gf >= 0 ? std::string(ds.token(gf, g)) : ds.genre_field() + " " + std::to_string(g));
  }
  bool other = false;
  for (int64_t i = 0; i < n; ++i) {
    auto it = colour.find(genre[i]);
    p.group.push_back(it != colour.end() ? it->second : -1);
    other |= it == colour.end();
  }
  if (other) {
    p.group_names.push_back(count.size() > colour.size() ? "other" : "no " + ds.genre_field());
    for (int& g : p.group)
      if (g < 0) g = static_cast<int>(p.group_names.size()) - 1;
  }
  return p;
}

}  // namespace userllm::report
