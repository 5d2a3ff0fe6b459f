// User-encoder speed. (1) Training throughput (events/s) and peak memory of one
// early-fusion model, here and in the PyTorch Python peer
// (bench/peers/encoder_train.py via /usr/bin/python3: same model, batch and
// thread count), printed as a ratio. (2) Incremental update: appending one
// event with the KV cache vs re-encoding the whole history, at 50, 500, 5000
// events (the cache holds max_len events, so its cost stays flat).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "encoder/loss.h"
#include "encoder/user_encoder.h"

namespace enc = userllm::encoder;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kThreads = 1, kBatch = 32, kWarmup = 3, kSteps = 20;

enc::EncoderOptions bench_model() {
  enc::EncoderOptions o;
  o.fields = {{"item", 10000, 64}, {"genre", 22, 16}, {"rating", 12, 16}, {"gap", 32, 16}};
  o.layers = 2;
  o.heads = 2;
  o.dim = 64;
  o.ffn_mult = 4;
  o.max_len = 50;
  o.dropout = 0.1;
  return o;
}

torch::Tensor random_tokens(const enc::EncoderOptions& o, int64_t B, int64_t T) {
  std::vector<torch::Tensor> cols;
  for (const auto& f : o.fields) cols.push_back(torch::randint(2, f.vocab, {B, T, 1}, torch::kLong));
  return torch::cat(cols, 2);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

nlohmann::json run_peer(const enc::EncoderOptions& o) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& f : o.fields) fields.push_back({{"vocab", f.vocab}, {"dim", f.dim}});
  nlohmann::json args = {{"fields", fields}, {"dim", o.dim},       {"heads", o.heads},   {"layers", o.layers},
                         {"max_len", o.max_len}, {"batch", kBatch}, {"threads", kThreads}, {"warmup", kWarmup},
                         {"steps", kSteps}};
  std::string cmd = "OMP_NUM_THREADS=1 /usr/bin/python3 " USERLLM_SOURCE_DIR "/bench/peers/encoder_train.py '" +
                    args.dump() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (p) pclose(p);
  auto j = nlohmann::json::parse(out, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

void bench_training() {
  auto o = bench_model();
  torch::manual_seed(1);
  enc::UserEncoder m(o);
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.01));
  auto tok = random_tokens(o, kBatch, o.max_len + 1);
  auto valid = torch::ones({kBatch, o.max_len}, torch::kBool);
  enc::LossOptions lo;
  double fwd = 0, bwd = 0, upd = 0;
  auto step = [&](bool timed) {
    auto t0 = Clock::now();
    auto h = m(tok.narrow(1, 0, o.max_len), valid);
    auto loss = enc::next_event_loss(m, h, tok.narrow(1, 1, o.max_len), lo).total;
    auto t1 = Clock::now();
    opt.zero_grad();
    loss.backward();
    auto t2 = Clock::now();
    torch::nn::utils::clip_grad_norm_(m->parameters(), 1.0);
    opt.step();
    if (timed) {
      fwd += std::chrono::duration<double>(t1 - t0).count();
      bwd += std::chrono::duration<double>(t2 - t1).count();
      upd += seconds_since(t2);
    }
  };
  for (int i = 0; i < kWarmup; ++i) step(false);
  auto t0 = Clock::now();
  for (int i = 0; i < kSteps; ++i) step(true);
  const double secs = seconds_since(t0);
  const double ours = kBatch * o.max_len * kSteps / secs;
  const double our_rss = peak_rss_mb();
  auto peer = run_peer(o);
  std::printf("training: early fusion, dim %d, %d layers, batch %d x %d events, %d thread(s), %d steps\n", o.dim,
              o.layers, kBatch, o.max_len, kThreads, kSteps);
  std::printf("  userllm (libtorch C++)  %10.0f events/s  peak RSS %7.1f MB\n", ours, our_rss);
  std::printf("  time split: forward+loss %.0f%%, backward %.0f%%, clip+AdamW %.0f%%\n", 100 * fwd / secs,
              100 * bwd / secs, 100 * upd / secs);
  if (peer.is_null()) {
    std::printf("  PyTorch Python peer: did not run (needs /usr/bin/python3 with python3-torch)\n");
    return;
  }
  std::printf("  PyTorch Python %-8s %10.0f events/s  peak RSS %7.1f MB\n", peer["torch"].get<std::string>().c_str(),
              peer["events_per_s"].get<double>(), peer["peak_rss_mb"].get<double>());
  std::printf("  ratio userllm / Python: throughput %.2fx, peak RSS %.2fx\n", ours / peer["events_per_s"].get<double>(),
              our_rss / peer["peak_rss_mb"].get<double>());
}

void bench_incremental() {
  auto o = bench_model();
  o.dropout = 0;
  torch::manual_seed(2);
  enc::UserEncoder m(o);
  m->eval();
  torch::NoGradGuard ng;
  std::printf("incremental update (max_len %d): one appended event, KV cache vs full re-encode\n", o.max_len);
  for (int64_t n : {50, 500, 5000}) {
    auto tok = random_tokens(o, 1, n + 1);
    enc::EncoderState state;
    for (int64_t t = 0; t < n; ++t) m->step(tok.select(1, t), state);
    const int reps = 20;
    auto t0 = Clock::now();
    for (int r = 0; r < reps; ++r) {
      enc::EncoderState s = state;  // shallow copy: step() replaces, never mutates, the cached tensors
      m->step(tok.select(1, n), s);
    }
    const double step_us = 1e6 * seconds_since(t0) / reps;
    const int full_reps = n >= 5000 ? 1 : 3;
    t0 = Clock::now();
    for (int r = 0; r < full_reps; ++r) m(tok, torch::ones({1, n + 1}, torch::kBool));
    const double full_us = 1e6 * seconds_since(t0) / full_reps;
    std::printf("  history %5lld: cached step %9.1f us, re-encode %11.1f us, ratio %8.1fx\n",
                static_cast<long long>(n), step_us, full_us, full_us / step_us);
  }
}

}  // namespace

int main() {
  torch::set_num_threads(kThreads);
  bench_training();
  bench_incremental();
  return 0;
}
