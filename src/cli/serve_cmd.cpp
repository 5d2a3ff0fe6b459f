// `userllm serve --run RUN`: an OpenAI-compatible server over a live user store
// (docs/serving.md). Logs go to stderr; stdout gets one line with the address.
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/device.h"
#include "llm/lora.h"
#include "llm/threads.h"
#include "serve/http/server.h"
#include "serve/service.h"

namespace userllm::cli {
namespace {

namespace fs = std::filesystem;

int stop_pipe[2] = {-1, -1};

struct ServeArgs {
  std::string run, store, api_key_file, device, weights = "f32";
  train::SourceOverrides sources;  // sources.data also seeds an empty store
  serve::ServerOptions http;
  serve::ServiceOptions service;
  int torch_threads = 0;
};

std::string read_api_key(const std::string& path) {
  std::string key = read_file(path);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) fail(path + ": the API key file is empty");
  if (key.find_first_of("\r\n\t ") != std::string::npos) fail(path + ": the API key must be one line without spaces");
  return key;
}

void run_serve(ServeArgs a) {
  // The flags' ranges are checked while parsing (cli/usage.cpp).
  if (!a.device.empty()) llm::parse_device(a.device);
  if (!a.api_key_file.empty()) a.http.api_key = read_api_key(a.api_key_file);
  if (a.torch_threads > 0) llm::set_threads(a.torch_threads);

  // SIGTERM / SIGINT write to a pipe that one thread waits on: a handler, not a blocked mask,
  // because threads started before main (OpenBLAS's) would otherwise take the signal and die.
  if (pipe(stop_pipe) != 0) fail("serve: pipe() failed");
  struct sigaction sa {};
  sa.sa_handler = [](int sig) {
    const char c = char(sig);
    [[maybe_unused]] ssize_t n = write(stop_pipe[1], &c, 1);
  };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  const auto weights = llm::parse_weight_format(a.weights);
  train::LoadedRun run = train::load_run(a.run, a.device, a.sources);
  if (weights != llm::WeightFormat::kF32) {
    llm::merge_lora(run.model->llm);  // packed weights are inference-only: fold a LoRA adapter in first
    run.model->llm->pack_weights(weights);
    spdlog::info("LLM weights packed as {}", llm::name(weights));
  }
  const fs::path store = a.store.empty() ? fs::path(a.run) / "users.sqlite" : fs::path(a.store);
  serve::Service service(std::move(run), store, a.service);
  if (!a.sources.data.empty()) {
    const int64_t n = service.seed(data::Dataset::open(a.sources.data));
    if (n) spdlog::info("seeded the store with {} users from {}", n, a.sources.data);
    else spdlog::info("the store already has users: --data {} not read", a.sources.data);
  }
  serve::HttpServer server(service, a.http);
  const int port = server.bind();
  spdlog::info("ready in {:.1f} s: {} users, {} events in {}",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               service.store().num_users(), service.store().num_events(), store.string());
  std::cout << "userllm serve: listening on http://" << a.http.host << ":" << port << std::endl;

  std::thread waiter([&] {
    char c = 0;
    if (read(stop_pipe[0], &c, 1) == 1 && c != 0) spdlog::info("signal {}: draining and stopping", int(c));
    server.stop();
  });
  server.listen();
  const char wake = 0;  // listen() may have ended on its own: release the waiter
  [[maybe_unused]] ssize_t n = write(stop_pipe[1], &wake, 1);
  waiter.join();
  service.shutdown();
  spdlog::info("stopped; the store is closed");
}

}  // namespace

void add_serve_commands(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* c = app.add_subcommand("serve", "serve a fine-tuned run: OpenAI-compatible API over a live user store");
  c->add_option("--run", a->run, "run directory written by `userllm finetune`")->required();
  c->add_option("--data", a->sources.data,
                 "the run's prepared dataset (default: as recorded); given, an empty store is seeded with its users");
  c->add_option("--encoder", a->sources.encoder, "the run's encoder run, where it has moved (default: as recorded)");
  c->add_option("--llm", a->sources.llm, "the run's LLM, where it has moved (default: as recorded)");
  c->add_option("--store", a->store, "SQLite user store (default: RUN/users.sqlite)");
  c->add_option("--host", a->http.host, "address to listen on")->capture_default_str();
  c->add_option("--port", a->http.port, "port to listen on (0: any free port)")->capture_default_str();
  c->add_option("--api-key-file", a->api_key_file, "file holding the API key every route but /health then needs");
  c->add_option("--threads", a->http.threads, "HTTP worker threads")->capture_default_str();
  c->add_option("--torch-threads", a->torch_threads, "threads of the model's kernels (0: libtorch's default)")
      ->capture_default_str();
  c->add_option("--max-batch", a->service.engine.max_batch, "generations decoding together")->capture_default_str();
  c->add_option("--max-queue", a->service.engine.max_queue, "generations waiting; beyond it 503")->capture_default_str();
  c->add_option("--max-users-in-memory", a->service.max_users_in_memory, "users whose state stays in memory (LRU)")
      ->capture_default_str();
  c->add_option("--request-timeout", a->http.request_timeout_s, "seconds a request may take, queueing included")
      ->capture_default_str();
  c->add_option("--device", a->device, "cpu, cuda or cuda:N (default: the run's)");
  c->add_option("--weights", a->weights, "f32, bf16 or int8 (Q8_0 blocks): the LLM matrices' format on the CPU")
      ->capture_default_str();
  c->callback([a] { run_serve(*a); });
}

}  // namespace userllm::cli
