// userllm serve in-process on loopback: the user store and its embeddings, served
// completions against the offline path, streaming, batching, auth and bad input.
#include <gtest/gtest.h>

#include <future>

#include "eval/request.h"
#include "serve_fixture.h"
#include "tasks/batch.h"

using namespace userllm;
using nlohmann::json;

namespace {

// One user's events as the API takes them: the dataset's events [begin, end).
json events_of(const data::Dataset& ds, uint64_t begin, uint64_t end) {
  const int itf = ds.field_index("item"), rf = ds.field_index("rating");
  json out = json::array();
  for (uint64_t e = begin; e < end; ++e) {
    json x = {{"item", std::string(ds.token(itf, ds.column(itf)[e]))}, {"timestamp", ds.timestamps()[e]}};
    const uint32_t r = ds.column(rf)[e];
    if (r > data::kOovId) x["rating"] = std::stod(std::string(ds.token(rf, r)));
    out.push_back(x);
  }
  return out;
}

// The offline answer: evaluation's greedy decoding for the test example of `user`.
struct Offline {
  std::string text;
  int64_t tokens = 0;
  tasks::Example ex;
};
Offline offline_answer(train::LoadedRun& r, uint32_t user, int64_t max_new) {
  auto examples = tasks::build_examples(*r.dataset, train::task_options(r.options), data::Split::kTest);
  for (const auto& ex : examples) {
    if (ex.user != user) continue;
    auto enc = tasks::encode_example(*r.dataset, *r.tokenizer, ex, r.prompt);
    auto u = eval::user_side(r.model, r.events.get(), enc);
    auto prefix = eval::read_prompt(r.model, enc, u, max_new);
    auto ids = eval::greedy_decode(prefix, max_new, r.tokenizer->eos_id());
    return {r.tokenizer->decode(std::vector<int32_t>(ids.begin(), ids.end())), int64_t(ids.size()), ex};
  }
  ADD_FAILURE() << "no test example for user " << user;
  return {};
}

}  // namespace

TEST(Serve, PostedEventsGiveTheEmbeddingOfAFullEncode) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  test::TestServer s(runs.runs.at("cross-attention"), dir / "users.sqlite", /*seed=*/false);
  auto& run = s.service->run();
  const data::Dataset& ds = *run.dataset;
  const uint32_t u = 3;
  const json all = events_of(ds, ds.user_begin(u), ds.user_end(u));
  // In several posts, so the state is brought up to date between them.
  int posts = 0;
  for (size_t at = 0; at < all.size(); ++posts) {
    const size_t n = std::min<size_t>(all.size() - at, at == 0 ? 5 : 9);
    json part(all.begin() + long(at), all.begin() + long(at + n));
    auto r = s.post("/v1/users/new-user/events", {{"events", part}});
    ASSERT_EQ(r.status, at == 0 ? 201 : 200) << r.body;
    EXPECT_EQ(body_json(r).at("events"), at + n);
    at += n;
    auto e = s.get("/v1/users/new-user/embedding");
    ASSERT_EQ(e.status, 200) << e.body;
    EXPECT_EQ(body_json(e).at("events"), at);
  }
  auto e = body_json(s.get("/v1/users/new-user/embedding"));
  // The same history through the encoder's full forward (the sliding-window rule at any length).
  const encoder::Events& ev = *run.events;
  const int64_t L = int64_t(ds.user_end(u) - ds.user_begin(u)), F = ev.num_fields();
  auto rows = torch::zeros({1, L, F}, torch::kLong);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t f = 0; f < F; ++f) rows[0][i][f] = int64_t(ev.event(ds.user_begin(u) + uint64_t(i))[f]);
  torch::Tensor want;
  {
    torch::NoGradGuard ng;
    encoder::UserEncoder enc = run.model->encoder;
    want = enc->forward(rows, torch::ones({1, L}, torch::kBool))[0][L - 1];
  }
  auto got = torch::tensor(e.at("embedding").get<std::vector<float>>());
  ASSERT_EQ(got.numel(), want.numel());
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-5);

  auto info = body_json(s.get("/v1/users/new-user"));
  EXPECT_EQ(info.at("events"), L);
  EXPECT_EQ(info.at("embedding_version"), posts);
  EXPECT_EQ(info.at("last_timestamp"), ds.timestamps()[ds.user_end(u) - 1]);
}

TEST(Serve, ServedGreedyCompletionEqualsTheOfflineAnswer) {
  auto& runs = test::serve_runs();
  for (const char* integration : {"cross-attention", "soft-prompt", "text"}) {
    SCOPED_TRACE(integration);
    test::ScratchDir dir;
    test::TestServer s(runs.runs.at(integration), dir / "users.sqlite", false);
    auto offline_run = train::load_run(runs.runs.at(integration));
    for (uint32_t u : {1u, 6u}) {
      Offline want = offline_answer(offline_run, u, 6);
      const data::Dataset& ds = *offline_run.dataset;
      const std::string user = "probe-" + std::to_string(u);
      ASSERT_EQ(s.post("/v1/users/" + user + "/events", {{"events", events_of(ds, want.ex.begin, want.ex.end)}}).status, 201);
      auto r = s.post("/v1/completions", {{"model", "x"}, {"prompt", want.ex.prompt}, {"user", user},
                                          {"max_tokens", 6}, {"temperature", 0}});
      ASSERT_EQ(r.status, 200) << r.body;
      auto j = body_json(r);
      EXPECT_EQ(j.at("choices")[0].at("text"), want.text);
      EXPECT_EQ(j.at("usage").at("completion_tokens"), want.tokens);
      EXPECT_EQ(j.at("object"), "text_completion");
      if (std::string(integration) != "text") {
        EXPECT_GT(j.at("usage").at("user_vectors").get<int>(), 0);
      }
    }
  }
}

TEST(Serve, StreamedTokensEqualNonStreamedAndUsersNeverMix) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  test::TestServer s(runs.runs.at("cross-attention"), dir / "users.sqlite", true);
  const json base = {{"prompt", "Based on the user's history, the next"}, {"max_tokens", 12}, {"temperature", 0.8},
                     {"seed", 5}};
  auto ask = [&](const std::string& user, bool stream) {
    json b = base;
    b["user"] = user;
    b["stream"] = stream;
    return s.post("/v1/completions", b);
  };
  auto streamed_text = [](const test::HttpResponse& r) {
    std::string text;
    bool done = false;
    for (size_t at = 0; at < r.body.size();) {
      size_t end = r.body.find("\n\n", at);
      if (end == std::string::npos) break;
      std::string ev = r.body.substr(at, end - at);
      at = end + 2;
      EXPECT_EQ(ev.compare(0, 6, "data: "), 0) << ev;
      if (ev == "data: [DONE]") {
        done = true;
        continue;
      }
      auto j = json::parse(ev.substr(6));
      text += j.at("choices")[0].at("text").get<std::string>();
    }
    EXPECT_TRUE(done);
    return text;
  };
  const auto& ds = *s.service->run().dataset;
  const std::string a(ds.user_key(2)), b(ds.user_key(9));
  auto ra = ask(a, false), rb = ask(b, false);
  ASSERT_EQ(ra.status, 200) << ra.body;
  const std::string want_a = body_json(ra).at("choices")[0].at("text"), want_b = body_json(rb).at("choices")[0].at("text");
  auto sa = ask(a, true);
  ASSERT_EQ(sa.status, 200) << sa.body;
  EXPECT_EQ(sa.headers["content-type"].rfind("text/event-stream", 0), 0u);
  EXPECT_EQ(streamed_text(sa), want_a);
  // Interleaved: both users' requests in flight together, several times over.
  std::vector<std::future<test::HttpResponse>> inflight;
  for (int i = 0; i < 3; ++i) {
    inflight.push_back(std::async(std::launch::async, [&, i] { return ask(a, i % 2 == 0); }));
    inflight.push_back(std::async(std::launch::async, [&, i] { return ask(b, i % 2 == 1); }));
  }
  for (int i = 0; i < 6; ++i) {
    auto r = inflight[size_t(i)].get();
    ASSERT_EQ(r.status, 200) << r.body;
    const bool stream = (i % 2 == 0) == ((i / 2) % 2 == 0);
    const std::string text = stream ? streamed_text(r) : body_json(r).at("choices")[0].at("text").get<std::string>();
    EXPECT_EQ(text, i % 2 == 0 ? want_a : want_b) << "request " << i;
  }
}

TEST(Serve, ChatRecommendationsModelsAndMetrics) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  test::TestServer s(runs.runs.at("soft-prompt"), dir / "users.sqlite", true);
  const auto& ds = *s.service->run().dataset;
  const std::string user(ds.user_key(4));
  auto r = s.post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hello"}}}}, {"user", user},
                                           {"max_tokens", 4}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j.at("object"), "chat.completion");
  EXPECT_EQ(j.at("choices")[0].at("message").at("role"), "assistant");
  EXPECT_LE(j.at("usage").at("completion_tokens").get<int>(), 4);

  r = s.post("/v1/recommendations", {{"user", user}, {"k", 5}});
  ASSERT_EQ(r.status, 200) << r.body;
  j = body_json(r);
  ASSERT_EQ(j.at("data").size(), 5u);
  for (const auto& item : j.at("data")) EXPECT_TRUE(s.service->run().dataset->lookup(0, item.at("item").get<std::string>()));
  EXPECT_GE(j.at("data")[0].at("score").get<double>(), j.at("data")[4].at("score").get<double>());

  j = body_json(s.get("/v1/models"));
  EXPECT_EQ(j.at("data")[0].at("integration"), "soft-prompt");
  EXPECT_EQ(j.at("data")[0].at("history"), 8);
  const std::string m = s.get("/metrics").body;
  EXPECT_NE(m.find("userllm_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("# TYPE userllm_request_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(m.find("userllm_store_users 16"), std::string::npos);
}

TEST(Serve, ApiKeyGuardsEveryRouteButHealth) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  serve::ServerOptions o;
  o.api_key = "sekret-key";
  test::TestServer s(runs.runs.at("text"), dir / "users.sqlite", false, o);
  EXPECT_EQ(s.get("/health").status, 200);
  EXPECT_EQ(s.get("/v1/models").status, 401);
  EXPECT_EQ(s.get("/v1/models", "Authorization: Bearer wrong-key\r\n").status, 401);
  EXPECT_EQ(s.get("/v1/models", "Authorization: Bearer sekret-ke\r\n").status, 401);
  EXPECT_EQ(s.get("/metrics").status, 401);
  EXPECT_EQ(s.post("/v1/completions", {{"prompt", "x"}}).status, 401);
  EXPECT_EQ(s.get("/v1/models", "Authorization: Bearer sekret-key\r\n").status, 200);
}

TEST(Serve, BadInputGetsItsStatusAndChangesNothing) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  serve::ServerOptions o;
  o.max_body_bytes = 4096;
  test::TestServer s(runs.runs.at("cross-attention"), dir / "users.sqlite", false, o);
  const auto& ds = *s.service->run().dataset;
  const std::string item(ds.token(0, 2));
  ASSERT_EQ(s.post("/v1/users/u1/events", {{"events", {{{"item", item}, {"timestamp", 100}, {"id", "e1"}}}}}).status, 201);
  auto expect = [&](const test::HttpResponse& r, int status, const std::string& names) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_NE(r.body.find(names), std::string::npos) << r.body;
  };
  const std::string ev = "/v1/users/u1/events";
  expect(s.post(ev, {{"events", {{{"item", item}, {"timestamp", 200}}, {{"item", "no such item"}, {"timestamp", 300}}}}}), 400,
         "events[1].item");
  expect(s.post(ev, {{"events", {{{"item", item}, {"timestamp", 200}, {"rating", 4.3}}}}}), 400, "events[0].rating");
  expect(s.post(ev, {{"events", {{{"item", item}, {"timestamp", "noon"}}}}}), 400, "events[0].timestamp");
  expect(s.post(ev, {{"events", {{{"item", item}, {"timestamp", 50}}}}}), 400, "earlier");
  expect(s.post(ev, {{"events", {{{"item", item}, {"timestamp", 200}, {"colour", 1}}}}}), 400, "unknown field");
  expect(s.post(ev, {{"events", json::array()}}), 400, "events");
  expect(s.post_raw(ev, "{\"events\": [}"), 400, "not valid JSON");
  expect(s.post_raw(ev, "{\"events\": \"\xff\xfe\"}"), 400, "UTF-8");
  expect(s.post_raw(ev, "[1, 2]"), 400, "JSON object");
  expect(s.post_raw(ev, std::string(5000, ' ')), 413, "");
  // Nothing of the refused posts was applied; a retried id is not duplicated.
  auto info = body_json(s.get("/v1/users/u1"));
  EXPECT_EQ(info.at("events"), 1);
  EXPECT_EQ(info.at("embedding_version"), 1);
  auto r = s.post(ev, {{"events", {{{"item", item}, {"timestamp", 100}, {"id", "e1"}}}}});
  EXPECT_EQ(body_json(r).at("accepted"), 0);
  EXPECT_EQ(body_json(r).at("events"), 1);

  const std::string c = "/v1/completions";
  expect(s.post(c, {{"prompt", "x"}, {"max_tokens", "ten"}}), 400, "max_tokens");
  expect(s.post(c, {{"prompt", "x"}, {"max_tokens", 100000}}), 400, "max_tokens");
  expect(s.post(c, {{"prompt", "x"}, {"temperature", 5}}), 400, "temperature");
  expect(s.post(c, {{"prompt", "x"}, {"top_p", 0}}), 400, "top_p");
  expect(s.post(c, {{"prompt", 7}}), 400, "prompt");
  expect(s.post(c, {{"max_tokens", 3}}), 400, "prompt");
  expect(s.post(c, {{"prompt", "x"}, {"user", "nobody"}}), 404, "nobody");
  expect(s.post(c, {{"prompt", "x"}, {"stop", {1, 2}}}), 400, "stop[0]");
  expect(s.post("/v1/chat/completions", {{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}), 400, "messages[0].role");
  expect(s.post("/v1/recommendations", {{"user", "u1"}, {"k", 0}}), 400, "k");
  expect(s.get("/v1/users/nobody"), 404, "nobody");
  EXPECT_EQ(s.http_delete("/v1/users/nobody").status, 404);
  // A prompt longer than the context.
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "movie ";
  expect(s.post(c, {{"prompt", long_prompt}}), 400, "prompt");
  EXPECT_EQ(s.get("/health").status, 200);  // still serving
  r = s.post(c, {{"prompt", "The"}, {"max_tokens", 2}, {"user", "u1"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.http_delete("/v1/users/u1").status, 200);
  EXPECT_EQ(s.get("/v1/users/u1").status, 404);
}

TEST(Serve, AFullQueueAnswers503WithRetryAfter) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  serve::ServiceOptions so;
  so.engine.max_batch = 1;
  so.engine.max_queue = 1;
  test::TestServer s(runs.runs.at("text"), dir / "users.sqlite", false, {}, so);
  std::vector<std::future<test::HttpResponse>> f;
  for (int i = 0; i < 8; ++i)
    f.push_back(std::async(std::launch::async, [&] {
      return s.post("/v1/completions", {{"prompt", "The"}, {"max_tokens", 100}, {"temperature", 0}});
    }));
  int ok = 0, busy = 0;
  for (auto& x : f) {
    auto r = x.get();
    if (r.status == 200) ++ok;
    if (r.status == 503) {
      ++busy;
      EXPECT_EQ(r.headers["retry-after"], "1");
    }
  }
  EXPECT_EQ(ok + busy, 8);
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
}

TEST(Serve, ARequestPastItsDeadlineGets504) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  serve::ServerOptions o;
  o.request_timeout_s = 1e-6;
  test::TestServer s(runs.runs.at("text"), dir / "users.sqlite", false, o);
  auto r = s.post("/v1/completions", {{"prompt", "The"}, {"max_tokens", 8}});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_NE(r.body.find("timed out"), std::string::npos) << r.body;
  EXPECT_EQ(s.get("/health").status, 200);
}
