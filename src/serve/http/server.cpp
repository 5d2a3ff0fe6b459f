#include "serve/http/server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>

#include "common/error.h"
#include "serve/http/request_fields.h"
#include "serve/metrics.h"
#include "serve/service.h"

namespace userllm::serve {

using nlohmann::json;

namespace {

json error_body(const std::string& message, int status) {
  const char* type = status == 401 ? "authentication_error"
                     : status == 404 ? "not_found_error"
                     : status == 503 ? "server_overloaded"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  return {{"error", {{"message", message}, {"type", type}, {"code", status}}}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A comparison whose time does not depend on where the keys differ (only on their length).
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= uint8_t(a[i]) ^ uint8_t(b[i]);
  return diff == 0;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Streamed chunks from the engine thread to the HTTP thread that writes them.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> chunks;
  bool done = false;
  void push(std::string s, bool last = false) {
    {
      std::lock_guard<std::mutex> lock(mu);
      chunks.push_back(std::move(s));
      done = done || last;
    }
    cv.notify_all();
  }
};

}  // namespace

struct HttpServer::Impl {
  Service& service;
  ServerOptions o;
  httplib::Server http;
  Registry metrics;
  CounterFamily& requests;
  HistogramFamily& latency;
  HistogramFamily& first_token;
  CounterFamily& completion_tokens;
  std::atomic<uint64_t> next_id{1};
  int listen_fd = -1;

  Impl(Service& s, const ServerOptions& opts)
      : service(s),
        o(opts),
        requests(metrics.counter("userllm_requests_total", "HTTP requests by route and status", {"route", "status"})),
        latency(metrics.histogram("userllm_request_duration_seconds", "time to the last byte of the response",
                                  latency_buckets(), {"route"})),
        first_token(metrics.histogram("userllm_time_to_first_token_seconds",
                                      "from the request's arrival to its first generated token", latency_buckets())),
        completion_tokens(metrics.counter("userllm_completion_tokens_total", "tokens generated for clients")) {
    metrics.gauge_fn("userllm_queue_depth", "generations waiting for a batch row", [this] { return double(service.engine().queued()); });
    metrics.gauge_fn("userllm_batch_size", "generations decoding together now", [this] { return double(service.engine().running()); });
    metrics.gauge_fn("userllm_engine_tokens", "tokens the engine has generated since start (a counter)",
                     [this] { return double(service.engine().tokens_generated()); });
    metrics.gauge_fn("userllm_events_ingested", "events stored since start (a counter)", [this] { return double(service.events_ingested.load()); });
    metrics.gauge_fn("userllm_users_in_memory", "users whose state is held in memory", [this] { return double(service.users().size()); });
    metrics.gauge_fn("userllm_store_bytes", "the user store's size on disk (database and WAL)", [this] { return double(service.store().file_bytes()); });
    metrics.gauge_fn("userllm_store_users", "users in the store", [this] { return double(service.store().num_users()); });
    routes();
  }

  void reply(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body), "application/json");
  }
  void reply_error(httplib::Response& res, int status, const std::string& message) {
    if (status == 503) res.set_header("Retry-After", "1");
    reply(res, status, error_body(message, status));
  }

  // Every handler: errors become their status, and each request is counted and timed.
  template <class F>
  httplib::Server::Handler handler(const std::string& route, F f) {
    return [this, route, f](const httplib::Request& req, httplib::Response& res) {
      const auto start = Clock::now();
      try {
        f(req, res);
      } catch (const RequestError& e) {
        reply_error(res, e.status, e.what());
      } catch (const Error& e) {
        spdlog::error("{} {}: {}", req.method, req.path, e.what());
        reply_error(res, 500, e.what());
      } catch (const std::exception& e) {
        spdlog::error("{} {}: {}", req.method, req.path, e.what());
        reply_error(res, 500, "internal error");
      }
      requests.with({route, std::to_string(res.status)}).inc();
      latency.with({route}).observe(std::chrono::duration<double>(Clock::now() - start).count());
    };
  }

  void routes() {
    // httplib listens with a backlog of 5: a burst of new connections then waits for SYN
    // retransmits (a second each). Keep its socket to listen again with a real backlog.
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = int(sock);
    });
    http.set_payload_max_length(o.max_body_bytes);
    http.set_read_timeout(30, 0);
    http.set_write_timeout(30, 0);
    http.new_task_queue = [this] { return new httplib::ThreadPool(size_t(std::max(1, o.threads))); };
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (o.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
      const std::string auth = req.get_header_value("Authorization");
      const std::string bearer = "Bearer ";
      if (auth.compare(0, bearer.size(), bearer) == 0 && same_key(auth.substr(bearer.size()), o.api_key))
        return httplib::Server::HandlerResponse::Unhandled;
      reply_error(res, 401, auth.empty() ? "missing Authorization: Bearer KEY" : "invalid API key");
      requests.with({"auth", "401"}).inc();
      return httplib::Server::HandlerResponse::Handled;
    });

    http.Get("/health", handler("/health", [this](const httplib::Request&, httplib::Response& res) {
      reply(res, 200, {{"status", "ok"}});
    }));
    http.Get("/v1/models", handler("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      reply(res, 200, {{"object", "list"}, {"data", json::array({service.model_info()})}});
    }));
    http.Get("/metrics", handler("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
    }));

    http.Post(R"(/v1/users/([^/]+)/events)", handler("/v1/users/{user}/events", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string user = check_user_id(req.matches[1]);
      const auto events = parse_events(parse_body(req.body, o), o);
      const AppendResult r = service.post_events(user, events);
      reply(res, r.created ? 201 : 200, {{"user", user}, {"accepted", r.accepted}, {"events", r.total}});
    }));
    http.Get(R"(/v1/users/([^/]+)/embedding)", handler("/v1/users/{user}/embedding", [this](const httplib::Request& req, httplib::Response& res) {
      reply(res, 200, service.embedding(check_user_id(req.matches[1])));
    }));
    http.Get(R"(/v1/users/([^/]+))", handler("/v1/users/{user}", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string user = check_user_id(req.matches[1]);
      auto info = service.user(user);
      if (!info) throw RequestError(404, "user \"" + user + "\" is not in the store");
      reply(res, 200, {{"user", user}, {"events", info->events}, {"last_timestamp", info->last_timestamp},
                       {"embedding_version", info->version}});
    }));
    http.Delete(R"(/v1/users/([^/]+))", handler("/v1/users/{user}", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string user = check_user_id(req.matches[1]);
      if (!service.erase(user)) throw RequestError(404, "user \"" + user + "\" is not in the store");
      reply(res, 200, {{"user", user}, {"deleted", true}});
    }));
    http.Post("/v1/recommendations", handler("/v1/recommendations", [this](const httplib::Request& req, httplib::Response& res) {
      auto p = parse_recommendation(parse_body(req.body, o), o);
      if (!service.user(p.user)) throw RequestError(404, "user \"" + p.user + "\" is not in the store");
      reply(res, 200, {{"object", "list"}, {"user", p.user}, {"model", service.model_id()}, {"data", service.recommend(p.user, p.k)}});
    }));
    http.Post("/v1/completions", handler("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      complete(req, res, false);
    }));
    http.Post("/v1/chat/completions", handler("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      complete(req, res, true);
    }));
  }

  json usage(const Completion& c) const {
    return {{"prompt_tokens", c.prompt_tokens}, {"completion_tokens", c.completion_tokens},
            {"total_tokens", c.prompt_tokens + c.completion_tokens}, {"user_vectors", c.user_vectors}};
  }

  void complete(const httplib::Request& req, httplib::Response& res, bool chat) {
    ParsedCompletion p = parse_completion(parse_body(req.body, o), chat, o);
    if (!p.request.user.empty() && !service.user(p.request.user))
      throw RequestError(404, "user \"" + p.request.user + "\" is not in the store");
    const auto arrived = Clock::now();
    p.request.deadline = arrived + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.request_timeout_s));
    const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
    const int64_t created = unix_now();
    const std::string model = service.model_id();
    const char* object = chat ? "chat.completion" : "text_completion";

    auto chunk = [=](const json& choice) {
      return json{{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                  {"model", model}, {"choices", json::array({choice})}};
    };
    auto account = [this](const Completion& c) {
      completion_tokens.with().inc(double(c.completion_tokens));
      if (c.completion_tokens > 0) first_token.with().observe(c.first_token_s);
    };

    if (!p.stream) {
      auto done = std::make_shared<std::promise<Completion>>();
      auto result = done->get_future();
      if (!service.complete(std::move(p.request), [done](Completion c) { done->set_value(std::move(c)); }))
        throw RequestError(503, "the server is busy: the request queue is full");
      Completion c = result.get();  // the engine always answers: deadlines bound the wait
      account(c);
      if (c.status != 200) throw RequestError(c.status, c.status == 504 ? "the request timed out" : c.error);
      json choice = {{"index", 0}, {"finish_reason", c.finish_reason}, {"logprobs", nullptr}};
      if (chat) choice["message"] = {{"role", "assistant"}, {"content", c.text}};
      else choice["text"] = c.text;
      reply(res, 200, {{"id", id}, {"object", object}, {"created", created}, {"model", model},
                       {"choices", json::array({choice})}, {"usage", usage(c)}});
      return;
    }

    auto ch = std::make_shared<Channel>();
    auto gone = std::make_shared<std::atomic<bool>>(false);
    const bool include_usage = p.include_usage;
    auto first = std::make_shared<bool>(true);
    p.request.on_text = [=](const std::string& piece) {
      json choice = {{"index", 0}, {"finish_reason", nullptr}};
      if (chat) {
        choice["delta"] = {{"content", piece}};
        if (*first) choice["delta"]["role"] = "assistant";
      } else {
        choice["text"] = piece;
      }
      *first = false;
      ch->push("data: " + dump(chunk(choice)) + "\n\n");
      return !gone->load();
    };
    auto on_done = [=](Completion c) {
      account(c);
      if (c.status != 200) {
        ch->push("data: " + dump(error_body(c.status == 504 ? "the request timed out" : c.error, c.status)) + "\n\n");
      } else {
        json choice = {{"index", 0}, {"finish_reason", c.finish_reason}};
        if (chat) choice["delta"] = json::object();
        else choice["text"] = "";
        ch->push("data: " + dump(chunk(choice)) + "\n\n");
        if (include_usage) {
          json u = chunk(choice);
          u["choices"] = json::array();
          u["usage"] = usage(c);
          ch->push("data: " + dump(u) + "\n\n");
        }
      }
      ch->push("data: [DONE]\n\n", true);
    };
    if (!service.complete(std::move(p.request), on_done))
      throw RequestError(503, "the server is busy: the request queue is full");
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [ch, gone](size_t, httplib::DataSink& sink) {
      std::unique_lock<std::mutex> lock(ch->mu);
      // Wake now and then to notice a client that went away.
      while (ch->chunks.empty() && !ch->done) {
        ch->cv.wait_for(lock, std::chrono::milliseconds(200));
        if (!sink.is_writable()) {
          gone->store(true);
          return false;
        }
      }
      while (!ch->chunks.empty()) {
        std::string s = std::move(ch->chunks.front());
        ch->chunks.pop_front();
        if (!sink.write(s.data(), s.size())) {
          gone->store(true);
          return false;
        }
      }
      if (ch->done) sink.done();
      return true;
    }, [gone](bool success) {
      if (!success) gone->store(true);
    });
  }
};

HttpServer::HttpServer(Service& service, const ServerOptions& o) : impl_(std::make_unique<Impl>(service, o)) {}
HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  auto& s = impl_->http;
  int port = impl_->o.port;
  if (port == 0) {
    port = s.bind_to_any_port(impl_->o.host);
    if (port < 0) fail("serve: cannot bind " + impl_->o.host);
  } else if (!s.bind_to_port(impl_->o.host, port)) {
    fail("serve: cannot listen on " + impl_->o.host + ":" + std::to_string(port) + " (in use, or not an address of this machine)");
  }
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, 4096);  // Linux raises the backlog of a listening socket
  return port;
}

void HttpServer::listen() { impl_->http.listen_after_bind(); }

void HttpServer::stop() { impl_->http.stop(); }

}  // namespace userllm::serve
