// The HTTP front of `userllm serve`: OpenAI-compatible completions and chat,
// the user-event API, recommendations, /health and /metrics (docs/serving.md).
// Handlers parse and check each request, then call the Service; none of them
// touches the model. httplib stays inside server.cpp (see CMakeLists.txt).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace userllm::serve {

class Service;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0 = any free port (tests)
  std::string api_key;                // "" = no authentication
  int threads = 8;                    // HTTP worker threads
  double request_timeout_s = 60;      // a request's deadline, queueing included
  // Bounds on what one request may ask for.
  size_t max_body_bytes = 1 << 20;
  size_t max_string_bytes = 64 << 10;
  int64_t max_tokens = 2048;
  int64_t max_events_per_post = 1000;
  int64_t max_k = 100;
  size_t max_messages = 256;
};

class HttpServer {
 public:
  HttpServer(Service& service, const ServerOptions& o);
  ~HttpServer();
  // Binds (throws userllm::Error when it cannot); returns the port bound.
  int bind();
  // Serves until stop(); call after bind().
  void listen();
  // Stops accepting and returns once in-flight requests are answered.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace userllm::serve
