#include "llm/chat/chat_template.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/chat/jinja_eval.h"

namespace userllm::llm {
namespace fs = std::filesystem;
using nlohmann::ordered_json;

const char* const kPlainChatTemplate =
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}"
    "{% endif %}"
    "{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

ordered_json to_json(const std::vector<ChatMessage>& messages) {
  ordered_json out = ordered_json::array();
  for (auto& m : messages) {
    ordered_json j = {{"role", m.role}, {"content", m.content}};
    for (auto& [k, v] : m.extra.items()) j[k] = v;
    out.push_back(std::move(j));
  }
  return out;
}

namespace {

// What a tokenizer_config.json says about chat: the template's source (empty
// where there is none) and the BOS / EOS strings templates read.
struct ChatConfig {
  std::string source;
  std::optional<std::string> bos, eos;
};

ChatConfig read_chat_config(const fs::path& path) {
  const std::string where = path.string();
  ordered_json cfg;
  try {
    cfg = ordered_json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(where + ": " + e.what());
  }
  if (!cfg.is_object()) fail(where + ": not a JSON object");
  ChatConfig c;
  const fs::path jinja_file = path.parent_path() / "chat_template.jinja";
  auto it = cfg.find("chat_template");
  if (fs::exists(jinja_file)) {  // transformers lets this file clobber the config's template
    c.source = read_file(jinja_file);
  } else if (it == cfg.end() || it->is_null()) {
    // no template
  } else if (it->is_string()) {
    c.source = it->get<std::string>();
  } else if (it->is_array()) {
    bool found = false;
    for (auto& t : *it)
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
        c.source = t["template"].get<std::string>(), found = true;
    if (!found) fail(where + ": chat_template has no \"default\" entry");
  } else {
    fail(where + ": chat_template is neither a string nor a list of {name, template}");
  }
  auto token = [&](const char* key) -> std::optional<std::string> {
    auto t = cfg.find(key);
    if (t == cfg.end() || t->is_null()) return std::nullopt;
    if (t->is_string()) return t->get<std::string>();
    if (t->is_object() && t->contains("content") && (*t)["content"].is_string()) return (*t)["content"].get<std::string>();
    fail(where + ": " + key + " is neither a string nor {\"content\": ...}");
  };
  c.bos = token("bos_token");
  c.eos = token("eos_token");
  return c;
}

ChatTemplate parse_or_fail(const fs::path& path, ChatConfig c) {
  try {
    return ChatTemplate(std::move(c.source), std::move(c.bos), std::move(c.eos));
  } catch (const Error& e) {
    fail(path.string() + ": " + e.what());
  }
}

}  // namespace

ChatTemplate ChatTemplate::from_tokenizer_config(const fs::path& path) {
  ChatConfig c = read_chat_config(path);
  if (c.source.empty()) fail(path.string() + ": no chat_template");
  return parse_or_fail(path, std::move(c));
}

ChatTemplate ChatTemplate::for_model(const fs::path& dir, bool* plain) {
  const fs::path config = dir / "tokenizer_config.json";
  ChatConfig c;
  if (fs::exists(config)) c = read_chat_config(config);
  else if (fs::exists(dir / "chat_template.jinja")) c.source = read_file(dir / "chat_template.jinja");
  if (plain) *plain = c.source.empty();
  if (c.source.empty()) return ChatTemplate::plain(std::move(c.bos), std::move(c.eos));
  return parse_or_fail(config, std::move(c));
}

ChatTemplate ChatTemplate::plain(std::optional<std::string> bos_token, std::optional<std::string> eos_token) {
  return ChatTemplate(kPlainChatTemplate, std::move(bos_token), std::move(eos_token));
}

ChatTemplate::ChatTemplate(std::string source, std::optional<std::string> bos_token, std::optional<std::string> eos_token)
    : source_(std::move(source)), bos_(std::move(bos_token)), eos_(std::move(eos_token)) {
  parsed_ = std::make_shared<const jinja::Template>(jinja::parse(source_));
}

std::string ChatTemplate::render(const ordered_json& messages, bool add_generation_prompt,
                                 const ordered_json& extra_vars) const {
  if (!messages.is_array()) fail("chat template: messages must be a JSON list");
  if (!extra_vars.is_object() && !extra_vars.is_null()) fail("chat template: extra variables must be a JSON object");
  std::vector<std::pair<std::string, jinja::Value>> vars;
  try {
    vars.emplace_back("messages", jinja::from_json(messages));
    vars.emplace_back("tools", jinja::none());  // transformers always passes these two
    vars.emplace_back("documents", jinja::none());
    vars.emplace_back("add_generation_prompt", jinja::boolean(add_generation_prompt));
    if (bos_) vars.emplace_back("bos_token", jinja::text(*bos_));
    if (eos_) vars.emplace_back("eos_token", jinja::text(*eos_));
    if (extra_vars.is_object())
      for (auto& [k, v] : extra_vars.items()) vars.emplace_back(k, jinja::from_json(v));  // later ones win
  } catch (const jinja::TemplateError& e) {
    fail(std::string("chat template: ") + e.what());
  }
  return jinja::Interp::render(*parsed_, vars);
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                 const ordered_json& extra_vars) const {
  return render(to_json(messages), add_generation_prompt, extra_vars);
}

}  // namespace userllm::llm
