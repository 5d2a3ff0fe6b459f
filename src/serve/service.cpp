#include "serve/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "bridge/soft_prompt.h"
#include "common/error.h"
#include "common/progress.h"
#include "eval/beam_search.h"
#include "eval/request.h"
#include "serve/fingerprint.h"
#include "serve/text_stream.h"
#include "tasks/batch.h"
#include "tasks/text_history.h"
#include "train/finetune_internal.h"

namespace userllm::serve {

using bridge::IntegrationKind;

namespace {

// The encoder's weights: the tag of every cached encoder state.
std::string weights_fingerprint(torch::nn::Module& m) {
  Fnv f;
  for (const auto& p : m.named_parameters()) {
    auto t = p.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
    f.add(t.data_ptr<float>(), size_t(t.numel()) * sizeof(float));
    f.add(p.key().data(), p.key().size());
  }
  return f.hex();
}

std::vector<std::string> encoder_fields(const train::LoadedRun& r) {
  if (r.events) return r.events->field_names;
  std::vector<std::string> f;  // text integration: the dataset's own fields
  for (const auto& x : r.dataset->fields()) f.push_back(x.name);
  return f;
}

int64_t cross_vectors(bridge::UserLlm& m, int64_t history) {
  return m->options().integration == IntegrationKind::kCrossAttention ? m->context_length(history) : 0;
}

}  // namespace

StoreIdentity Service::identity(const Catalogue& c) {
  return {c.dataset().name() + ":" + c.fingerprint(), c.fields()};
}

Service::Service(train::LoadedRun run, const std::filesystem::path& store, const ServiceOptions& o)
    : run_(std::move(run)), users_(o.max_users_in_memory) {
  if (o.max_users_in_memory < 1) fail("--max-users-in-memory must be at least 1");
  catalogue_ = std::make_unique<Catalogue>(*run_.dataset, encoder_fields(run_));
  store_ = Store::open(store, identity(*catalogue_));
  if (run_.model->encoder) encoder_fingerprint_ = weights_fingerprint(*run_.model->encoder);
  const auto& opt = run_.options;
  model_id_ = std::string("userllm-") + bridge::integration_name(run_.model->options().integration) + "-" +
              tasks::task_name(opt.task);
  try {
    if (std::filesystem::is_directory(opt.llm)) chat_ = llm::ChatTemplate::for_model(opt.llm);
  } catch (const Error& e) {
    spdlog::warn("chat template: {} (chat completions use the plain template)", e.what());
  }
  if (!chat_) chat_ = llm::ChatTemplate::plain();
  if (opt.task == tasks::TaskKind::kNextItem) {
    trie_ = eval::build_title_trie(*run_.dataset, *run_.tokenizer);
    for (const auto& [item, seq] : trie_->sequences()) longest_title_ = std::max(longest_title_, seq.size());
  }
  EngineOptions eo = o.engine;
  eo.context_vectors = cross_vectors(run_.model, opt.history);
  bridge::CrossAttentionStack cross =
      run_.model->options().integration == IntegrationKind::kCrossAttention ? run_.model->cross : nullptr;
  engine_ = std::make_unique<Engine>(run_.model->llm, cross, eo);
}

Service::~Service() {
  try {
    shutdown();
  } catch (const std::exception& e) {
    spdlog::error("shutdown: {}", e.what());
  }
}

void Service::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  engine_->run([this] {
    for (const auto& [user, s] : users_.all()) persist(user, *s);
  });
  engine_->shutdown();
  store_->close();
}

int64_t Service::seed(const data::Dataset& ds) {
  if (store_->num_users() > 0) return 0;
  if (Catalogue(ds, catalogue_->fields()).fingerprint() != catalogue_->fingerprint())
    fail("--data: this dataset's catalogue differs from the run's (" + run_.options.data +
         "): its events would map to other items");
  const int itf = ds.field_index("item"), rf = ds.field_index("rating");
  std::unique_ptr<encoder::Events> own;
  if (run_.model->encoder) own = std::make_unique<encoder::Events>(encoder::events_from(ds, run_.model->encoder->options().time_gap));
  const encoder::Events* ev = own.get();
  Progress bar("seeding the store", ds.num_events(), "events");
  std::vector<std::pair<std::string, std::vector<NewEvent>>> chunk;
  size_t in_chunk = 0;
  auto flush = [&] {
    store_->append_many(chunk);
    chunk.clear();
    in_chunk = 0;
  };
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    std::vector<NewEvent> events;
    for (uint64_t e = ds.user_begin(u); e < ds.user_end(u); ++e) {
      NewEvent n;
      n.item = std::string(ds.token(itf, ds.column(itf)[e]));
      if (rf >= 0) {
        const uint32_t r = ds.column(rf)[e];
        if (r != data::kPadId && r != data::kOovId) n.rating = std::stod(std::string(ds.token(rf, r)));
      }
      n.timestamp = ds.timestamps()[e];
      n.text = std::string(ds.event_text(e));
      if (ev) {
        n.tokens.assign(ev->event(e), ev->event(e) + ev->num_fields());
      } else {
        for (int f = 0; f < int(ds.fields().size()); ++f) n.tokens.push_back(ds.column(f)[e]);
      }
      events.push_back(std::move(n));
    }
    in_chunk += events.size();
    chunk.emplace_back(std::string(ds.user_key(u)), std::move(events));
    bar.set(ds.user_end(u));
    if (in_chunk >= 20000) flush();
  }
  flush();
  bar.finish();
  return ds.num_users();
}

nlohmann::json Service::model_info() const {
  const auto& o = run_.options;
  const auto& m = run_.model->options();
  nlohmann::json j = {{"id", model_id_},
                      {"object", "model"},
                      {"owned_by", "userllm"},
                      {"integration", bridge::integration_name(m.integration)},
                      {"strategy", bridge::strategy_name(m.strategy)},
                      {"task", tasks::task_name(o.task)},
                      {"llm", o.llm},
                      {"encoder", o.encoder},
                      {"data", o.data},
                      {"history", o.history},
                      {"perceiver", m.perceiver},
                      {"context", run_.prompt.context},
                      {"user_vectors", run_.model->context_length(o.history)}};
  return j;
}

AppendResult Service::post_events(const std::string& user, const std::vector<EventInput>& events) {
  // One post per user at a time: the time-gap field of a new event depends on the event stored
  // before it, and a retried event (known id) is skipped rather than re-tokenised.
  std::lock_guard<std::mutex> lock(post_locks_[std::hash<std::string>()(user) % post_locks_.size()]);
  std::optional<UserInfo> info = store_->user(user);
  std::optional<int64_t> prev;
  if (info && info->events > 0) prev = info->last_timestamp;
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  const std::vector<bool> known = store_->has_ids(user, ids);
  std::set<std::string> seen;
  std::vector<NewEvent> out;
  for (size_t i = 0; i < events.size(); ++i) {
    const EventInput& e = events[i];
    const std::string at = "events[" + std::to_string(i) + "]";
    auto item = catalogue_->find_item(e.item);
    if (!item) throw RequestError(400, at + ".item: " + nlohmann::json(e.item).dump() + " is not an item id or title of the catalogue");
    NewEvent n;
    try {
      n.tokens = catalogue_->tokens(*item, e.rating, e.timestamp, prev);
    } catch (const Error& err) {
      throw RequestError(400, at + ".rating: " + err.what());
    }
    const bool repeat = known[i] || (!e.id.empty() && !seen.insert(e.id).second);
    if (!repeat) {
      if (prev && e.timestamp < *prev)
        throw RequestError(400, at + ".timestamp: " + std::to_string(e.timestamp) +
                                    " is earlier than the user's previous event (" + std::to_string(*prev) + ")");
      prev = e.timestamp;
    }
    n.item = catalogue_->item_key(*item);
    n.rating = e.rating;
    n.timestamp = e.timestamp;
    n.text = e.text;
    n.id = e.id;
    out.push_back(std::move(n));
  }
  const AppendResult r = store_->append(user, out);
  events_ingested += r.accepted;
  return r;
}

std::optional<UserInfo> Service::user(const std::string& user) const { return store_->user(user); }

bool Service::erase(const std::string& user) {
  bool found = false;
  engine_->run([&] {
    users_.erase(user);
    found = store_->erase(user);
  });
  return found;
}

void Service::persist(const std::string& user, const UserState& s) {
  if (s.encoded == 0 || encoder_fingerprint_.empty()) return;
  if (auto stored = store_->state(user); stored && stored->encoder == encoder_fingerprint_ && stored->events >= s.encoded)
    return;
  if (!store_->user(user)) return;  // erased meanwhile
  store_->put_state(user, {encoder_fingerprint_, s.encoded, write_encoder_state(s.encoder, s.embedding)});
}

std::shared_ptr<UserState> Service::state_of(const std::string& user) {
  if (auto s = users_.find(user)) return s;
  auto s = std::make_shared<UserState>();
  if (run_.model->encoder)
    if (auto b = store_->state(user); b && b->encoder == encoder_fingerprint_) {
      try {
        s->encoder = read_encoder_state(b->bytes, run_.model->encoder->options(), &s->embedding);
        const auto dev = run_.model->llm->device();
        for (auto& c : s->encoder.caches)
          for (size_t l = 0; l < c.k.size(); ++l) c.k[l] = c.k[l].to(dev), c.v[l] = c.v[l].to(dev);
        s->embedding = s->embedding.to(dev);
        s->encoded = b->events;
      } catch (const Error& e) {
        spdlog::warn("user {}: cached encoder state unusable ({}); recomputing from the events", user, e.what());
        s->encoder = {};
        s->embedding = torch::Tensor();
      }
    }
  for (auto& [u, old] : users_.put(user, s)) persist(u, *old);
  return s;
}

void Service::catch_up_encoder(const std::string& user, UserState& s) {
  auto info = store_->user(user);
  if (!info || !run_.model->encoder) return;
  if (s.encoded > info->events || (s.encoded > 0 && !s.embedding.defined())) s.encoder = {}, s.encoded = 0;
  if (s.encoded == info->events) return;
  torch::NoGradGuard ng;
  const auto dev = run_.model->llm->device();
  for (const StoredEvent& e : store_->events(user, s.encoded)) {
    std::vector<int64_t> row(e.tokens.begin(), e.tokens.end());
    auto t = torch::tensor(row, torch::kLong).view({1, -1}).to(dev);
    s.embedding = run_.model->encoder->step(t, s.encoder)[0];
    ++s.encoded;
  }
}

void Service::refresh_context(const std::string& user, UserState& s) {
  auto info = store_->user(user);
  if (!info) throw RequestError(404, "user \"" + user + "\" is not in the store");
  if (s.context_version == info->version) return;
  torch::NoGradGuard ng;
  const int64_t L = run_.options.history;
  std::vector<StoredEvent> events = store_->last_events(user, L);
  s.lines.clear();
  s.context = s.context_mask = torch::Tensor();
  if (run_.model->options().integration == IntegrationKind::kText) {
    for (const auto& e : events) s.lines.push_back(catalogue_->text_line(e.tokens));
  } else if (!events.empty()) {
    const int64_t F = int64_t(events[0].tokens.size());
    auto history = torch::zeros({1, int64_t(events.size()), F}, torch::kLong);
    auto* h = history.data_ptr<int64_t>();
    for (size_t i = 0; i < events.size(); ++i)
      for (int64_t f = 0; f < F; ++f) h[int64_t(i) * F + f] = events[i].tokens[size_t(f)];
    const auto dev = run_.model->llm->device();
    auto valid = torch::ones({1, int64_t(events.size())}, torch::TensorOptions(torch::kBool));
    std::tie(s.context, s.context_mask) = run_.model->user_context(history.to(dev), valid.to(dev));
  }
  s.context_version = info->version;
}

nlohmann::json Service::embedding(const std::string& user) {
  if (!run_.model->encoder) throw RequestError(400, "a text-integration run has no user encoder");
  nlohmann::json out;
  engine_->run([&] {
    if (!store_->user(user)) throw RequestError(404, "user \"" + user + "\" is not in the store");
    auto s = state_of(user);
    catch_up_encoder(user, *s);
    auto e = s->embedding.to(torch::kCPU, torch::kFloat).contiguous();
    std::vector<float> v(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    out = {{"user", user}, {"events", s->encoded}, {"dim", e.numel()}, {"embedding", v}};
  });
  return out;
}

Prefill Service::prefill_for(const CompletionRequest& r, int64_t* prompt_tokens, int64_t* user_vectors,
                             int64_t* max_tokens) {
  torch::NoGradGuard ng;
  const auto integration = run_.model->options().integration;
  std::shared_ptr<UserState> s;
  if (!r.user.empty()) {
    s = state_of(r.user);
    refresh_context(r.user, *s);
  }
  const std::vector<std::string> no_lines;
  const std::vector<std::string>& lines = s ? s->lines : no_lines;
  const llm::Tokenizer& tok = *run_.tokenizer;
  std::vector<int64_t> ids;
  if (!r.messages) {
    try {
      ids = tasks::encode_request(tok, r.prompt, "", lines, run_.prompt).prompt;
    } catch (const Error& e) {
      throw RequestError(400, std::string("prompt: ") + e.what());
    }
  } else {
    nlohmann::ordered_json messages = *r.messages;
    auto render = [&](const nlohmann::ordered_json& m) {
      try {
        auto t = tok.encode(chat_->render(m, true), false);
        return std::vector<int64_t>(t.begin(), t.end());
      } catch (const Error& e) {
        throw RequestError(400, std::string("messages: ") + e.what());
      }
    };
    ids = render(messages);
    if (integration == IntegrationKind::kText && !lines.empty()) {
      // The text run's history goes first, as a system message, in what the conversation leaves.
      const int64_t budget = run_.prompt.context - int64_t(ids.size()) - run_.prompt.answer_reserve - 16;
      tasks::RenderedHistory h = tasks::render_history(lines, tok, std::max<int64_t>(0, budget));
      if (h.kept > 0) {
        messages.insert(messages.begin(), {{"role", "system"}, {"content", "The user's history: " + h.text}});
        ids = render(messages);
      }
    }
  }
  const int64_t ctx = run_.prompt.context;
  Prefill p;
  int64_t positions = int64_t(ids.size());
  auto t = torch::tensor(ids, torch::kLong).view({1, -1}).to(run_.model->llm->device());
  if (s && s->context.defined()) {
    *user_vectors = s->context_mask.sum().item<int64_t>();
    if (integration == IntegrationKind::kSoftPrompt) {
      auto packed = bridge::pack_soft_prompt(s->context, s->context_mask, run_.model->llm->embed(t), {});
      p.embeds = packed.embeds;
      p.key_mask = packed.key_mask;
      positions += s->context.size(1);
    } else {
      p.ids = t;
      p.context = s->context;
      p.context_mask = s->context_mask;
    }
  } else {
    p.ids = t;
  }
  if (ids.empty() || positions >= ctx)
    throw RequestError(400, "prompt: " + std::to_string(positions) + " positions leave no room to generate in the model's context of " +
                                std::to_string(ctx));
  *prompt_tokens = int64_t(ids.size());
  *max_tokens = std::min<int64_t>(*max_tokens, ctx - positions);
  return p;
}

bool Service::complete(CompletionRequest r, std::function<void(Completion)> on_done) {
  struct Shared {
    CompletionRequest r;
    TextStream text;
    Completion c;
    int32_t prev = -1;
  };
  auto sh = std::make_shared<Shared>();
  sh->r = std::move(r);
  sh->text = TextStream(sh->r.stop);
  const llm::Tokenizer& tok = *run_.tokenizer;
  Generation g;
  g.max_tokens = sh->r.max_tokens;
  g.sampling = sh->r.sampling;
  if (tok.eos_id() >= 0 && !sh->r.ignore_eos) g.stop_tokens.push_back(tok.eos_id());
  g.deadline = sh->r.deadline;
  g.prepare = [this, sh](int64_t& max_tokens) {
    return prefill_for(sh->r, &sh->c.prompt_tokens, &sh->c.user_vectors, &max_tokens);
  };
  g.on_token = [sh, &tok](int64_t t) {
    ++sh->c.completion_tokens;
    const std::string piece = sh->prev < 0 ? tok.decode({int32_t(t)}) : tok.decode_token(sh->prev, int32_t(t));
    sh->prev = int32_t(t);
    const std::string ready = sh->text.push(piece);
    if (!ready.empty() && sh->r.on_text && !sh->r.on_text(ready)) return false;
    return !sh->text.stopped();
  };
  g.on_done = [sh, on_done](GenerationOutcome o) {
    Completion& c = sh->c;
    const std::string tail = sh->text.finish();
    if (!tail.empty() && sh->r.on_text && o.finish_reason != "cancelled") sh->r.on_text(tail);
    c.text = sh->text.text();
    c.finish_reason = sh->text.stopped() ? "stop" : o.finish_reason;
    c.error = o.error;
    c.status = o.finish_reason == "error" ? o.status : o.finish_reason == "timeout" ? 504 : 200;
    c.first_token_s = o.first_token_s;
    on_done(std::move(c));
  };
  return engine_->submit(std::move(g));
}

nlohmann::json Service::recommend(const std::string& user, int64_t k) {
  if (!trie_)
    throw RequestError(400, std::string("this run was fine-tuned for ") + tasks::task_name(run_.options.task) +
                                "; recommendations need a next-item run");
  nlohmann::json items = nlohmann::json::array();
  engine_->run([&] {
    auto s = state_of(user);
    refresh_context(user, *s);
    tasks::EncodedExample e;
    try {
      e = tasks::encode_request(*run_.tokenizer, tasks::next_item_instruction(*run_.dataset), "", s->lines, run_.prompt);
    } catch (const Error& err) {
      throw RequestError(400, err.what());
    }
    eval::UserSide u;
    u.context = s->context;
    u.mask = s->context_mask;
    if (run_.model->options().integration != IntegrationKind::kText && !u.context.defined())
      throw RequestError(400, "user \"" + user + "\" has no events");
    eval::LlamaPrefix prefix = eval::read_prompt(run_.model, e, u, int64_t(longest_title_));
    eval::BeamOptions bo;
    bo.top_k = int(k);
    bo.beam = std::max<int>(10, int(k));
    bo.max_steps = int(longest_title_);
    for (const auto& b : eval::constrained_beam_search(prefix, *trie_, bo))
      for (int64_t item : b.items)
        if (int64_t(items.size()) < k)
          items.push_back({{"item", catalogue_->item_key(uint32_t(item))},
                           {"title", std::string(run_.dataset->item_title(uint32_t(item)))},
                           {"score", b.score}});
  });
  return items;
}

}  // namespace userllm::serve
