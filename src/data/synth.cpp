#include "data/synth.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/progress.h"
#include "data/dataset.h"

namespace userllm::data {
namespace {

constexpr int kGenres = 18;
// MovieLens genre names, with how common each is among items and favourites.
const char* const kGenreNames[kGenres] = {"Action",  "Adventure", "Animation", "Children", "Comedy",  "Crime",
                                          "Documentary", "Drama", "Fantasy",   "Film-Noir", "Horror", "Musical",
                                          "Mystery", "Romance",   "Sci-Fi",    "Thriller",  "War",     "Western"};
const double kGenreWeight[kGenres] = {6, 4, 2.5, 2.5, 9, 4, 2, 10, 3, 0.6, 3.5, 1.2, 2.5, 5, 3.5, 6, 1.5, 1};

const char* const kAdjectives[] = {
    "Silent", "Crimson", "Broken", "Hidden", "Last",    "Golden",  "Frozen",  "Distant", "Burning", "Quiet",
    "Restless", "Secret", "Wild",  "Lost",   "Electric", "Hollow", "Midnight", "Velvet", "Iron",    "Paper",
    "Shattered", "Bright", "Dark", "Endless", "Forgotten", "Savage", "Gentle", "Scarlet", "Silver",  "Stolen",
    "Sleeping", "Wandering", "Bitter", "Crooked", "Northern", "Painted", "Rising",  "Falling", "Lonely",  "Final"};
const char* const kNouns[] = {
    "Harbor", "Garden",  "Mirror", "Empire",  "River",  "Promise", "Shadow",  "Kingdom", "Letter", "Storm",
    "Horizon", "Orchard", "Signal", "Voyage", "Witness", "Lantern", "Frontier", "Circus", "Island", "Crown",
    "Machine", "Highway", "Winter", "Summer", "Castle", "Stranger", "Tide",    "Engine",  "Forest", "Bridge",
    "Dynasty", "Citadel", "Heart",  "Compass", "Echo",  "Meadow",  "Canyon",  "Prophecy", "Melody", "Ghost"};
const char* const kPlaces[] = {"Avalon",  "Brooklyn", "the North", "Marseille", "Tokyo",   "the Valley", "Kings Row",
                               "Lisbon",  "the Moon", "Cairo",     "Red Hill",  "Vienna",  "the Delta",  "Stonebridge",
                               "Havana",  "Mars",     "the Coast", "Oldtown",   "Prague",  "Silver Lake"};

template <class T, size_t N>
constexpr size_t count_of(T (&)[N]) {
  return N;
}

// splitmix64: tiny, fast, and the same on every platform (unlike std:: distributions).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  uint64_t below(uint64_t n) { return next() % n; }
  double normal() {  // Box-Muller
    double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(1.0 - u)) * std::cos(6.283185307179586 * v);
  }
};

uint64_t stream_seed(uint64_t seed, uint64_t stream) { return Rng(seed ^ (stream * 0xd1b54a32d192ed03ULL)).next(); }

// Index drawn from cumulative weights.
uint32_t draw(const std::vector<double>& cumulative, Rng& rng) {
  double x = rng.uniform() * cumulative.back();
  return uint32_t(std::upper_bound(cumulative.begin(), cumulative.end(), x) - cumulative.begin()) %
         uint32_t(cumulative.size());
}

std::vector<double> cumulate(const double* w, size_t n) {
  std::vector<double> c(n);
  double s = 0;
  for (size_t i = 0; i < n; ++i) c[i] = s += w[i];
  return c;
}

using Taste = std::array<double, kGenres>;

Taste softmax(const Taste& logits) {
  Taste p;
  double m = *std::max_element(logits.begin(), logits.end()), s = 0;
  for (int g = 0; g < kGenres; ++g) s += p[g] = std::exp(logits[g] - m);
  for (double& x : p) x /= s;
  return p;
}

struct Item {
  std::string title;
  int year;
  std::vector<int> genres;  // alphabetical, as MovieLens lists them
  double quality;
};

struct Catalogue {
  std::vector<Item> items;
  std::vector<double> popularity;                 // cumulative, all items
  std::array<std::vector<uint32_t>, kGenres> by_genre;
  std::array<std::vector<double>, kGenres> by_genre_popularity;  // cumulative
};

Catalogue make_catalogue(const SynthOptions& o) {
  Rng rng(stream_seed(o.seed, 0));
  Catalogue c;
  std::vector<double> genre_cum = cumulate(kGenreWeight, kGenres);
  std::unordered_set<std::string> titles;
  std::vector<uint32_t> rank(o.items);
  for (uint32_t i = 0; i < o.items; ++i) rank[i] = i;
  for (uint32_t i = o.items; i > 1; --i) std::swap(rank[i - 1], rank[rng.below(i)]);
  std::vector<double> weight(o.items);
  for (uint32_t i = 0; i < o.items; ++i) {
    Item it;
    std::string t;
    const char* a = kAdjectives[rng.below(count_of(kAdjectives))];
    const char* n = kNouns[rng.below(count_of(kNouns))];
    const char* p = kPlaces[rng.below(count_of(kPlaces))];
    switch (rng.below(4)) {
      case 0: t = std::string("The ") + a + " " + n; break;
      case 1: t = std::string(a) + " " + n + "s"; break;
      case 2: t = std::string("The ") + n + " of " + p; break;
      default: t = std::string("A ") + a + " " + n + " in " + p; break;
    }
    std::string unique = t;
    for (int k = 2; !titles.insert(unique).second; ++k) unique = t + " " + std::to_string(k);  // a sequel
    it.title = unique;
    it.year = 1940 + int(84 * std::sqrt(rng.uniform()));
    int n_genres = 1 + int(rng.uniform() < 0.65) + int(rng.uniform() < 0.3);
    while (int(it.genres.size()) < n_genres) {
      int g = int(draw(genre_cum, rng));
      if (std::find(it.genres.begin(), it.genres.end(), g) == it.genres.end()) it.genres.push_back(g);
    }
    std::sort(it.genres.begin(), it.genres.end());
    it.quality = rng.normal();
    weight[i] = 1.0 / std::pow(double(rank[i]) + 1.0, 0.9);  // Zipf
    for (int g : it.genres) c.by_genre[g].push_back(i);
    c.items.push_back(std::move(it));
  }
  c.popularity = cumulate(weight.data(), weight.size());
  for (int g = 0; g < kGenres; ++g) {
    double s = 0;
    for (uint32_t i : c.by_genre[g]) c.by_genre_popularity[g].push_back(s += weight[i]);
  }
  return c;
}

std::string review(const Item& item, double rating, Rng& rng) {
  static const char* const kGood[] = {"Loved it.", "A gripping", "Wonderful", "One of the best", "Beautifully made",
                                      "Could watch it again."};
  static const char* const kMid[] = {"Decent", "Watchable", "An uneven", "Fine but forgettable", "A solid"};
  static const char* const kBad[] = {"Disappointing", "A tedious", "Not for me:", "Fell flat:", "A messy"};
  static const char* const kAbout[] = {"story", "cast", "ending", "soundtrack", "pacing", "script"};
  std::string genre = kGenreNames[item.genres[rng.below(item.genres.size())]];
  for (char& ch : genre) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  const char* about = kAbout[rng.below(count_of(kAbout))];
  if (rating >= 4) return std::string(kGood[rng.below(count_of(kGood))]) + " " + genre + " with a great " + about + ".";
  if (rating >= 2.5) return std::string(kMid[rng.below(count_of(kMid))]) + " " + genre + "; the " + about + " is ok.";
  return std::string(kBad[rng.below(count_of(kBad))]) + " " + genre + " and a weak " + about + ".";
}

// One user's whole history; returns their ground-truth JSON entry.
nlohmann::json generate_user(const SynthOptions& o, const Catalogue& c, uint32_t user, EventSink& sink) {
  Rng rng(stream_seed(o.seed, uint64_t(user) + 1));
  std::vector<double> genre_cum = cumulate(kGenreWeight, kGenres);
  uint32_t n = std::max<uint32_t>(5, uint32_t(std::lround(o.events_per_user * (0.4 + 1.2 * rng.uniform()))));

  // Taste = softmax of logits; one favourite at the start, maybe another at the end.
  Taste start, end;
  int fav0 = int(draw(genre_cum, rng)), fav1 = fav0;
  if (rng.uniform() < 0.6)
    while (fav1 == fav0) fav1 = int(draw(genre_cum, rng));
  for (int g = 0; g < kGenres; ++g) {
    start[g] = 0.5 * std::log(kGenreWeight[g]) + 0.8 * rng.normal();
    end[g] = 0.5 * start[g] + 0.8 * rng.normal();
  }
  start[fav0] += 2.5;
  end[fav1] += 2.5;
  double change = 0.25 + 0.5 * rng.uniform(), width = 0.03 + 0.1 * rng.uniform();
  auto taste_at = [&](double frac) {
    double a = 1.0 / (1.0 + std::exp(-(frac - change) / width));
    Taste l;
    for (int g = 0; g < kGenres; ++g) l[g] = (1 - a) * start[g] + a * end[g];
    return softmax(l);
  };

  std::string key = std::to_string(user + 1);
  int64_t t = 946684800 + int64_t(rng.below(uint64_t(18) * 365 * 86400));  // 2000..2018
  std::unordered_set<uint32_t> seen;
  for (uint32_t k = 0; k < n; ++k) {
    Taste p = taste_at(n > 1 ? double(k) / (n - 1) : 1.0);
    std::vector<double> cum = cumulate(p.data(), kGenres);
    uint32_t item = 0;
    for (int attempt = 0; attempt < 8; ++attempt) {
      if (rng.uniform() < 0.15) {
        item = draw(c.popularity, rng);  // browsing what is popular
      } else {
        int g = int(draw(cum, rng));
        if (c.by_genre[g].empty()) continue;
        item = c.by_genre[g][draw(c.by_genre_popularity[g], rng)];
      }
      if (!seen.count(item)) break;
    }
    seen.insert(item);
    const Item& it = c.items[item];
    double fit = 0, best = *std::max_element(p.begin(), p.end());
    for (int g : it.genres) fit += p[g];
    fit /= double(it.genres.size()) * best;
    double score = 1.2 + 3.3 * std::sqrt(fit) + 0.35 * it.quality + 0.5 * rng.normal();
    double rating = std::clamp(std::round(score * 2) / 2, 0.5, 5.0);
    // Sessions: several ratings minutes apart, then a pause of days.
    t += rng.uniform() < 0.7 ? 30 + int64_t(rng.below(600)) : 3600 + int64_t(-std::log(1 - rng.uniform()) * 4 * 86400);
    std::string text = rng.uniform() < 0.3 ? review(it, rating, rng) : std::string();
    std::string item_key = std::to_string(item + 1);
    RawEvent e;
    e.user = key;
    e.timestamp = t;
    e.item = item_key;
    e.rating = float(rating);
    e.text = text;
    sink.add_event(e);
  }

  nlohmann::json trajectory = nlohmann::json::array();
  for (double at : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    Taste p = taste_at(at);
    std::array<int, kGenres> order;
    for (int g = 0; g < kGenres; ++g) order[g] = g;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    nlohmann::json top = nlohmann::json::array();
    for (int r = 0; r < 3; ++r) top.push_back({kGenreNames[order[r]], std::round(p[order[r]] * 1000) / 1000});
    trajectory.push_back({{"at", at}, {"favorite", kGenreNames[order[0]]}, {"top", top}});
  }
  return {{"favorite_now", trajectory.back()["favorite"]}, {"trajectory", trajectory}};
}

// MovieLens CSV as a sink: movies.csv from the catalogue, ratings.csv from events.
class CsvSink : public EventSink {
 public:
  explicit CsvSink(const std::filesystem::path& dir) : movies_(dir / "movies.csv"), ratings_(dir / "ratings.csv") {
    movies_.write("movieId,title,genres\n");
    ratings_.write("userId,movieId,rating,timestamp\n");
  }
  void add_item(const ItemRecord& item) override {
    std::string title = std::string(item.title) + " (" + std::to_string(item.year) + ")";
    if (title.find_first_of(",\"") != std::string::npos) {
      std::string q = "\"";
      for (char ch : title) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      title = q + "\"";
    }
    std::string genres;
    for (const auto& g : item.genres) genres += (genres.empty() ? "" : "|") + g;
    movies_.write(std::string(item.key) + "," + title + "," + genres + "\n");
  }
  void add_event(const RawEvent& e) override {
    char buf[128];
    int len = std::snprintf(buf, sizeof buf, "%.*s,%.*s,%.1f,%lld\n", int(e.user.size()), e.user.data(),
                            int(e.item.size()), e.item.data(), double(*e.rating), (long long)e.timestamp);
    ratings_.write(buf, size_t(len));
  }
  PrepareReport& report() override { return report_; }
  void commit() {
    movies_.commit();
    ratings_.commit();
  }

 private:
  AtomicFile movies_, ratings_;
  PrepareReport report_;
};

}  // namespace

std::string generate_synthetic(const SynthOptions& o, EventSink& sink) {
  if (o.users == 0 || o.items == 0 || o.events_per_user == 0)
    fail("synthetic data needs at least one user, item and event per user");
  Catalogue c = make_catalogue(o);
  for (uint32_t i = 0; i < o.items; ++i) {
    const Item& it = c.items[i];
    ItemRecord r;
    std::string key = std::to_string(i + 1);
    r.key = key;
    r.title = it.title;
    r.year = it.year;
    for (int g : it.genres) r.genres.push_back(kGenreNames[g]);
    sink.add_item(r);
  }
  // The ground truth is built as text user by user: a JSON tree of millions of users would not fit.
  nlohmann::json head = {{"genres", std::vector<std::string>(kGenreNames, kGenreNames + kGenres)},
                         {"checkpoints", {0.0, 0.25, 0.5, 0.75, 1.0}},
                         {"seed", o.seed}};
  std::string truth = head.dump();
  truth.pop_back();
  truth += ",\"users\":{";
  Progress progress("synth", o.users, "users");
  for (uint32_t u = 0; u < o.users; ++u) {
    nlohmann::json entry = generate_user(o, c, u, sink);
    truth += (u ? ",\n\"" : "\n\"") + std::to_string(u + 1) + "\":" + entry.dump();
    progress.set(u + 1);
  }
  truth += "\n}}\n";
  return truth;
}

void write_synthetic_dataset(const SynthOptions& o, const std::filesystem::path& dir,
                             const std::function<void(const std::filesystem::path&)>& before_commit) {
  LogBuilder builder("synthetic", "genre");
  std::string truth = generate_synthetic(o, builder);
  builder.finish(PrepareOptions{}, dir, [&](const std::filesystem::path& tmp) {
    write_file_atomic(tmp / "ground_truth.json", truth);
    if (before_commit) before_commit(tmp);
  });
}

void write_synthetic_csv(const SynthOptions& o, const std::filesystem::path& dir,
                         const std::function<void(const std::filesystem::path&)>& before_commit) {
  AtomicDir out(dir);
  std::string truth;
  {
    CsvSink sink(out.path());
    truth = generate_synthetic(o, sink);
    sink.commit();
  }
  write_file_atomic(out / "ground_truth.json", truth);
  if (before_commit) before_commit(out.path());
  out.commit();
}

std::optional<GroundTruth> read_ground_truth(const Dataset& ds, const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "ground_truth.json";
  if (!std::filesystem::exists(path)) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path.string() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("users") || !j["users"].is_object())
    fail(path.string() + ": expected an object with \"users\"");
  int field = ds.field_index(ds.genre_field());
  if (field < 0) fail(path.string() + ": the dataset has no \"" + ds.genre_field() + "\" field to map genres to");
  GroundTruth gt;
  const auto& users = j["users"];
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    auto it = users.find(std::string(ds.user_key(u)));
    if (it == users.end() || !it->is_object() || !it->contains("favorite_now") || !(*it)["favorite_now"].is_string())
      fail(path.string() + ": no favorite_now for user \"" + std::string(ds.user_key(u)) + "\"");
    gt.favorite_genre_now.push_back(ds.lookup(field, (*it)["favorite_now"].get<std::string>()).value_or(kOovId));
  }
  return gt;
}

}  // namespace userllm::data
