// Hugging Face chat templates: renders tokenizer_config.json's `chat_template`
// to the exact text transformers' apply_chat_template produces (its jinja2
// ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loopcontrols,
// raise_exception, tojson and strftime_now), with our own Jinja interpreter.
//
// Supported: text, {{ }}, {# #}, {% raw %}, whitespace control (- and +), if/elif/else,
// for (with `if` filter, else, loop.*, break/continue), set (also ns.attr and block
// set with filters), macro (defaults, varargs, kwargs), with, filter blocks, print,
// HF's {% generation %}; jinja2's expressions, filters and tests (see jinja_filters.cpp)
// and the methods of str, dict and list that the sandbox allows.
// Refused at parse time, by name: extends, block, include, import, from, call,
// autoescape, do, recursive loops, unknown filters and tests.
// Known differences from Python: integers are 64-bit (overflow fails), str.upper()
// and friends know only the common scripts, Markup's auto-escaping of `+` is not
// modelled, dict.items()/range() print as lists, and the cycler/lipsum globals are
// absent. Hostile templates fail cleanly: output and strings are capped at 16 MiB,
// loops at 1M iterations, total work and nesting are bounded (jinja_value.h).
#pragma once
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace userllm::llm {

namespace jinja {
struct Template;
}

struct ChatMessage {
  std::string role;
  nlohmann::ordered_json content;  // a string, or a list of {"type": "text", "text": ...} parts
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // other keys: tool_calls, reasoning_content, name...
};
nlohmann::ordered_json to_json(const std::vector<ChatMessage>& messages);

// For models without a template: each message as "<|role|>\n" + content + "\n", then
// "<|assistant|>\n" when a generation prompt is asked for. List contents join their text parts.
extern const char* const kPlainChatTemplate;

class ChatTemplate {
 public:
  // Reads chat_template (a string, or a list of {name, template}: the "default" one; or,
  // where the config has none, chat_template.jinja beside it) and bos_token/eos_token
  // (a string or {"content": ...}; absent or null leaves the variable undefined).
  // Fails with "FILE: no chat_template" and the like.
  static ChatTemplate from_tokenizer_config(const std::filesystem::path& path);
  // A model directory's template: its tokenizer_config.json's (or chat_template.jinja),
  // else the plain one with the config's BOS / EOS; *plain, if given, says which.
  static ChatTemplate for_model(const std::filesystem::path& dir, bool* plain = nullptr);
  static ChatTemplate plain(std::optional<std::string> bos_token = std::nullopt,
                            std::optional<std::string> eos_token = std::nullopt);

  // Parses once; a syntax error fails with "chat template: line L col C: what was expected".
  ChatTemplate(std::string source, std::optional<std::string> bos_token, std::optional<std::string> eos_token);

  // messages: a JSON list of objects with at least role and content (key order is kept,
  // as Python dicts keep it; a nlohmann::json converts, with its keys sorted).
  // extra_vars: more template variables (tools, documents, enable_thinking, date_string...);
  // tools and documents are None unless given, as in transformers.
  // Fails with "chat template: line L: ..." when the template raises or misbehaves.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra_vars = nlohmann::ordered_json::object()) const;
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra_vars = nlohmann::ordered_json::object()) const;

  const std::string& source() const { return source_; }
  const std::optional<std::string>& bos_token() const { return bos_; }
  const std::optional<std::string>& eos_token() const { return eos_; }

 private:
  std::string source_;
  std::optional<std::string> bos_, eos_;
  std::shared_ptr<const jinja::Template> parsed_;
};

}  // namespace userllm::llm
