// What the HTTP front hands the service: the parsed requests. No libtorch
// here, so the request parsers (serve/http/request_fields) build and fuzz light.
#pragma once
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "llm/sampling_params.h"

namespace userllm::serve {

using Clock = std::chrono::steady_clock;

struct EventInput {
  std::string item;  // source item id or exact title
  std::optional<double> rating;
  int64_t timestamp = 0;
  std::string text, id;
};

struct CompletionRequest {
  std::string user;                     // "" = no user context
  std::string prompt;                   // completions: the instruction text
  std::optional<nlohmann::ordered_json> messages;  // chat: the conversation (rendered by the chat template)
  int64_t max_tokens = 16;
  llm::SamplingParams sampling;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // generate max_tokens whatever the model says (benchmarks; llama.cpp's flag)
  Clock::time_point deadline = Clock::time_point::max();
  // Text as it becomes final (stop strings and split UTF-8 held back), engine thread; false = client gone.
  std::function<bool(const std::string& piece)> on_text;
};

}  // namespace userllm::serve
