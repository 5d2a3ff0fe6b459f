#include "encoder/batch.h"

#include <algorithm>

#include "common/error.h"

namespace userllm::encoder {

std::vector<FieldSpec> fields_for(const Events& ev, int item_dim, int field_dim) {
  std::vector<FieldSpec> out;
  for (int f = 0; f < ev.num_fields(); ++f)
    out.push_back({ev.field_names[f], ev.field_vocab[f], ev.field_names[f] == "item" ? item_dim : field_dim});
  return out;
}

void check_compatible(const Events& ev, const EncoderOptions& o) {
  if (o.fields.size() != static_cast<size_t>(ev.num_fields()))
    fail("the data has " + std::to_string(ev.num_fields()) + " fields, the encoder " +
         std::to_string(o.fields.size()) + " (was it trained on another dataset?)");
  for (int f = 0; f < ev.num_fields(); ++f)
    if (o.fields[f].name != ev.field_names[f] || o.fields[f].vocab != ev.field_vocab[f])
      fail("data field " + std::to_string(f) + " is '" + ev.field_names[f] + "' with vocab " +
           std::to_string(ev.field_vocab[f]) + ", the encoder's is '" + o.fields[f].name + "' with vocab " +
           std::to_string(o.fields[f].vocab) + " (was it trained on another dataset?)");
}

Batch make_batch(const Events& ev, const std::vector<Span>& spans, const torch::Device& device) {
  const int64_t B = static_cast<int64_t>(spans.size()), F = ev.num_fields();
  int64_t T = 1;
  for (const auto& s : spans) T = std::max<int64_t>(T, static_cast<int64_t>(s.end - s.begin));
  auto tokens = torch::zeros({B, T, F}, torch::kLong);
  auto valid = torch::zeros({B, T}, torch::kBool);
  auto* tok = tokens.data_ptr<int64_t>();
  auto* val = valid.data_ptr<bool>();
  for (int64_t b = 0; b < B; ++b) {
    for (uint64_t e = spans[b].begin; e < spans[b].end; ++e) {
      const int64_t t = static_cast<int64_t>(e - spans[b].begin);
      std::copy(ev.event(e), ev.event(e) + F, tok + (b * T + t) * F);
      val[b * T + t] = true;
    }
  }
  return {tokens.to(device), valid.to(device)};
}

Span history_before(const Events& ev, uint32_t u, uint64_t end, int64_t max_events) {
  uint64_t begin = ev.offsets[u];
  if (end - begin > static_cast<uint64_t>(max_events)) begin = end - static_cast<uint64_t>(max_events);
  return {u, begin, end};
}

std::vector<Span> training_windows(const Events& ev, int64_t length, int64_t stride) {
  std::vector<Span> out;
  const uint64_t L = static_cast<uint64_t>(length), S = static_cast<uint64_t>(std::max<int64_t>(stride, 1));
  for (uint32_t u = 0; u < ev.num_users(); ++u) {
    const uint64_t b = ev.offsets[u], e = ev.train_end[u];
    if (e - b < 2) continue;
    if (e - b <= L) {
      out.push_back({u, b, e});
      continue;
    }
    uint64_t start = b;
    for (; start + L < e; start += S) out.push_back({u, start, start + L});
    out.push_back({u, e - L, e});
  }
  return out;
}

}  // namespace userllm::encoder
