#include "serve/user_cache.h"

#include <cstring>

#include "common/error.h"

namespace userllm::serve {

std::shared_ptr<UserState> UserCache::find(const std::string& user) {
  auto it = index_.find(user);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

std::vector<std::pair<std::string, std::shared_ptr<UserState>>> UserCache::put(const std::string& user,
                                                                              std::shared_ptr<UserState> s) {
  erase(user);
  lru_.emplace_front(user, std::move(s));
  index_[user] = lru_.begin();
  std::vector<std::pair<std::string, std::shared_ptr<UserState>>> evicted;
  while (int64_t(lru_.size()) > capacity_) {
    evicted.push_back(std::move(lru_.back()));
    index_.erase(evicted.back().first);
    lru_.pop_back();
  }
  size_ = int64_t(lru_.size());
  return evicted;
}

void UserCache::erase(const std::string& user) {
  auto it = index_.find(user);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
  size_ = int64_t(lru_.size());
}

std::vector<std::pair<std::string, std::shared_ptr<UserState>>> UserCache::all() const {
  return {lru_.begin(), lru_.end()};
}

// Layout (little-endian): "ULLMST1\0", u32 streams; per stream: i64 length, u32 layers; per
// layer: k then v, each u32 rank 4, i64 dims[4], f32 data; then the embedding as a [1, 1, 1, dim] tensor.
namespace {

constexpr char kMagic[8] = {'U', 'L', 'L', 'M', 'S', 'T', '1', '\0'};

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

struct Reader {
  const std::string& s;
  size_t at = 0;
  template <class T>
  T get() {
    T v;
    if (s.size() - at < sizeof v) fail("encoder state: truncated at byte " + std::to_string(at));
    std::memcpy(&v, s.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
};

void put_tensor(std::string& out, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
  put<uint32_t>(out, 4);
  for (int d = 0; d < 4; ++d) put<int64_t>(out, c.size(d));
  out.append(reinterpret_cast<const char*>(c.data_ptr<float>()), size_t(c.numel()) * sizeof(float));
}

torch::Tensor get_tensor(Reader& r, int64_t heads, int64_t head_dim, int64_t max_len) {
  if (r.get<uint32_t>() != 4) fail("encoder state: a cache tensor is not of rank 4");
  int64_t d[4];
  for (auto& x : d) x = r.get<int64_t>();
  if (d[0] != 1 || d[1] != heads || d[3] != head_dim || d[2] < 1 || d[2] > max_len)
    fail("encoder state: a cache of shape [" + std::to_string(d[0]) + ", " + std::to_string(d[1]) + ", " +
         std::to_string(d[2]) + ", " + std::to_string(d[3]) + "] does not fit this encoder");
  const size_t bytes = size_t(d[1] * d[2] * d[3]) * sizeof(float);
  if (r.s.size() - r.at < bytes) fail("encoder state: truncated at byte " + std::to_string(r.at));
  auto t = torch::empty({d[0], d[1], d[2], d[3]}, torch::kFloat);
  std::memcpy(t.data_ptr<float>(), r.s.data() + r.at, bytes);
  r.at += bytes;
  return t;
}

}  // namespace

std::string write_encoder_state(const encoder::EncoderState& s, const torch::Tensor& embedding) {
  std::string out(kMagic, sizeof kMagic);
  put<uint32_t>(out, uint32_t(s.caches.size()));
  for (const auto& c : s.caches) {
    put<int64_t>(out, c.length);
    put<uint32_t>(out, uint32_t(c.k.size()));
    for (size_t l = 0; l < c.k.size(); ++l) put_tensor(out, c.k[l]), put_tensor(out, c.v[l]);
  }
  put_tensor(out, embedding.reshape({1, 1, 1, -1}));
  return out;
}

encoder::EncoderState read_encoder_state(const std::string& bytes, const encoder::EncoderOptions& o,
                                         torch::Tensor* embedding) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    fail("encoder state: not a userllm encoder state");
  Reader r{bytes, sizeof kMagic};
  const uint32_t streams = r.get<uint32_t>();
  const uint32_t want = o.fusion == encoder::Fusion::kEarly ? 1 : uint32_t(o.fields.size());
  if (streams != want) fail("encoder state: " + std::to_string(streams) + " streams, the encoder has " + std::to_string(want));
  encoder::EncoderState s;
  for (uint32_t i = 0; i < streams; ++i) {
    encoder::KVCache c;
    c.length = r.get<int64_t>();
    const uint32_t layers = r.get<uint32_t>();
    if (c.length < 1 || layers != uint32_t(o.layers))
      fail("encoder state: " + std::to_string(layers) + " layers over " + std::to_string(c.length) +
           " events does not fit an encoder of " + std::to_string(o.layers) + " layers");
    for (uint32_t l = 0; l < layers; ++l) {
      c.k.push_back(get_tensor(r, o.heads, o.dim / o.heads, o.max_len));
      c.v.push_back(get_tensor(r, o.heads, o.dim / o.heads, o.max_len));
    }
    s.caches.push_back(std::move(c));
  }
  *embedding = get_tensor(r, 1, o.dim, 1).view({-1});
  if (r.at != bytes.size()) fail("encoder state: " + std::to_string(bytes.size() - r.at) + " trailing bytes");
  return s;
}

}  // namespace userllm::serve
