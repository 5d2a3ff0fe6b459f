// The text-prompt (TP) baseline: the user's history written out as text for
// the LLM to read, cut from the oldest end to fit a token budget.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "llm/tokenizer.h"

namespace userllm::tasks {

// One event as text: "Title (Year), rated 4.5" (year and rating when known).
std::string event_text_line(const data::Dataset& ds, uint64_t event);
// The same for an event given by its item and rating ids (a served user's event).
std::string event_text_line(const data::Dataset& ds, uint32_t item, uint32_t rating);

struct RenderedHistory {
  std::string text;    // "A (1995), rated 4; B, rated 3.5" oldest first, most recent last
  int64_t kept = 0;    // events kept: the last `kept` of [begin, end)
  int64_t tokens = 0;  // tokenizer.encode(text, false, false).size()
};

// The longest suffix of events [begin, end) whose rendering fits in
// max_tokens tokens (encoded without BOS/EOS). kept == 0 when not even the
// latest event fits.
RenderedHistory render_history(const data::Dataset& ds, uint64_t begin, uint64_t end, const llm::Tokenizer& tok,
                               int64_t max_tokens);
// The same over events already written as lines (event_text_line), oldest first.
RenderedHistory render_history(const std::vector<std::string>& lines, const llm::Tokenizer& tok, int64_t max_tokens);

}  // namespace userllm::tasks
