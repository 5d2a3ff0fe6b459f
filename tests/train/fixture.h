// A tiny, self-contained User-LLM setup for training and evaluation tests: a
// small synthetic dataset, a freshly initialised encoder run, and a random
// two-layer Llama with a BPE tokenizer trained on the data's corpus. Built in
// about a second; everything lives under the caller's ScratchDir.
#pragma once
#include <filesystem>

#include "data/corpus.h"
#include "data/dataset.h"
#include "data/synth.h"
#include "encoder/batch.h"
#include "encoder/checkpoint.h"
#include "encoder/events.h"
#include "llm/bpe_trainer.h"
#include "llm/checkpoint.h"
#include "llm/tokenizer.h"
#include "test_util.h"

namespace userllm::test {

struct TinySetup {
  std::filesystem::path data;     // prepared synthetic dataset
  std::filesystem::path encoder;  // encoder run: encoder.json + checkpoint.pt
  std::filesystem::path llm;      // Hugging Face directory: config.json, model.safetensors, tokenizer.json
};

inline TinySetup make_tiny_setup(const std::filesystem::path& dir) {
  TinySetup s{dir / "data", dir / "encoder", dir / "llm"};
  data::SynthOptions so;
  so.users = 16;
  so.items = 40;
  so.events_per_user = 24;
  data::write_synthetic_dataset(so, s.data);
  auto ds = data::Dataset::open(s.data);

  auto ev = encoder::events_from(ds, true);
  encoder::EncoderOptions eo;
  eo.fields = encoder::fields_for(ev, 16, 8);
  eo.layers = 1;
  eo.heads = 2;
  eo.dim = 16;
  eo.ffn_mult = 2;
  eo.max_len = 16;
  eo.dropout = 0.1;
  torch::manual_seed(7);
  encoder::UserEncoder enc(eo);
  std::filesystem::create_directories(s.encoder);
  encoder::save_encoder_options(s.encoder, eo);
  encoder::save_checkpoint(s.encoder, enc, nullptr, 0);

  std::filesystem::create_directories(s.llm);
  data::write_corpus(ds, dir / "corpus.txt");
  llm::BpeTrainerOptions bo;
  bo.vocab_size = 320;
  llm::train_bpe_tokenizer({dir / "corpus.txt"}, bo, s.llm / "tokenizer.json");
  auto tok = llm::load_tokenizer(s.llm);
  llm::LlamaConfig c;
  c.vocab_size = tok->vocab_size();
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  c.bos_token_id = tok->bos_id();
  c.eos_token_ids = {tok->eos_id()};
  llm::LlamaForCausalLM lm(c);
  {
    torch::NoGradGuard no_grad;  // a pretrained-like scale (HF's 0.02), so the first loss is near log(vocab)
    for (auto& p : lm->parameters())
      if (p.dim() >= 2) p.normal_(0.0, 0.02);
  }
  llm::save_hf_model(lm, s.llm);
  return s;
}
inline TinySetup make_tiny_setup(ScratchDir& dir) { return make_tiny_setup(dir.path()); }

}  // namespace userllm::test
