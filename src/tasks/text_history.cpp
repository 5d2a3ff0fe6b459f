#include "tasks/text_history.h"

#include "common/error.h"

namespace userllm::tasks {

std::string event_text_line(const data::Dataset& ds, uint64_t event) {
  uint32_t item = ds.column(ds.field_index("item"))[event];
  std::string s(ds.item_title(item));
  if (int year = ds.item_year(item)) s += " (" + std::to_string(year) + ")";
  int rf = ds.field_index("rating");
  if (rf >= 0) {
    uint32_t r = ds.column(rf)[event];
    if (r != data::kPadId && r != data::kOovId) s += ", rated " + std::string(ds.token(rf, r));
  }
  return s;
}

static std::string join_lines(const data::Dataset& ds, uint64_t begin, uint64_t end) {
  std::string s;
  for (uint64_t e = begin; e < end; ++e) {
    if (e > begin) s += "; ";
    s += event_text_line(ds, e);
  }
  return s;
}

RenderedHistory render_history(const data::Dataset& ds, uint64_t begin, uint64_t end, const llm::Tokenizer& tok,
                               int64_t max_tokens) {
  if (begin > end || end > ds.num_events()) fail("history range [" + std::to_string(begin) + ", " + std::to_string(end) + ") is out of range");
  if (max_tokens < 0) fail("history token budget must be non-negative");
  auto render = [&](int64_t kept) {
    RenderedHistory r;
    r.kept = kept;
    r.text = join_lines(ds, end - kept, end);
    r.tokens = kept ? int64_t(tok.encode(r.text, false, false).size()) : 0;
    return r;
  };
  // Token counts grow with each event kept (not exactly additively, so every
  // probe re-encodes): binary search for the largest suffix that fits.
  int64_t lo = 0, hi = int64_t(end - begin);
  RenderedHistory best = render(0);
  RenderedHistory all = render(hi);
  if (all.tokens <= max_tokens) return all;
  while (lo + 1 < hi) {
    int64_t mid = (lo + hi) / 2;
    RenderedHistory r = render(mid);
    if (r.tokens <= max_tokens) lo = mid, best = std::move(r);
    else hi = mid;
  }
  return best;
}

}  // namespace userllm::tasks
