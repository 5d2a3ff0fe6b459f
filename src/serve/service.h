// What the server does, without HTTP: a fine-tuned run, its user store and the
// engine. Events are stored first (durable before any reply) and reach the
// model lazily: a user's encoder state is brought up to date with step() when
// it is next read, and the LLM's user vectors are recomputed once per history
// version. Routes (serve/routes.h) parse and check requests and call this.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <mutex>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eval/title_trie.h"
#include "llm/chat/chat_template.h"
#include "serve/catalogue.h"
#include "serve/engine.h"
#include "serve/request_error.h"
#include "serve/requests.h"
#include "serve/store.h"
#include "serve/user_cache.h"
#include "train/finetune.h"

namespace userllm::serve {

struct ServiceOptions {
  EngineOptions engine;
  int64_t max_users_in_memory = 10000;
};

struct Completion {
  std::string text, finish_reason, error;
  int status = 200;
  int64_t prompt_tokens = 0, completion_tokens = 0, user_vectors = 0;
  double first_token_s = 0;
};

class Service {
 public:
  Service(train::LoadedRun run, const std::filesystem::path& store, const ServiceOptions& o);
  ~Service();

  // The store's identity for a run: its dataset's catalogue and the encoder's field layout.
  static StoreIdentity identity(const Catalogue& c);
  // Seeds an empty store with a prepared dataset's users and whole histories (the run's
  // catalogue: its fingerprint must match); returns the users added, 0 when the store has users.
  int64_t seed(const data::Dataset& ds);

  nlohmann::json model_info() const;
  const std::string& model_id() const { return model_id_; }
  AppendResult post_events(const std::string& user, const std::vector<EventInput>& events);  // RequestError
  std::optional<UserInfo> user(const std::string& user) const;
  // {"user", "events", "dim", "embedding": [...]}: the last event's embedding, equal to a full encode.
  nlohmann::json embedding(const std::string& user);  // RequestError 404
  bool erase(const std::string& user);
  // Queues a completion; false when the queue is full (the route answers 503).
  bool complete(CompletionRequest r, std::function<void(Completion)> on_done);
  // The next-item run's top k items: [{"item", "title", "score"}], best first.
  nlohmann::json recommend(const std::string& user, int64_t k);  // RequestError

  void shutdown();  // drains the engine, persists in-memory encoder states, closes the store
  Engine& engine() { return *engine_; }
  Store& store() { return *store_; }
  const UserCache& users() const { return users_; }
  const train::LoadedRun& run() const { return run_; }
  std::atomic<int64_t> events_ingested{0};

 private:
  // Engine thread only.
  std::shared_ptr<UserState> state_of(const std::string& user);
  void refresh_context(const std::string& user, UserState& s);
  void catch_up_encoder(const std::string& user, UserState& s);
  Prefill prefill_for(const CompletionRequest& r, int64_t* prompt_tokens, int64_t* user_vectors, int64_t* max_tokens);
  void persist(const std::string& user, const UserState& s);

  train::LoadedRun run_;
  std::unique_ptr<Catalogue> catalogue_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Engine> engine_;
  UserCache users_;
  std::optional<llm::ChatTemplate> chat_;
  std::optional<eval::TitleTrie> trie_;
  size_t longest_title_ = 0;
  std::string encoder_fingerprint_, model_id_;
  std::array<std::mutex, 64> post_locks_;
  bool stopped_ = false;
};

}  // namespace userllm::serve
