// MovieLens in its three layouts. Tags are not events: the most frequent tags
// of a movie become its catalogue description ("Tags: dark comedy, ..."), the
// only free text MovieLens has about a movie.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

#include "common/error.h"
#include "data/fields.h"
#include "data/latin1.h"
#include "data/line_loop.h"
#include "data/readers.h"

namespace userllm::data {
namespace {

namespace fs = std::filesystem;

enum class Layout { kCsv, kDat, k100k };

struct Files {
  Layout layout;
  TextInput ratings;
  std::optional<TextInput> movies, tags;  // absent: not in the release
  std::string movies_name;                // for the warning when movies are absent
};

constexpr size_t kMaxTagsPerMovie = 10;

const char* const k100kGenres[19] = {"unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
                                     "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
                                     "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"};

// The files of each layout, the ratings first: the one that tells the layout.
struct LayoutFiles {
  Layout layout;
  const char *ratings, *movies, *tags;
};
constexpr LayoutFiles kLayouts[] = {{Layout::kCsv, "ratings.csv", "movies.csv", "tags.csv"},
                                    {Layout::kDat, "ratings.dat", "movies.dat", "tags.dat"},
                                    {Layout::k100k, "u.data", "u.item", ""}};

// error_code forms throughout: an unreadable directory must be an Error, not a filesystem_error.
bool file_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

Files detect(const fs::path& input) {
  fs::path dir = input;
  std::string given;
  std::error_code ec;
  if (fs::is_regular_file(input, ec)) {
    dir = input.parent_path();
    given = input.filename().string();
  } else if (!fs::is_directory(input, ec)) {
    fail(input.string() + ": no such file or directory");
  }
  auto has = [&](const char* name) { return given.empty() ? file_exists(dir / name) : given == name; };
  auto maybe = [&](const char* name) -> std::optional<TextInput> {
    if (!*name || !file_exists(dir / name)) return std::nullopt;
    return TextInput(dir / name);
  };
  for (const auto& l : kLayouts)
    if (has(l.ratings))
      return {l.layout, TextInput(dir / l.ratings), maybe(l.movies), maybe(l.tags), (dir / l.movies).string()};
  fail(input.string() + ": unknown MovieLens layout: expected ratings.csv (ml-latest, ml-20m/25m/32m), " +
       "ratings.dat (ml-1m, ml-10m) or u.data (ml-100k)" + (given.empty() ? " in this directory" : ""));
}

// Column positions of a CSV file, found by name in its header line.
struct Header {
  std::vector<size_t> pos;
  size_t columns = 0;
};

Header read_header(LineReader& in, const std::vector<std::string>& want) {
  std::string expected;
  for (auto& w : want) expected += (expected.empty() ? "" : ",") + w;
  std::string_view line;
  if (!in.next(line)) fail(in.path() + ": empty file, expected a header line \"" + expected + "\"");
  if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // a UTF-8 byte-order mark
  std::vector<std::string> cols;
  try {
    split_csv(line, cols);
  } catch (const BadLine& e) {
    fail(at_line(in.path(), in.line_number(), std::string("bad header: ") + e.what()));
  }
  Header h;
  h.columns = cols.size();
  for (auto& w : want) {
    size_t i = 0;
    while (i < cols.size() && trim(cols[i]) != w) ++i;
    if (i == cols.size())
      fail(at_line(in.path(), in.line_number(), "missing column \"" + w + "\" in the header \"" +
                                                    std::string(line.substr(0, 200)) + "\" (expected " + expected + ")"));
    h.pos.push_back(i);
  }
  return h;
}

void check_field_count(size_t found, size_t expected, const char* sep) {
  if (found != expected)
    bad_line("expected " + std::to_string(expected) + " " + sep + "-separated fields, found " + std::to_string(found));
}

std::string_view need_id(std::string_view s, const char* what) {
  s = trim(s);
  parse_int(s, what);  // MovieLens ids are integers; anything else means shifted columns
  return s;
}

void add_rating(EventSink& sink, std::string_view user, std::string_view item, std::string_view rating,
                std::string_view time) {
  RawEvent e;
  e.user = need_id(user, "userId");
  e.item = need_id(item, "movieId");
  e.rating = check_rating(parse_number(rating, "rating"), 0.5, 5.0);
  e.timestamp = check_timestamp(parse_int(time, "timestamp"), "timestamp");
  sink.add_event(e);
}

void require_lines(uint64_t n, const TextInput& in) {
  if (n == 0) fail(in.path + ": empty input: no data lines");
}

// Tag counts per movie, case-insensitively merged (the first spelling wins).
class TagCollector {
 public:
  void add(std::string_view movie, std::string_view tag) {
    tag = trim(tag);
    if (tag.empty()) return;
    std::string lower(tag);
    for (char& c : lower)
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    auto& m = movies_[std::string(movie)];
    auto [it, fresh] = m.index.emplace(std::move(lower), m.tags.size());
    if (fresh) m.tags.push_back({std::string(tag), 0});
    ++m.tags[it->second].second;
  }

  // "Tags: a, b, c" with the most used first; "" when the movie has none.
  std::string description(std::string_view movie) const {
    auto it = movies_.find(std::string(movie));
    if (it == movies_.end()) return {};
    auto tags = it->second.tags;
    std::stable_sort(tags.begin(), tags.end(), [](auto& a, auto& b) { return a.second > b.second; });
    std::string out = "Tags: ";
    for (size_t i = 0; i < tags.size() && i < kMaxTagsPerMovie; ++i) out += (i ? ", " : "") + tags[i].first;
    return out;
  }

 private:
  struct Movie {
    std::unordered_map<std::string, size_t> index;
    std::vector<std::pair<std::string, uint64_t>> tags;
  };
  std::unordered_map<std::string, Movie> movies_;
};

void add_movie(EventSink& sink, const TagCollector& tags, std::string_view id, std::string_view title,
               std::string_view genres) {
  ItemRecord r;
  r.key = need_id(id, "movieId");
  r.title = split_title_year(title, r.year);
  genres = trim(genres);
  if (genres != "(no genres listed)") {
    std::vector<std::string_view> parts;
    split_on(genres, "|", parts);
    for (auto g : parts)
      if (!trim(g).empty()) r.genres.emplace_back(trim(g));
  }
  std::string description = tags.description(r.key);
  r.description = description;
  sink.add_item(r);
}

void read_csv(const Files& f, EventSink& sink, const ReadOptions& options) {
  std::vector<std::string> cols;
  std::string buf;
  TagCollector tags;
  if (f.tags) {
    LineReader in(*f.tags);
    auto h = read_header(in, {"movieId", "tag"});
    for_each_line(in, sink, options, [&](std::string_view line) {
      split_csv(as_utf8(line, buf), cols);
      check_field_count(cols.size(), h.columns, "comma");
      tags.add(need_id(cols[h.pos[0]], "movieId"), cols[h.pos[1]]);
    });
  }
  if (f.movies) {
    LineReader in(*f.movies);
    auto h = read_header(in, {"movieId", "title", "genres"});
    uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
      split_csv(as_utf8(line, buf), cols);
      check_field_count(cols.size(), h.columns, "comma");
      add_movie(sink, tags, cols[h.pos[0]], cols[h.pos[1]], cols[h.pos[2]]);
    });
    require_lines(n, *f.movies);
  }
  LineReader in(f.ratings);
  auto h = read_header(in, {"userId", "movieId", "rating", "timestamp"});
  uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
    split_csv(line, cols);
    check_field_count(cols.size(), h.columns, "comma");
    add_rating(sink, cols[h.pos[0]], cols[h.pos[1]], cols[h.pos[2]], cols[h.pos[3]]);
  });
  require_lines(n, f.ratings);
}

// ml-1m / ml-10m: "::"-separated, no header. Titles may hold ":" but not "::".
void read_dat(const Files& f, EventSink& sink, const ReadOptions& options) {
  std::vector<std::string_view> parts;
  std::string buf;
  TagCollector tags;
  if (f.tags) {
    LineReader in(*f.tags);
    for_each_line(in, sink, options, [&](std::string_view line) {
      split_on(as_utf8(line, buf), "::", parts);  // UserID::MovieID::Tag::Timestamp
      check_field_count(parts.size(), 4, "'::'");
      tags.add(need_id(parts[1], "movieId"), parts[2]);
    });
  }
  if (f.movies) {
    LineReader in(*f.movies);
    uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
      split_on(as_utf8(line, buf), "::", parts);  // MovieID::Title::Genres
      check_field_count(parts.size(), 3, "'::'");
      add_movie(sink, tags, parts[0], parts[1], parts[2]);
    });
    require_lines(n, *f.movies);
  }
  LineReader in(f.ratings);
  uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
    split_on(line, "::", parts);
    check_field_count(parts.size(), 4, "'::'");
    add_rating(sink, parts[0], parts[1], parts[2], parts[3]);
  });
  require_lines(n, f.ratings);
}

// ml-100k: u.item is "|"-separated with 19 genre flags, u.data tab-separated.
void read_100k(const Files& f, EventSink& sink, const ReadOptions& options) {
  std::vector<std::string_view> parts;
  std::string buf;
  if (f.movies) {
    LineReader in(*f.movies);
    uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
      // id | title | release date | video release date | IMDb URL | 19 flags
      split_on(as_utf8(line, buf), "|", parts);
      check_field_count(parts.size(), 24, "'|'");
      ItemRecord r;
      r.key = need_id(parts[0], "movie id");
      r.title = split_title_year(parts[1], r.year);
      std::string_view date = trim(parts[2]);  // "01-Jan-1995"
      if (r.year == 0 && date.size() == 11) r.year = int(parse_int(date.substr(7), "release year"));
      for (int g = 0; g < 19; ++g) {
        std::string_view flag = trim(parts[5 + g]);
        if (flag != "0" && flag != "1") bad_line("genre flag " + std::to_string(g + 1) + " should be 0 or 1");
        if (flag == "1" && g > 0) r.genres.emplace_back(k100kGenres[g]);  // "unknown" means none
      }
      sink.add_item(r);
    });
    require_lines(n, *f.movies);
  }
  LineReader in(f.ratings);
  uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
    split_on(line, "\t", parts);  // user item rating timestamp
    check_field_count(parts.size(), 4, "tab");
    add_rating(sink, parts[0], parts[1], parts[2], parts[3]);
  });
  require_lines(n, f.ratings);
}

void read_layout(const Files& f, EventSink& sink, const ReadOptions& options) {
  if (!f.movies)
    spdlog::warn("{}: not found: the movies get no titles, years or genres (favourite genre, titles in prompts and "
                 "next-item answers need them)", f.movies_name);
  switch (f.layout) {
    case Layout::kCsv: read_csv(f, sink, options); break;
    case Layout::kDat: read_dat(f, sink, options); break;
    case Layout::k100k: read_100k(f, sink, options); break;
  }
}

}  // namespace

void read_movielens(const fs::path& input, EventSink& sink, const ReadOptions& options) {
  read_layout(detect(input), sink, options);
}

void read_movielens(const std::map<std::string, std::string_view>& files, EventSink& sink,
                    const ReadOptions& options) {
  auto maybe = [&](const char* name) -> std::optional<TextInput> {
    auto it = files.find(name);
    if (!*name || it == files.end()) return std::nullopt;
    return TextInput(name, it->second);
  };
  for (const auto& l : kLayouts)
    if (auto ratings = maybe(l.ratings))
      return read_layout({l.layout, *ratings, maybe(l.movies), maybe(l.tags), l.movies}, sink, options);
  fail("unknown MovieLens layout: expected ratings.csv, ratings.dat or u.data among the files");
}

}  // namespace userllm::data
