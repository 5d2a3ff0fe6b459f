#include "data/dataset.h"

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/error.h"
#include "common/json_int.h"
#include "common/mapped_file.h"
#include "data/format.h"

namespace userllm::data {

struct Dataset::Impl {
  std::optional<MappedFile> mapped;  // absent for bytes in memory
  ByteView file;
  std::string name, meta_text, genre_field;
  uint32_t num_users = 0;
  uint64_t num_events = 0;
  std::vector<FieldInfo> fields;
  std::vector<const uint32_t*> columns;
  std::vector<StringTable> vocabs;
  const int64_t* timestamps = nullptr;
  const uint64_t* user_offsets = nullptr;
  StringTable user_keys, titles, descriptions, brands, texts, summaries;
  const int32_t* years = nullptr;
  const uint64_t* genre_offsets = nullptr;
  const uint32_t* genre_ids = nullptr;
  int genre_index = -1;
  // Token -> id maps, built on first lookup.
  mutable std::vector<std::unordered_map<std::string_view, uint32_t>> lookup_maps;
  mutable std::vector<std::once_flag> lookup_once;

  explicit Impl(const std::filesystem::path& path) : mapped(std::in_place, path), file(*mapped) {}
  explicit Impl(const ByteView& bytes) : file(bytes) {}
};

namespace {

// Metadata problems are reported at the metadata section's offset.
struct MetaContext {
  std::string path;
  uint64_t offset;
  [[noreturn]] void error(const std::string& what) const { fail(at_byte(path, offset, "metadata: " + what)); }
};

template <class T>
T meta_get(const nlohmann::json& meta, const char* key, const MetaContext& at) {
  if (!meta.is_object() || !meta.contains(key)) at.error("lacks \"" + std::string(key) + "\"");
  try {
    if constexpr (std::is_integral_v<T>)
      return json_int<T>(meta.at(key), "\"" + std::string(key) + "\"");
    else
      return meta.at(key).get<T>();
  } catch (const Error& e) {
    at.error(e.what());
  } catch (const nlohmann::json::exception& e) {
    at.error("\"" + std::string(key) + "\" has the wrong type: " + e.what());
  }
}

}  // namespace

Dataset Dataset::open(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "events.bin";
  if (!std::filesystem::exists(path))
    fail(path.string() + ": not found (is " + dir.string() + " a prepared dataset? see `userllm data prepare`)");
  return Dataset(std::make_unique<Impl>(path));
}

Dataset Dataset::from_bytes(const ByteView& bytes) { return Dataset(std::make_unique<Impl>(bytes)); }

// Reads and checks everything once, so that no accessor meets a bad offset later.
Dataset::Dataset(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  Impl& d = *impl_;
  FormatReader r(d.file);
  const MetaContext p{d.file.path(), r.offset("meta")};

  d.meta_text = std::string(r.bytes("meta"));
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(d.meta_text);
  } catch (const nlohmann::json::exception& e) {
    p.error(std::string("not valid JSON: ") + e.what());
  }
  if (!meta.is_object()) p.error("not a JSON object");
  d.name = meta_get<std::string>(meta, "name", p);
  d.genre_field = meta_get<std::string>(meta, "genre_field", p);
  d.num_users = meta_get<uint32_t>(meta, "users", p);
  d.num_events = meta_get<uint64_t>(meta, "events", p);

  d.timestamps = r.array<int64_t>("timestamps", d.num_events);
  d.user_offsets = r.array<uint64_t>("user_offsets", uint64_t(d.num_users) + 1);
  if (d.user_offsets[0] != 0 || d.user_offsets[d.num_users] != d.num_events)
    r.corrupt("user_offsets", 0, "does not span the " + std::to_string(d.num_events) + " events");
  for (uint32_t u = 0; u < d.num_users; ++u)
    if (d.user_offsets[u + 1] < d.user_offsets[u]) r.corrupt("user_offsets", 8 * (u + 1), "offsets decrease");
  d.user_keys = r.strings("user_keys", d.num_users);

  auto fields = meta_get<nlohmann::json>(meta, "fields", p);
  if (!fields.is_array() || fields.empty()) p.error("\"fields\" is not a non-empty array");
  for (const auto& f : fields) {
    FieldInfo info{meta_get<std::string>(f, "name", p), meta_get<uint32_t>(f, "vocab_size", p)};
    if (info.vocab_size < 2) p.error("field \"" + info.name + "\" has a vocabulary smaller than PAD + OOV");
    const uint32_t* col = r.array<uint32_t>("col." + info.name, d.num_events);
    // Ids index embedding tables upstream: check every one now, once.
    uint32_t bad = 0;
    for (uint64_t e = 0; e < d.num_events; ++e) bad |= uint32_t(col[e] >= info.vocab_size);
    if (bad) r.corrupt("col." + info.name, 0, "holds ids outside its vocabulary of " + std::to_string(info.vocab_size));
    d.vocabs.push_back(r.strings("vocab." + info.name, info.vocab_size));
    d.columns.push_back(col);
    d.fields.push_back(std::move(info));
  }
  if (d.fields[0].name != "item") p.error("the first field must be \"item\"");
  for (size_t i = 0; i < d.fields.size(); ++i)
    if (d.fields[i].name == d.genre_field) d.genre_index = int(i);

  uint32_t items = d.fields[0].vocab_size;
  d.titles = r.strings("item_title", items);
  d.descriptions = r.strings("item_description", items);
  d.brands = r.strings("item_brand", items);
  d.years = r.array<int32_t>("item_year", items);
  d.genre_offsets = r.array<uint64_t>("item_genre_offsets", uint64_t(items) + 1);
  std::string_view ids = r.bytes("item_genre_ids");
  uint64_t n_ids = ids.size() / 4;
  d.genre_ids = r.array<uint32_t>("item_genre_ids", n_ids);
  if (d.genre_offsets[0] != 0 || d.genre_offsets[items] != n_ids)
    r.corrupt("item_genre_offsets", 0, "does not span the " + std::to_string(n_ids) + " genre ids");
  for (uint32_t i = 0; i < items; ++i)
    if (d.genre_offsets[i + 1] < d.genre_offsets[i]) r.corrupt("item_genre_offsets", 8 * (i + 1), "offsets decrease");
  uint32_t genre_vocab = d.genre_index >= 0 ? d.fields[d.genre_index].vocab_size : 2;
  for (uint64_t i = 0; i < n_ids; ++i)
    if (d.genre_ids[i] >= genre_vocab) r.corrupt("item_genre_ids", 4 * i, "genre id outside the vocabulary");
  if (r.has("event_text")) d.texts = r.strings("event_text", d.num_events);
  if (r.has("event_summary")) d.summaries = r.strings("event_summary", d.num_events);

  d.lookup_maps.resize(d.fields.size());
  d.lookup_once = std::vector<std::once_flag>(d.fields.size());
}

Dataset::Dataset(Dataset&&) noexcept = default;
Dataset& Dataset::operator=(Dataset&&) noexcept = default;
Dataset::~Dataset() = default;

const std::string& Dataset::name() const { return impl_->name; }
uint32_t Dataset::num_users() const { return impl_->num_users; }
uint64_t Dataset::num_events() const { return impl_->num_events; }
uint32_t Dataset::num_items() const { return impl_->fields[0].vocab_size; }
const std::vector<FieldInfo>& Dataset::fields() const { return impl_->fields; }
const std::string& Dataset::metadata_json() const { return impl_->meta_text; }
const std::string& Dataset::genre_field() const { return impl_->genre_field; }

int Dataset::field_index(std::string_view name) const {
  for (size_t i = 0; i < impl_->fields.size(); ++i)
    if (impl_->fields[i].name == name) return int(i);
  return -1;
}

static void check_index(uint64_t i, uint64_t n, const char* what) {
  if (i >= n) fail(std::string(what) + " " + std::to_string(i) + " is out of range (" + std::to_string(n) + ")");
}

const uint32_t* Dataset::column(int field) const {
  check_index(uint64_t(field), impl_->fields.size(), "field");
  return impl_->columns[field];
}
const int64_t* Dataset::timestamps() const { return impl_->timestamps; }

uint64_t Dataset::user_begin(uint32_t u) const {
  check_index(u, impl_->num_users, "user");
  return impl_->user_offsets[u];
}
uint64_t Dataset::user_end(uint32_t u) const {
  check_index(u, impl_->num_users, "user");
  return impl_->user_offsets[u + 1];
}
std::string_view Dataset::user_key(uint32_t u) const {
  check_index(u, impl_->num_users, "user");
  return impl_->user_keys.at(u);
}

std::optional<uint32_t> Dataset::find_user(std::string_view key) const {
  for (uint32_t u = 0; u < impl_->num_users; ++u)
    if (impl_->user_keys.at(u) == key) return u;
  return std::nullopt;
}

uint64_t Dataset::split_begin(uint32_t u, Split s) const {
  uint64_t b = user_begin(u), e = user_end(u);
  if (e - b < 3) return s == Split::kTrain ? b : e;
  return s == Split::kTrain ? b : s == Split::kValidation ? e - 2 : e - 1;
}

uint64_t Dataset::split_end(uint32_t u, Split s) const {
  uint64_t b = user_begin(u), e = user_end(u);
  if (e - b < 3) return e;
  return s == Split::kTrain ? e - 2 : s == Split::kValidation ? e - 1 : e;
}

std::string_view Dataset::token(int field, uint32_t id) const {
  check_index(uint64_t(field), impl_->fields.size(), "field");
  check_index(id, impl_->fields[field].vocab_size, "token id");
  return impl_->vocabs[field].at(id);
}

std::optional<uint32_t> Dataset::lookup(int field, std::string_view token) const {
  check_index(uint64_t(field), impl_->fields.size(), "field");
  std::call_once(impl_->lookup_once[field], [&] {
    auto& m = impl_->lookup_maps[field];
    const StringTable& t = impl_->vocabs[field];
    m.reserve(t.count);
    for (uint32_t i = 2; i < t.count; ++i) m.emplace(t.at(i), i);
  });
  auto it = impl_->lookup_maps[field].find(token);
  if (it == impl_->lookup_maps[field].end()) return std::nullopt;
  return it->second;
}

std::string_view Dataset::item_title(uint32_t item) const {
  check_index(item, num_items(), "item");
  return impl_->titles.at(item);
}
int Dataset::item_year(uint32_t item) const {
  check_index(item, num_items(), "item");
  return impl_->years[item];
}
std::vector<uint32_t> Dataset::item_genres(uint32_t item) const {
  check_index(item, num_items(), "item");
  return std::vector<uint32_t>(impl_->genre_ids + impl_->genre_offsets[item],
                               impl_->genre_ids + impl_->genre_offsets[item + 1]);
}
std::string_view Dataset::item_description(uint32_t item) const {
  check_index(item, num_items(), "item");
  return impl_->descriptions.at(item);
}
std::string_view Dataset::item_brand(uint32_t item) const {
  check_index(item, num_items(), "item");
  return impl_->brands.at(item);
}

std::string_view Dataset::event_text(uint64_t event) const {
  check_index(event, impl_->num_events, "event");
  return impl_->texts.count ? impl_->texts.at(event) : std::string_view();
}
std::string_view Dataset::event_summary(uint64_t event) const {
  check_index(event, impl_->num_events, "event");
  return impl_->summaries.count ? impl_->summaries.at(event) : std::string_view();
}

std::vector<Window> training_windows(const Dataset& ds, int length, int stride) {
  if (length <= 0 || stride <= 0)
    fail("window length and stride must be positive (got " + std::to_string(length) + ", " + std::to_string(stride) + ")");
  std::vector<Window> out;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    uint64_t b = ds.split_begin(u, Split::kTrain), e = ds.split_end(u, Split::kTrain);
    if (e == b) continue;
    uint64_t n = e - b, L = uint64_t(length);
    if (n <= L) {
      out.push_back({u, b, e});
      continue;
    }
    uint64_t start = 0;
    for (; start + L < n; start += uint64_t(stride)) out.push_back({u, b + start, b + start + L});
    out.push_back({u, e - L, e});  // the last window always ends at the last train event
  }
  return out;
}

}  // namespace userllm::data
