#include "serve/http/request_fields.h"

#include <cmath>
#include <random>

#include "data/latin1.h"

namespace userllm::serve {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& what) { throw RequestError(400, field + ": " + what); }

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "a number";
  }
}

const json* find(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const json& v, const std::string& field, const ServerOptions& o, bool allow_empty = true) {
  if (!v.is_string()) bad(field, std::string("expected a string, got ") + type_name(v));
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() > o.max_string_bytes) bad(field, "longer than " + std::to_string(o.max_string_bytes) + " bytes");
  if (!allow_empty && s.empty()) bad(field, "must not be empty");
  return s;
}

int64_t get_int(const json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) bad(field, "out of range");
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) bad(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
    return x;
  }
  if (v.is_number_float()) {  // 16.0 is fine, 16.5 is not
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && d >= double(lo) && d <= double(hi)) return int64_t(d);
  }
  bad(field, std::string("expected an integer in [") + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + type_name(v));
}

double get_number(const json& v, const std::string& field, double lo, double hi) {
  if (!v.is_number()) bad(field, std::string("expected a number, got ") + type_name(v));
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) bad(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return d;
}

bool get_bool(const json& v, const std::string& field) {
  if (!v.is_boolean()) bad(field, std::string("expected true or false, got ") + type_name(v));
  return v.get<bool>();
}

}  // namespace

json parse_body(std::string_view body, const ServerOptions& o) {
  if (body.size() > o.max_body_bytes) throw RequestError(413, "body: larger than " + std::to_string(o.max_body_bytes) + " bytes");
  if (!data::is_valid_utf8(body)) bad("body", "not valid UTF-8");
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) bad("body", "not valid JSON");
  if (!j.is_object()) bad("body", std::string("expected a JSON object, got ") + type_name(j));
  return j;
}

std::string check_user_id(const std::string& user) {
  if (user.empty() || user.size() > 256) bad("user", "must be 1 to 256 bytes");
  if (!data::is_valid_utf8(user)) bad("user", "not valid UTF-8");
  for (unsigned char c : user)
    if (c < 0x20 || c == 0x7F) bad("user", "contains a control character");
  return user;
}

std::vector<EventInput> parse_events(const json& body, const ServerOptions& o) {
  const json* ev = find(body, "events");
  if (!ev) bad("events", "required");
  if (!ev->is_array()) bad("events", std::string("expected an array, got ") + type_name(*ev));
  if (ev->empty()) bad("events", "must not be empty");
  if (int64_t(ev->size()) > o.max_events_per_post)
    bad("events", "at most " + std::to_string(o.max_events_per_post) + " events per request");
  std::vector<EventInput> out;
  for (size_t i = 0; i < ev->size(); ++i) {
    const json& e = (*ev)[i];
    const std::string at = "events[" + std::to_string(i) + "]";
    if (!e.is_object()) bad(at, std::string("expected an object, got ") + type_name(e));
    for (const auto& [k, v] : e.items())
      if (k != "item" && k != "rating" && k != "timestamp" && k != "text" && k != "id")
        bad(at + "." + json(k).dump(), "unknown field");  // quoted: a key may hold any character
    EventInput x;
    const json* item = find(e, "item");
    if (!item) bad(at + ".item", "required");
    if (item->is_number_integer()) x.item = std::to_string(item->get<int64_t>());  // MovieLens ids as numbers
    else x.item = get_string(*item, at + ".item", o, false);
    if (const json* r = find(e, "rating")) x.rating = get_number(*r, at + ".rating", 0, 10);
    const json* ts = find(e, "timestamp");
    if (!ts) bad(at + ".timestamp", "required");
    x.timestamp = get_int(*ts, at + ".timestamp", 0, int64_t(1) << 40);
    if (const json* t = find(e, "text")) x.text = get_string(*t, at + ".text", o);
    if (const json* id = find(e, "id")) x.id = get_string(*id, at + ".id", o, false);
    out.push_back(std::move(x));
  }
  return out;
}

ParsedCompletion parse_completion(const json& body, bool chat, const ServerOptions& o) {
  ParsedCompletion p;
  CompletionRequest& r = p.request;
  if (const json* m = find(body, "model")) get_string(*m, "model", o);  // one model: any name is it
  if (const json* u = find(body, "user")) r.user = check_user_id(get_string(*u, "user", o, false));
  if (chat) {
    const json* msgs = find(body, "messages");
    if (!msgs) bad("messages", "required");
    if (!msgs->is_array() || msgs->empty()) bad("messages", "expected a non-empty array");
    if (msgs->size() > o.max_messages) bad("messages", "at most " + std::to_string(o.max_messages) + " messages");
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (size_t i = 0; i < msgs->size(); ++i) {
      const json& m = (*msgs)[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) bad(at, std::string("expected an object, got ") + type_name(m));
      const json* role = find(m, "role");
      if (!role) bad(at + ".role", "required");
      const std::string rs = get_string(*role, at + ".role", o, false);
      if (rs != "system" && rs != "user" && rs != "assistant" && rs != "developer" && rs != "tool")
        bad(at + ".role", "must be system, developer, user, assistant or tool");
      const json* content = find(m, "content");
      nlohmann::ordered_json c;
      if (!content) {
        c = "";
      } else if (content->is_string()) {
        c = get_string(*content, at + ".content", o);
      } else if (content->is_array()) {  // [{"type": "text", "text": ...}]
        std::string text;
        for (size_t k = 0; k < content->size(); ++k) {
          const json& part = (*content)[k];
          const std::string pat = at + ".content[" + std::to_string(k) + "]";
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text"))
            bad(pat, "only {\"type\": \"text\", \"text\": ...} parts are supported");
          text += get_string(part["text"], pat + ".text", o);
        }
        c = text;
      } else {
        bad(at + ".content", std::string("expected a string or an array of text parts, got ") + type_name(*content));
      }
      list.push_back({{"role", rs}, {"content", c}});
    }
    r.messages = std::move(list);
  } else {
    const json* prompt = find(body, "prompt");
    if (!prompt) bad("prompt", "required");
    if (prompt->is_array()) {
      if (prompt->size() != 1) bad("prompt", "one prompt per request (an array must hold exactly one string)");
      r.prompt = get_string((*prompt)[0], "prompt[0]", o);
    } else {
      r.prompt = get_string(*prompt, "prompt", o);
    }
  }
  r.max_tokens = 16;
  if (const json* m = find(body, chat && body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens"))
    r.max_tokens = get_int(*m, "max_tokens", 1, o.max_tokens);
  r.sampling.temperature = 1.0f;  // OpenAI's default
  if (const json* t = find(body, "temperature")) r.sampling.temperature = float(get_number(*t, "temperature", 0, 2));
  if (const json* t = find(body, "top_p")) {
    r.sampling.top_p = float(get_number(*t, "top_p", 0, 1));
    if (r.sampling.top_p <= 0) bad("top_p", "must be in (0, 1]");
  }
  if (const json* t = find(body, "top_k")) r.sampling.top_k = get_int(*t, "top_k", 0, 1 << 20);
  if (const json* s = find(body, "seed")) r.sampling.seed = uint64_t(get_int(*s, "seed", INT64_MIN, INT64_MAX));
  else r.sampling.seed = std::random_device{}();
  if (const json* n = find(body, "n"); n && get_int(*n, "n", 1, 1) != 1) bad("n", "only 1 is supported");
  if (const json* st = find(body, "stop")) {
    if (st->is_string()) {
      r.stop.push_back(get_string(*st, "stop", o, false));
    } else if (st->is_array()) {
      if (st->size() > 4) bad("stop", "at most 4 stop strings");
      for (size_t i = 0; i < st->size(); ++i) r.stop.push_back(get_string((*st)[i], "stop[" + std::to_string(i) + "]", o, false));
    } else {
      bad("stop", std::string("expected a string or an array of strings, got ") + type_name(*st));
    }
  }
  if (const json* s = find(body, "stream")) p.stream = get_bool(*s, "stream");
  if (const json* s = find(body, "ignore_eos")) r.ignore_eos = get_bool(*s, "ignore_eos");  // llama.cpp's extension
  if (const json* so = find(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "expected an object");
    if (const json* u = find(*so, "include_usage")) p.include_usage = get_bool(*u, "stream_options.include_usage");
  }
  return p;
}

ParsedRecommendation parse_recommendation(const json& body, const ServerOptions& o) {
  ParsedRecommendation p;
  const json* u = find(body, "user");
  if (!u) bad("user", "required");
  p.user = check_user_id(get_string(*u, "user", o, false));
  if (const json* k = find(body, "k")) p.k = get_int(*k, "k", 1, o.max_k);
  return p;
}

}  // namespace userllm::serve
