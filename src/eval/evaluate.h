// Evaluating a contextualized LLM on one task and split (User-LLM section 4):
//   next item       Recall@1/5/10 by beam search constrained to the catalogue's
//                   titles, and HitRatio@1 among 20 candidates (positive + 19
//                   sampled negatives, scored by likelihood);
//   favourite genre accuracy of the genre decoded under a trie of the genre
//                   names (and against the generator's truth on synthetic data);
//   review          ROUGE-L F1 of a greedy generation.
// Plus the cost of one request at the run's history length: analytic FLOPs
// of each part (eval/flops.h), measured latency, and the LLM's input tokens.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "bridge/user_llm.h"
#include "data/dataset.h"
#include "encoder/events.h"
#include "eval/flops.h"
#include "llm/tokenizer.h"
#include "tasks/batch.h"
#include "tasks/task.h"

namespace userllm::eval {

struct EvaluateOptions {
  int64_t max_examples = 0;    // 0 = every example of the split (users in a fixed seeded order otherwise)
  int beam = 10;               // next item: beam width of the constrained search
  int candidates = 20;         // next item: HitRatio@1 among this many (1 positive)
  int64_t max_new_tokens = 64; // review: greedy generation length
  int64_t latency_requests = 16;  // requests timed for latency_ms (batch 1, after one warm-up)
  uint64_t seed = 1;           // negatives and example sampling
  // When set, one record per evaluated example: {"user", "input" (the LLM's prompt text),
  // "history_events", "target", "prediction", "score" (the example's metric values)}.
  std::vector<nlohmann::json>* predictions = nullptr;
};

// Result, one JSON object:
// {"task", "examples",
//  "metrics": {"recall@1", "recall@5", "recall@10", "hit_ratio@1_of_20"}          (next item)
//           | {"accuracy", "true_genre_accuracy" (synthetic only)}              (favourite genre)
//           | {"rouge_l_f1"},                                                   (review)
//  "metrics_std_error": {same keys},
//  "cost": {"flops_per_request", "llm_flops_per_request", "flops": {encoder, perceiver, projector,
//           cross_attention, llm_prefill, llm_decode}, "latency_ms", "llm_input_tokens", "history_events"}}
// llm_flops_per_request = llm_prefill + llm_decode + cross_attention (the
// gated blocks run inside the LLM). llm_input_tokens is the mean number of
// positions the LLM prefills (prompt tokens, plus the soft prompt's vectors).
nlohmann::json evaluate(bridge::UserLlm& model, const data::Dataset& ds, const encoder::Events* ev,
                        const llm::Tokenizer& tok, tasks::TaskKind task, const std::vector<tasks::Example>& examples,
                        const tasks::PromptOptions& prompt, const EvaluateOptions& opts,
                        const data::GroundTruth* gt = nullptr);

// The FLOPs shape of a model (its LLM, encoder, Perceiver, projector and blocks).
UserLlmShape shape_of(bridge::UserLlm& model);

}  // namespace userllm::eval
