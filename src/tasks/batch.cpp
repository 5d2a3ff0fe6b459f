#include "tasks/batch.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "encoder/batch.h"
#include "tasks/text_history.h"
#include "tasks/tokenize.h"

namespace userllm::tasks {

namespace {

constexpr const char* kHistoryHead = "The user's history: ";

std::string text_prompt(const std::string& history, const std::string& instruction) {
  return kHistoryHead + history + "\n" + instruction;
}

int64_t prompt_tokens(const llm::Tokenizer& tok, const std::string& text) {
  return static_cast<int64_t>(tok.encode(text, true, false).size());
}

}  // namespace

EncodedExample encode_example(const data::Dataset& ds, const llm::Tokenizer& tok, const Example& ex,
                              const PromptOptions& opts) {
  std::vector<std::string> lines;
  if (opts.text_history) {
    if (ex.begin > ex.end || ex.end > ds.num_events())
      fail("history range [" + std::to_string(ex.begin) + ", " + std::to_string(ex.end) + ") is out of range");
    for (uint64_t e = ex.begin; e < ex.end; ++e) lines.push_back(event_text_line(ds, e));
  }
  EncodedExample out = encode_request(tok, ex.prompt, ex.answer, lines, opts);
  out.history_begin = ex.begin;
  out.history_end = ex.end;
  return out;
}

EncodedExample encode_request(const llm::Tokenizer& tok, const std::string& instruction, const std::string& answer,
                              const std::vector<std::string>& history_lines, const PromptOptions& opts) {
  if (opts.context < 2 || opts.user_vectors < 0 || opts.answer_reserve < 0)
    fail("prompt options: context must be >= 2 and user_vectors, answer_reserve >= 0");
  const int64_t room = opts.context - opts.user_vectors;  // positions for prompt + answer ids
  if (room < 2)
    fail("a context of " + std::to_string(opts.context) + " positions with " + std::to_string(opts.user_vectors) +
         " user vectors leaves no room for a prompt and an answer");
  EncodedExample out;
  std::string prompt = instruction;
  if (opts.text_history) {
    // The history gets what the instruction, its frame and the answer leave.
    const int64_t fixed = prompt_tokens(tok, text_prompt("", instruction));
    int64_t budget = std::max<int64_t>(0, room - fixed - opts.answer_reserve);
    for (;;) {
      RenderedHistory h = render_history(history_lines, tok, budget);
      prompt = text_prompt(h.text, instruction);
      // Tokens may merge across the joins; shrink until one answer token fits.
      const int64_t excess = prompt_tokens(tok, prompt) + 1 - room;
      if (excess <= 0 || h.kept == 0) {
        out.history_text_tokens = h.tokens;
        out.history_text_events = h.kept;
        break;
      }
      budget = std::max<int64_t>(0, h.tokens - excess);
    }
  }
  TokenizedExample t = tokenize_example(tok, prompt, answer, room);  // throws when nothing fits
  out.prompt.assign(t.ids.begin(), t.ids.begin() + t.prompt_len);
  out.answer.assign(t.ids.begin() + t.prompt_len, t.ids.end());
  return out;
}

Batch collate(const std::vector<EncodedExample>& examples, const encoder::Events* ev, const torch::Device& device) {
  if (examples.empty()) fail("collate: an empty batch");
  const int64_t B = static_cast<int64_t>(examples.size());
  int64_t T = 1;
  for (const auto& e : examples) T = std::max<int64_t>(T, static_cast<int64_t>(e.prompt.size() + e.answer.size()));
  auto ids = torch::zeros({B, T}, torch::kLong);
  auto key_mask = torch::zeros({B, T}, torch::kLong);
  auto loss_mask = torch::zeros({B, T}, torch::kFloat);
  auto* id = ids.data_ptr<int64_t>();
  auto* km = key_mask.data_ptr<int64_t>();
  auto* lm = loss_mask.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& e = examples[b];
    const int64_t n = static_cast<int64_t>(e.prompt.size() + e.answer.size());
    int64_t t = b * T + (T - n);  // left padding: every row ends at T - 1
    for (int64_t x : e.prompt) id[t] = x, km[t++] = 1;
    for (int64_t x : e.answer) id[t] = x, km[t] = 1, lm[t++] = 1.0f;
  }
  Batch out;
  out.ids = ids.to(device);
  out.key_mask = key_mask.to(device);
  out.loss_mask = loss_mask.to(device);
  if (ev) {
    std::vector<encoder::Span> spans;
    for (const auto& e : examples) {
      if (e.history_begin > e.history_end || e.history_end > ev->num_events())
        fail("collate: history [" + std::to_string(e.history_begin) + ", " + std::to_string(e.history_end) +
             ") is outside the " + std::to_string(ev->num_events()) + " events");
      spans.push_back({0, e.history_begin, e.history_end});
    }
    auto rows = encoder::make_batch(*ev, spans, device);
    out.history = rows.tokens;
    out.valid = rows.valid;
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> history_rows(const encoder::Events& ev, uint64_t begin, uint64_t end,
                                                     const torch::Device& device) {
  if (begin > end || end > ev.num_events())
    fail("history [" + std::to_string(begin) + ", " + std::to_string(end) + ") is outside the " +
         std::to_string(ev.num_events()) + " events");
  auto rows = encoder::make_batch(ev, {{0, begin, end}}, device);
  return {rows.tokens, rows.valid};
}

}  // namespace userllm::tasks
