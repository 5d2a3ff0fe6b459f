// The request parsers on their own: OpenAI defaults and field checks, and a
// bounded random mutation of valid bodies that may only ever be refused with
// a RequestError (never another exception, a crash or a hang).
#include <gtest/gtest.h>

#include <random>

#include "serve/http/request_fields.h"

using namespace userllm::serve;
using nlohmann::json;

TEST(RequestFields, CompletionDefaultsAndFields) {
  ServerOptions o;
  auto p = parse_completion(json{{"prompt", "hi"}}, false, o);
  EXPECT_EQ(p.request.prompt, "hi");
  EXPECT_EQ(p.request.max_tokens, 16);
  EXPECT_FLOAT_EQ(p.request.sampling.temperature, 1.0f);  // OpenAI's default
  EXPECT_FALSE(p.stream);
  p = parse_completion(json{{"prompt", {"one"}}, {"max_tokens", 5.0}, {"temperature", 0}, {"top_p", 0.5}, {"top_k", 3},
                            {"seed", 42}, {"stop", "\n"}, {"stream", true}, {"stream_options", {{"include_usage", true}}},
                            {"user", "u"}},
                       false, o);
  EXPECT_EQ(p.request.prompt, "one");
  EXPECT_EQ(p.request.max_tokens, 5);
  EXPECT_EQ(p.request.sampling.seed, 42u);
  EXPECT_EQ(p.request.sampling.top_k, 3);
  EXPECT_EQ(p.request.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  EXPECT_EQ(p.request.user, "u");
  p = parse_completion(json{{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}},
                            {"max_completion_tokens", 7}},
                       true, o);
  EXPECT_EQ((*p.request.messages)[0]["content"], "ab");
  EXPECT_EQ(p.request.max_tokens, 7);
  auto refused = [&](const json& body, bool chat, const std::string& field) {
    try {
      parse_completion(body, chat, o);
      ADD_FAILURE() << body.dump() << " was accepted";
    } catch (const RequestError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(std::string(e.what()).rfind(field, 0), 0u) << e.what();
    }
  };
  refused(json{{"prompt", {"a", "b"}}}, false, "prompt");
  refused(json{{"prompt", "a"}, {"max_tokens", 2.5}}, false, "max_tokens");
  refused(json{{"prompt", "a"}, {"max_tokens", 0}}, false, "max_tokens");
  refused(json{{"prompt", "a"}, {"n", 2}}, false, "n");
  refused(json{{"prompt", "a"}, {"stop", {"a", "b", "c", "d", "e"}}}, false, "stop");
  refused(json{{"prompt", "a"}, {"user", ""}}, false, "user");
  refused(json{{"prompt", "a"}, {"stream", "yes"}}, false, "stream");
  refused(json{{"prompt", std::string(o.max_string_bytes + 1, 'x')}}, false, "prompt");
  refused(json{{"messages", json::array()}}, true, "messages");
  refused(json{{"messages", {{{"role", "user"}, {"content", 3}}}}}, true, "messages[0].content");
  refused(json{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}, true, "messages[0].content[0]");
  EXPECT_THROW(check_user_id(std::string("a\x01b")), RequestError);
  EXPECT_THROW(check_user_id(std::string(257, 'a')), RequestError);
}

TEST(RequestFields, EventsAreCheckedOneByOne) {
  ServerOptions o;
  o.max_events_per_post = 3;
  auto ev = parse_events(json{{"events", {{{"item", 42}, {"timestamp", 7}, {"rating", 3.5}, {"text", "t"}, {"id", "x"}}}}}, o);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].item, "42");
  EXPECT_EQ(*ev[0].rating, 3.5);
  EXPECT_THROW(parse_events(json{{"events", json::array({json{{"item", "a"}, {"timestamp", 1}}, json{{"item", "a"}, {"timestamp", 1}},
                                                          json{{"item", "a"}, {"timestamp", 1}}, json{{"item", "a"}, {"timestamp", 1}}})}},
                            o),
               RequestError);
  EXPECT_THROW(parse_events(json{{"events", {{{"item", "a"}, {"timestamp", -1}}}}}, o), RequestError);
  EXPECT_THROW(parse_events(json{{"events", {{{"item", "a"}, {"timestamp", 1}, {"rating", "high"}}}}}, o), RequestError);
  EXPECT_THROW(parse_events(json{{"events", {{{"timestamp", 1}}}}}, o), RequestError);
  EXPECT_THROW(parse_body("{\"a\": 1} trailing", o), RequestError);
  EXPECT_THROW(parse_body("\"just a string\"", o), RequestError);
}

TEST(RequestFields, MutatedBodiesAreOnlyEverRefusedCleanly) {
  ServerOptions o;
  const std::vector<std::string> seeds = {
      R"({"events": [{"item": "1", "rating": 4.5, "timestamp": 1700000000, "text": "x", "id": "e1"}]})",
      R"({"model": "m", "prompt": "Hello", "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "stop": ["\n"], "stream": true, "user": "u"})",
      R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}], "seed": 3})",
      R"({"user": "alice", "k": 10})"};
  const std::string alphabet = "{}[]\",:0123456789.-+eE truefalsnul\\\x80\xff\n";
  std::mt19937_64 rng(1);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seeds[size_t(i) % seeds.size()];
    for (int m = 0, n = 1 + int(rng() % 4); m < n && !body.empty(); ++m) {
      const size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0: body[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: body.erase(at, 1 + rng() % 4); break;
        default: body.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    try {
      json j = parse_body(body, o);
      switch (i % 4) {
        case 0: parse_events(j, o); break;
        case 1: parse_completion(j, false, o); break;
        case 2: parse_completion(j, true, o); break;
        default: parse_recommendation(j, o);
      }
      ++accepted;
    } catch (const RequestError& e) {
      EXPECT_GE(e.status, 400);
      EXPECT_LT(e.status, 500);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);  // one line
    }
  }
  EXPECT_GT(accepted, 100);  // the mutations leave many bodies valid: the accepting paths ran too
}
