#include "llm/llama2c_loader.h"

#include <cstring>
#include <map>
#include <memory>

#include "common/error.h"
#include "common/mapped_file.h"
#include "llm/checkpoint.h"
#include "llm/llama2c_header.h"

namespace userllm::llm {

namespace {

// The per-layer weights of one kind, stacked [n_layers, ...] as run.c holds them.
struct Weights {
  torch::Tensor tok, rms_att, rms_ffn, rms_final, wq, wk, wv, wo, w1, w2, w3, wcls;
};

// A weight array as a tensor. Aligned float arrays are views of the
// (copy-on-write) mapping, so the weights are never copied: the model's
// parameters are the file's pages, as in llama2.c's run.c. Q8_0 arrays are
// dequantised.
torch::Tensor array_tensor(const std::shared_ptr<MappedFile>& file, const Llama2cArray& a, int64_t group) {
  int64_t numel = 1;
  for (int64_t s : a.shape) numel *= s;
  if (a.q8) {
    auto q = torch::from_blob(const_cast<uint8_t*>(file->data() + a.offset), {numel}, torch::kInt8);
    auto s = torch::empty({numel / group}, torch::kFloat32);
    std::memcpy(s.data_ptr(), file->data() + a.offset + uint64_t(numel), size_t(numel / group) * 4);
    return (q.to(torch::kFloat32).view({-1, group}) * s.view({-1, 1})).view(a.shape);
  }
  const uint8_t* src = file->data() + a.offset;
  if (reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
    auto keep = file;  // the mapping lives as long as any view of it
    return torch::from_blob(const_cast<uint8_t*>(src), a.shape, [keep](void*) {}, torch::kFloat32);
  }
  auto t = torch::empty(a.shape, torch::kFloat32);
  std::memcpy(t.data_ptr(), src, size_t(numel) * 4);
  return t;
}

}  // namespace

torch::Tensor permute_rotary_rows(const torch::Tensor& w, int64_t n_heads) {
  const int64_t rows = w.size(0), cols = w.size(1);
  return w.view({n_heads, rows / n_heads / 2, 2, cols}).transpose(1, 2).reshape({rows, cols});
}

LlamaForCausalLM load_llama2c(const std::filesystem::path& path) {
  auto file = std::make_shared<MappedFile>(path, /*copy_on_write=*/true);
  const std::string& src = file->path();
  const Llama2cLayout layout = read_llama2c_layout(*file);
  const LlamaConfig& c = layout.config;
  const bool shared = layout.shared;
  const int64_t L = c.num_layers;
  // Per-layer arrays (versions 1, 2) are stacked into run.c's [n_layers, ...] form.
  std::map<std::string, std::vector<torch::Tensor>> parts;
  std::map<std::string, bool> stacked;
  for (const auto& a : layout.arrays) {
    if (a.skip) continue;
    parts[a.name].push_back(array_tensor(file, a, layout.group));
    stacked[a.name] = a.layer >= 0;
  }
  auto get = [&](const char* name) { return stacked[name] ? torch::stack(parts[name]) : parts[name].at(0); };
  Weights w{get("token_embedding"), get("rms_att"), get("rms_ffn"), get("rms_final"), get("wq"), get("wk"),
            get("wv"), get("wo"), get("w1"), get("w2"), get("w3"), shared ? torch::Tensor() : get("wcls")};

  TensorMap t;
  t["model.embed_tokens.weight"] = w.tok;
  t["model.norm.weight"] = w.rms_final;
  if (!shared) t["lm_head.weight"] = w.wcls;
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = w.rms_att[l];
    t[p + "post_attention_layernorm.weight"] = w.rms_ffn[l];
    t[p + "self_attn.q_proj.weight"] = permute_rotary_rows(w.wq[l], c.num_heads);
    t[p + "self_attn.k_proj.weight"] = permute_rotary_rows(w.wk[l], c.num_kv_heads);
    t[p + "self_attn.v_proj.weight"] = w.wv[l];
    t[p + "self_attn.o_proj.weight"] = w.wo[l];
    t[p + "mlp.gate_proj.weight"] = w.w1[l];
    t[p + "mlp.down_proj.weight"] = w.w2[l];
    t[p + "mlp.up_proj.weight"] = w.w3[l];
  }
  LlamaForCausalLM model = [&] {
    UninitializedGuard uninitialized;  // every parameter is loaded next
    return LlamaForCausalLM(c);
  }();
  load_state(*model, t, src, /*adopt=*/true);
  model->eval();
  return model;
}

}  // namespace userllm::llm
