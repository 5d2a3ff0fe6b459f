// Fresh weights for a model trained from scratch, as the Hugging Face Llama
// implementations initialise them (PreTrainedModel._init_weights): every linear
// and embedding weight ~ N(0, initializer_range), biases 0, norms neutral (1, or
// 0 for Gemma's (1 + w) norms). libtorch's defaults (Kaiming-uniform linears,
// N(0, 1) embeddings) start a small LM at ~100 nats of loss instead of ln(vocab).
#pragma once
#include "llm/llama.h"

namespace userllm::llm {

struct InitOptions {
  double std = 0.02;            // config.initializer_range
  // GPT-2 / Megatron: o_proj and down_proj, which write into the residual
  // stream, get std / sqrt(2 * layers) so the stream's variance stays put with depth.
  bool scale_residual = false;
};

void init_weights(LlamaForCausalLMImpl& model, const InitOptions& opts);

}  // namespace userllm::llm
