// Request bodies, checked field by field: each getter throws RequestError(400)
// naming the field and what was expected. No HTTP here, so the parsers can be
// tested and fuzzed on their own.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/http/server.h"
#include "serve/request_error.h"
#include "serve/requests.h"

namespace userllm::serve {

// The body as a JSON object: valid UTF-8, within the size bound, an object at the top.
nlohmann::json parse_body(std::string_view body, const ServerOptions& o);

// A user id from the path: 1..256 bytes of printable UTF-8.
std::string check_user_id(const std::string& user);

std::vector<EventInput> parse_events(const nlohmann::json& body, const ServerOptions& o);

// /v1/completions and /v1/chat/completions: everything but on_text and the deadline.
struct ParsedCompletion {
  CompletionRequest request;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};
ParsedCompletion parse_completion(const nlohmann::json& body, bool chat, const ServerOptions& o);

struct ParsedRecommendation {
  std::string user;
  int64_t k = 10;
};
ParsedRecommendation parse_recommendation(const nlohmann::json& body, const ServerOptions& o);

}  // namespace userllm::serve
