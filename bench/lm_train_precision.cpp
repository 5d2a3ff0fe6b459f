// Training step time of a Llama in bf16 mixed precision (autocast, fp32 master
// weights; llm/precision.h) against fp32, measured side by side in one run:
// forward, backward and the AdamW step on random tokens, the two precisions
// interleaved, median of the rounds. Sizes: the LM that docs/results.md
// pretrains (4 x 128, vocab 2048) and a wider one (8 x 512, vocab 8192).
//   build/bench/lm_train_precision [--quick] [--threads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "blas_info.h"
#include "llm/init.h"
#include "llm/llama.h"
#include "llm/precision.h"
#include "llm/threads.h"

using namespace userllm::llm;
using Clock = std::chrono::steady_clock;

namespace {

bool cpu_has(const std::string& flag) {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("flags", 0) == 0) return (line + " ").find(" " + flag + " ") != std::string::npos;
  return false;
}

struct Size {
  const char* name;
  int64_t layers, dim, vocab, batch, seq;
};

// Seconds per training step and the last step's loss.
std::pair<double, double> steps(LlamaForCausalLM& m, torch::optim::AdamW& opt, Precision p, const torch::Tensor& ids,
                                int n) {
  double loss_value = 0;
  const auto t = Clock::now();
  for (int i = 0; i < n; ++i) {
    torch::Tensor logits;
    {
      MixedPrecision autocast(p, torch::kCPU);
      logits = m->forward(ids.narrow(1, 0, ids.size(1) - 1));
    }
    auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32).reshape({-1, logits.size(-1)}),
                                                     ids.narrow(1, 1, ids.size(1) - 1).reshape({-1}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    loss_value = loss.item<double>();
  }
  return {std::chrono::duration<double>(Clock::now() - t).count() / n, loss_value};
}

void measure(const Size& s, int rounds, int n) {
  LlamaConfig c;
  c.vocab_size = s.vocab;
  c.hidden_size = s.dim;
  c.intermediate_size = (8 * s.dim / 3 + 31) / 32 * 32;
  c.num_layers = s.layers;
  c.num_heads = s.dim / 32;
  c.num_kv_heads = std::max<int64_t>(1, s.dim / 64);
  c.max_position_embeddings = s.seq;
  c.tie_word_embeddings = true;
  torch::manual_seed(1);
  auto ids = torch::randint(0, s.vocab, {s.batch, s.seq + 1});
  std::vector<double> t32, t16;
  double loss32 = 0, loss16 = 0;
  for (Precision p : {Precision::kFp32, Precision::kBf16}) {  // warm-up: first calls pick and cache kernels
    LlamaForCausalLM m(c);
    torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-3));
    steps(m, opt, p, ids, 1);
  }
  for (int r = 0; r < rounds; ++r)
    for (Precision p : {Precision::kFp32, Precision::kBf16}) {
      torch::manual_seed(2);  // the same weights for both
      LlamaForCausalLM m(c);
      init_weights(*m, InitOptions{});
      torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-3));
      auto [sec, loss] = steps(m, opt, p, ids, n);
      (p == Precision::kFp32 ? t32 : t16).push_back(sec);
      (p == Precision::kFp32 ? loss32 : loss16) = loss;
    }
  std::sort(t32.begin(), t32.end());
  std::sort(t16.begin(), t16.end());
  const double a = t32[t32.size() / 2], b = t16[t16.size() / 2];
  const double tokens = double(s.batch * s.seq);
  std::printf("%-10s %6.2fM params  fp32 %8.1f ms/step %9.0f tok/s | bf16 %8.1f ms/step %9.0f tok/s | bf16/fp32 speed x%.2f"
              " | loss after %d steps: fp32 %.4f, bf16 %.4f\n",
              s.name, c.num_parameters() / 1e6, 1e3 * a, tokens / a, 1e3 * b, tokens / b, a / b, n, loss32, loss16);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) set_threads(std::atoi(argv[++i]));
  }
  userllm::bench::print_blas();
  std::printf("CPU: avx512_bf16 %s, amx_bf16 %s (without them oneDNN emulates bf16 and it may not pay)\n",
              cpu_has("avx512_bf16") ? "yes" : "no", cpu_has("amx_bf16") ? "yes" : "no");
  const int rounds = quick ? 1 : 3, n = quick ? 2 : 5;
  measure({"results LM", 4, 128, 2048, 16, 128}, rounds, n);
  if (!quick) measure({"8x512", 8, 512, 8192, 8, 256}, rounds, n);
  return 0;
}
