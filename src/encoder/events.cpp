#include "encoder/events.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "data/dataset.h"

namespace userllm::encoder {

uint32_t gap_bucket(int64_t seconds) {
  double minutes = static_cast<double>(std::max<int64_t>(seconds, 0)) / 60.0;
  int b = static_cast<int>(std::floor(std::log2(1.0 + minutes)));
  return static_cast<uint32_t>(3 + std::min(b, kGapVocab - 4));
}

int Events::field_index(const std::string& name) const {
  auto it = std::find(field_names.begin(), field_names.end(), name);
  return it == field_names.end() ? -1 : static_cast<int>(it - field_names.begin());
}

void Events::check() const {
  if (offsets.empty() || offsets.front() != 0) fail("events: offsets must start at 0");
  if (field_vocab.size() != field_names.size() || field_names.empty()) fail("events: no fields");
  if (tokens.size() != num_events() * field_names.size()) fail("events: token count does not match offsets");
  if (train_end.size() != num_users() || validation_end.size() != num_users())
    fail("events: split points must have one entry per user");
  for (uint32_t u = 0; u < num_users(); ++u)
    if (!(offsets[u] <= train_end[u] && train_end[u] <= validation_end[u] && validation_end[u] <= offsets[u + 1]))
      fail("events: user " + std::to_string(u) + " has inconsistent offsets or split points");
  for (uint64_t e = 0; e < num_events(); ++e)
    for (int f = 0; f < num_fields(); ++f)
      if (event(e)[f] >= static_cast<uint32_t>(field_vocab[f]))
        fail("events: event " + std::to_string(e) + " field '" + field_names[f] + "' id " +
             std::to_string(event(e)[f]) + " >= vocab " + std::to_string(field_vocab[f]));
}

Events events_from(const data::Dataset& ds, bool time_gap) {
  Events ev;
  const int df = static_cast<int>(ds.fields().size());
  for (const auto& f : ds.fields()) {
    ev.field_names.push_back(f.name);
    ev.field_vocab.push_back(static_cast<int>(f.vocab_size));
  }
  if (time_gap) {
    ev.field_names.push_back("gap");
    ev.field_vocab.push_back(kGapVocab);
  }
  const int F = ev.num_fields();
  const uint64_t n = ds.num_events();
  ev.tokens.resize(n * F);
  for (int f = 0; f < df; ++f) {
    const uint32_t* col = ds.column(f);
    for (uint64_t e = 0; e < n; ++e) ev.tokens[e * F + f] = col[e];
  }
  const int64_t* ts = ds.timestamps();
  ev.offsets.push_back(0);
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    const uint64_t b = ds.user_begin(u), end = ds.user_end(u);
    if (b != ev.offsets.back()) fail("dataset: user " + std::to_string(u) + " events are not contiguous");
    if (time_gap)
      for (uint64_t e = b; e < end; ++e) ev.tokens[e * F + df] = e == b ? 2 : gap_bucket(ts[e] - ts[e - 1]);
    ev.offsets.push_back(end);
    ev.train_end.push_back(ds.split_end(u, data::Split::kTrain));
    ev.validation_end.push_back(ds.split_end(u, data::Split::kValidation));
  }
  ev.check();
  return ev;
}

}  // namespace userllm::encoder
