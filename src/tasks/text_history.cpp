#include "tasks/text_history.h"

#include "common/error.h"

namespace userllm::tasks {

std::string event_text_line(const data::Dataset& ds, uint64_t event) {
  const int rf = ds.field_index("rating");
  return event_text_line(ds, ds.column(ds.field_index("item"))[event], rf >= 0 ? ds.column(rf)[event] : data::kPadId);
}

std::string event_text_line(const data::Dataset& ds, uint32_t item, uint32_t rating) {
  std::string s(ds.item_title(item));
  if (int year = ds.item_year(item)) s += " (" + std::to_string(year) + ")";
  const int rf = ds.field_index("rating");
  if (rf >= 0 && rating != data::kPadId && rating != data::kOovId) s += ", rated " + std::string(ds.token(rf, rating));
  return s;
}

RenderedHistory render_history(const data::Dataset& ds, uint64_t begin, uint64_t end, const llm::Tokenizer& tok,
                               int64_t max_tokens) {
  if (begin > end || end > ds.num_events()) fail("history range [" + std::to_string(begin) + ", " + std::to_string(end) + ") is out of range");
  std::vector<std::string> lines;
  for (uint64_t e = begin; e < end; ++e) lines.push_back(event_text_line(ds, e));
  return render_history(lines, tok, max_tokens);
}

RenderedHistory render_history(const std::vector<std::string>& lines, const llm::Tokenizer& tok, int64_t max_tokens) {
  if (max_tokens < 0) fail("history token budget must be non-negative");
  const int64_t n = int64_t(lines.size());
  auto render = [&](int64_t kept) {
    RenderedHistory r;
    r.kept = kept;
    for (int64_t i = n - kept; i < n; ++i) r.text += (i > n - kept ? "; " : "") + lines[size_t(i)];
    r.tokens = kept ? int64_t(tok.encode(r.text, false, false).size()) : 0;
    return r;
  };
  // Token counts grow with each event kept (not exactly additively, so every
  // probe re-encodes): binary search for the largest suffix that fits.
  int64_t lo = 0, hi = n;
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
