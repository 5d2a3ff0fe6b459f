// Runs for the server tests: the tiny setup of tests/train/fixture.h fine-tuned
// for a few steps on next item, once per integration, and a server over one
// of them on a free loopback port.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <thread>

#include "http_client.h"
#include "serve/http/server.h"
#include "serve/service.h"
#include "train/finetune.h"
#include "train/fixture.h"

namespace userllm::test {

// Its own directory: a test's ScratchDir is named after the test, and the runs outlive it.
struct RunsDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("userllm-serve-runs-" + std::to_string(::getpid()));
  RunsDir() { std::filesystem::remove_all(path), std::filesystem::create_directories(path); }
  ~RunsDir() { std::filesystem::remove_all(path); }
  std::filesystem::path operator/(const std::string& rel) const { return path / rel; }
};

struct ServeRuns {
  RunsDir dir;
  TinySetup setup;
  std::map<std::string, std::filesystem::path> runs;  // by integration name
};

inline ServeRuns& serve_runs() {
  static std::unique_ptr<ServeRuns> r = [] {
    auto x = std::make_unique<ServeRuns>();
    x->setup = make_tiny_setup(x->dir.path);
    for (const char* integration : {"cross-attention", "soft-prompt", "text"}) {
      train::FinetuneOptions o;
      o.data = x->setup.data.string();
      o.encoder = x->setup.encoder.string();
      o.llm = x->setup.llm.string();
      o.task = tasks::TaskKind::kNextItem;
      o.history = 8;
      o.context = 128;
      o.model.integration = bridge::parse_integration(integration);
      o.model.perceiver = std::string(integration) == "cross-attention" ? 4 : 0;
      o.steps = 3;
      o.batch_size = 4;
      o.eval_every = 0;
      o.eval_examples = 4;
      o.threads = 1;
      const auto run = x->dir / (std::string("run-") + integration);
      train::finetune(run, o, false);
      x->runs[integration] = run;
    }
    return x;
  }();
  return *r;
}

// A Service and an HttpServer on 127.0.0.1, listening on a thread until destroyed.
struct TestServer {
  std::unique_ptr<serve::Service> service;
  std::unique_ptr<serve::HttpServer> http;
  std::thread thread;
  int port = 0;

  TestServer(const std::filesystem::path& run, const std::filesystem::path& store, bool seed,
             serve::ServerOptions o = {}, serve::ServiceOptions so = {}) {
    auto loaded = train::load_run(run);
    auto ds_path = loaded.options.data;
    service = std::make_unique<serve::Service>(std::move(loaded), store, so);
    if (seed) service->seed(data::Dataset::open(ds_path));
    o.port = 0;
    http = std::make_unique<serve::HttpServer>(*service, o);
    port = http->bind();
    thread = std::thread([this] { http->listen(); });
  }
  ~TestServer() {
    http->stop();
    thread.join();
    service->shutdown();
  }
  HttpResponse get(const std::string& path, const std::string& headers = "") { return http_request(port, "GET", path, "", headers); }
  HttpResponse post(const std::string& path, const nlohmann::json& body, const std::string& headers = "") {
    return http_request(port, "POST", path, body.dump(), headers);
  }
  HttpResponse http_delete(const std::string& path) { return http_request(port, "DELETE", path); }
  HttpResponse post_raw(const std::string& path, const std::string& body) { return http_request(port, "POST", path, body); }
};

inline nlohmann::json body_json(const HttpResponse& r) { return nlohmann::json::parse(r.body, nullptr, false); }

}  // namespace userllm::test
