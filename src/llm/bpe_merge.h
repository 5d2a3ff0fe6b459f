// The merge loop shared by every BPE flavour here: repeatedly merge the
// adjacent pair with the best (lowest) rank, the leftmost one on ties. That is
// the order of llama2.c's encode(), SentencePiece BPE and Hugging Face
// tokenizers alike; a heap makes it O(n log n) instead of llama2.c's O(n^2).
#pragma once
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace userllm::llm {

struct PairMerge {
  double rank;  // lower merges first
  int32_t id;   // the merged token
};

// lookup(left_id, right_id) -> std::optional<PairMerge>.
template <class Lookup>
void bpe_merge(std::vector<int32_t>& ids, Lookup&& lookup) {
  const int n = int(ids.size());
  if (n < 2) return;
  struct Sym {
    int32_t id;
    int prev, next;
    bool alive;
  };
  struct Cand {
    double rank;
    int pos;
    int32_t left, right, id;
  };
  auto later = [](const Cand& a, const Cand& b) { return a.rank > b.rank || (a.rank == b.rank && a.pos > b.pos); };
  std::priority_queue<Cand, std::vector<Cand>, decltype(later)> heap(later);
  std::vector<Sym> syms(n);
  for (int i = 0; i < n; i++) syms[i] = {ids[i], i - 1, i + 1 < n ? i + 1 : -1, true};
  auto consider = [&](int pos) {
    if (pos < 0 || syms[pos].next < 0) return;
    const int32_t a = syms[pos].id, b = syms[syms[pos].next].id;
    if (auto m = lookup(a, b)) heap.push({m->rank, pos, a, b, m->id});
  };
  for (int i = 0; i + 1 < n; i++) consider(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Sym& s = syms[c.pos];
    if (!s.alive || s.id != c.left || s.next < 0) continue;  // stale: one side already merged
    Sym& r = syms[s.next];
    if (r.id != c.right) continue;
    s.id = c.id;
    r.alive = false;
    s.next = r.next;
    if (s.next >= 0) syms[s.next].prev = c.pos;
    consider(s.prev);
    consider(c.pos);
  }
  ids.clear();
  for (int i = 0; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
}

}  // namespace userllm::llm
