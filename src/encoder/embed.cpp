#include "encoder/embed.h"

#include <cstring>

#include "common/error.h"
#include "common/progress.h"
#include "encoder/batch.h"

namespace userllm::encoder {

namespace {

// Every event's embedding of one user, streamed with the KV cache so that
// memory stays O(max_len) however long the history.
void embed_stream(UserEncoder& model, const Events& ev, uint32_t u, const torch::Device& device,
                  std::vector<float>& out) {
  const int64_t n = static_cast<int64_t>(ev.offsets[u + 1] - ev.offsets[u]);
  auto batch = make_batch(ev, {{u, ev.offsets[u], ev.offsets[u + 1]}}, device);
  torch::Tensor h;
  if (n <= model->options().max_len) {
    h = model(batch.tokens, batch.valid)[0];
  } else {
    EncoderState state;
    std::vector<torch::Tensor> rows;
    for (int64_t t = 0; t < n; ++t) rows.push_back(model->step(batch.tokens.select(1, t), state));
    h = torch::cat(rows, 0);
  }
  h = h.to(torch::kCPU, torch::kFloat).contiguous();
  out.insert(out.end(), h.data_ptr<float>(), h.data_ptr<float>() + h.numel());
}

}  // namespace

UserEmbeddings embed_users(UserEncoder& model, const Events& ev, const std::vector<std::string>& keys,
                           bool per_event, const torch::Device& device, int64_t batch_size) {
  if (keys.size() != ev.num_users()) fail("embed: one key per user expected");
  UserEmbeddings e;
  e.dim = static_cast<uint32_t>(model->options().dim);
  e.per_event = per_event;
  e.keys = keys;
  e.offsets.push_back(0);
  model->eval();
  torch::NoGradGuard no_grad;
  Progress bar("embed", ev.num_users(), "users");
  for (uint32_t u0 = 0; u0 < ev.num_users(); u0 += static_cast<uint32_t>(batch_size)) {
    const uint32_t u1 = std::min<uint32_t>(ev.num_users(), u0 + static_cast<uint32_t>(batch_size));
    if (per_event) {
      for (uint32_t u = u0; u < u1; ++u) {
        embed_stream(model, ev, u, device, e.vectors);
        e.offsets.push_back(e.offsets.back() + (ev.offsets[u + 1] - ev.offsets[u]));
      }
    } else {
      std::vector<Span> spans;
      for (uint32_t u = u0; u < u1; ++u) spans.push_back(history_before(ev, u, ev.offsets[u + 1], model->options().max_len));
      auto batch = make_batch(ev, spans, device);
      auto h = gather_last(model(batch.tokens, batch.valid), batch.valid).to(torch::kCPU, torch::kFloat).contiguous();
      e.vectors.insert(e.vectors.end(), h.data_ptr<float>(), h.data_ptr<float>() + h.numel());
      for (uint32_t u = u0; u < u1; ++u) e.offsets.push_back(e.offsets.back() + 1);
    }
    bar.set(u1);
  }
  return e;
}

}  // namespace userllm::encoder
