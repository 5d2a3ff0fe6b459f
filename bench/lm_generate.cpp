// Prefill and decode speed of the Llama runtime, with peak memory, for the
// real stories260K model and a random-weight ~110M-parameter Llama.
// Baseline in the same run: generation without the KV cache (every step
// recomputes the whole sequence). Also splits a decode step into the time spent
// in the projection matmuls alone vs the rest (framework overhead).
//   build-*/bench/lm_generate [--quick]
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "blas_info.h"
#include "llm_100m.h"
#include "llm/checkpoint.h"
#include "llm/generate.h"

using namespace userllm::llm;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Peak resident memory so far (VmHWM), in MB.
double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

struct Result {
  double prefill_tps, decode_tps, nocache_tps, matmul_ms, step_ms;
};

Result run(LlamaForCausalLM& model, int64_t prompt_len, int64_t new_tokens, int64_t nocache_tokens) {
  torch::NoGradGuard no_grad;
  const auto& c = model->config();
  std::vector<int64_t> prompt(static_cast<size_t>(prompt_len));
  for (int64_t i = 0; i < prompt_len; ++i) prompt[size_t(i)] = 1 + (i * 7919) % (c.vocab_size - 1);
  Result r{};
  // Prefill: one forward over the prompt, filling the cache.
  {
    KVCache cache(c, 1, prompt_len + new_tokens, torch::kCPU);
    auto ids = torch::tensor(prompt).unsqueeze(0);
    model->forward(ids.narrow(1, 0, 4), &cache);  // warm-up
    cache.clear();
    auto t = Clock::now();
    model->forward(ids, &cache);
    r.prefill_tps = double(prompt_len) / seconds_since(t);
  }
  GenerateOptions opts;
  opts.max_new_tokens = new_tokens;
  {
    auto t = Clock::now();
    auto out = generate(model, {prompt}, opts);
    double total = seconds_since(t);
    double prefill = double(prompt_len) / r.prefill_tps;
    r.decode_tps = double(out[0].size()) / std::max(total - prefill, 1e-9);
    r.step_ms = 1e3 * (total - prefill) / double(out[0].size());
  }
  {
    opts.use_cache = false;
    opts.max_new_tokens = nocache_tokens;
    auto t = Clock::now();
    auto out = generate(model, {prompt}, opts);
    r.nocache_tps = double(out[0].size()) / seconds_since(t);
  }
  // The matmuls of one decode step alone: every projection on a single token.
  {
    auto x = torch::randn({1, 1, c.hidden_size});
    auto xf = torch::randn({1, 1, c.intermediate_size});
    const int reps = 20;
    auto t = Clock::now();
    for (int rep = 0; rep < reps; ++rep) {
      for (auto& layer : model->model->layer_list) {
        auto& a = layer->self_attn;
        for (auto* w : {&a->q_proj->weight, &a->k_proj->weight, &a->v_proj->weight, &a->o_proj->weight,
                        &layer->mlp->gate_proj->weight, &layer->mlp->up_proj->weight})
          torch::linear(x, *w);
        torch::linear(xf, layer->mlp->down_proj->weight);
      }
      torch::linear(x, model->output_weight());
    }
    r.matmul_ms = 1e3 * seconds_since(t) / reps;
  }
  return r;
}

void report(const char* name, LlamaForCausalLM& model, int64_t prompt_len, int64_t new_tokens, int64_t nocache_tokens) {
  auto r = run(model, prompt_len, new_tokens, nocache_tokens);
  std::printf("\n== %s: %.2fM parameters, prompt %lld, %lld new tokens\n", name,
              model->config().num_parameters() / 1e6, (long long)prompt_len, (long long)new_tokens);
  std::printf("prefill            %10.1f tok/s\n", r.prefill_tps);
  std::printf("decode (KV cache)  %10.1f tok/s   %.3f ms/token\n", r.decode_tps, r.step_ms);
  std::printf("decode (no cache)  %10.1f tok/s   baseline; cache speed-up x%.2f\n", r.nocache_tps,
              r.decode_tps / r.nocache_tps);
  std::printf("per token: projection matmuls %.3f ms = %.0f%% of the step; the other %.0f%% is attention, norms, "
              "sampling and framework overhead\n",
              r.matmul_ms, 100 * r.matmul_ms / r.step_ms, 100 * (1 - r.matmul_ms / r.step_ms));
  std::printf("peak RSS so far    %10.1f MB\n", peak_rss_mb());
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  userllm::bench::print_blas();
  const std::string stories = std::string(USERLLM_SHARED_DIR) + "/models/stories260K/stories260K.bin";
  if (std::ifstream(stories).good()) {
    auto m = load_model(stories);
    report("stories260K", m, 32, quick ? 64 : 256, quick ? 32 : 128);
  } else {
    std::printf("\n(stories260K absent: %s)\n", stories.c_str());
  }
  LlamaConfig c = userllm::bench::llm_100m_config(1024);
  torch::manual_seed(0);
  LlamaForCausalLM big(c);
  big->eval();
  report("random Llama", big, quick ? 32 : 128, quick ? 16 : 64, quick ? 4 : 16);
  return 0;
}
