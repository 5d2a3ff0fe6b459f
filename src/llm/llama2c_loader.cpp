#include "llm/llama2c_loader.h"

#include <cstring>
#include <memory>

#include "common/error.h"
#include "common/mapped_file.h"
#include "llm/checkpoint.h"

namespace userllm::llm {

namespace {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42"
constexpr uint64_t kVersionedHeader = 256;

// Reads consecutive arrays from the file, bounds-checked. Aligned float arrays
// are views of the (copy-on-write) mapping, so the weights are never copied:
// the model's parameters are the file's pages, as in llama2.c's run.c.
class Cursor {
 public:
  Cursor(std::shared_ptr<MappedFile> f, uint64_t offset) : file_(std::move(f)), f_(*file_), off_(offset) {}
  torch::Tensor floats(std::vector<int64_t> shape, const char* what) { return take(shape, torch::kFloat32, 4, what); }
  torch::Tensor int8s(std::vector<int64_t> shape, const char* what) { return take(shape, torch::kInt8, 1, what); }
  void skip_floats(uint64_t n, const char* what) {
    f_.range(off_, n * 4, what);
    off_ += n * 4;
  }
  uint64_t offset() const { return off_; }

 private:
  torch::Tensor take(const std::vector<int64_t>& shape, torch::Dtype dt, uint64_t elem, const char* what) {
    unsigned __int128 bytes = elem;  // checked against the file before allocating
    for (int64_t s : shape) bytes *= uint64_t(s);
    if (bytes > f_.size()) fail(at_byte(f_.path(), off_, std::string(what) + ": runs past the end of the file"));
    const uint8_t* src = f_.range(off_, uint64_t(bytes), what);
    if (dt == torch::kFloat32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
      off_ += bytes;
      auto keep = file_;  // the mapping lives as long as any view of it
      return torch::from_blob(const_cast<uint8_t*>(src), shape, [keep](void*) {}, torch::TensorOptions().dtype(dt));
    }
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dt));
    std::memcpy(t.data_ptr(), src, size_t(bytes));
    off_ += bytes;
    return t;
  }
  std::shared_ptr<MappedFile> file_;
  const MappedFile& f_;
  uint64_t off_;
};

int32_t read_i32(const MappedFile& f, uint64_t off) {
  int32_t v;
  std::memcpy(&v, f.range(off, 4, "header"), 4);
  return v;
}

// The per-layer weights of one kind, stacked [n_layers, ...] in the file.
struct Weights {
  torch::Tensor tok, rms_att, rms_ffn, rms_final, wq, wk, wv, wo, w1, w2, w3, wcls;
};

// Q8_0: `q` int8 values with one scale per `group` consecutive values.
torch::Tensor read_q80(Cursor& c, std::vector<int64_t> shape, int64_t group, const char* what) {
  auto q = c.int8s(shape, what);
  if (q.numel() % group != 0) fail(std::string(what) + ": size is not a multiple of the Q8_0 group size");
  auto s = c.floats({q.numel() / group}, what);
  return (q.to(torch::kFloat32).view({-1, group}) * s.view({-1, 1})).view(shape);
}

}  // namespace

torch::Tensor permute_rotary_rows(const torch::Tensor& w, int64_t n_heads) {
  const int64_t rows = w.size(0), cols = w.size(1);
  return w.view({n_heads, rows / n_heads / 2, 2, cols}).transpose(1, 2).reshape({rows, cols});
}

LlamaForCausalLM load_llama2c(const std::filesystem::path& path) {
  auto file = std::make_shared<MappedFile>(path, /*copy_on_write=*/true);
  const MappedFile& f = *file;
  const std::string& src = f.path();
  uint32_t magic = uint32_t(read_i32(f, 0));
  int version = 0;
  uint64_t pos = 0;
  if (magic == kMagic) {
    version = read_i32(f, 4);
    if (version != 1 && version != 2)
      fail(at_byte(src, 4, "llama2.c export version " + std::to_string(version) + " is not supported (1 or 2)"));
    pos = 8;
  }
  int32_t h[7];
  for (int i = 0; i < 7; ++i) h[i] = read_i32(f, pos + 4 * i);
  bool shared = h[5] > 0;
  int64_t group = 0;
  if (version >= 1) {
    shared = *f.range(36, 1, "header") != 0;
    if (version == 2) group = read_i32(f, 37);
  }
  LlamaConfig c;
  c.model_type = "llama";
  c.hidden_size = h[0];
  c.intermediate_size = h[1];
  c.num_layers = h[2];
  c.num_heads = h[3];
  c.num_kv_heads = h[4];
  c.vocab_size = h[5] < 0 ? -int64_t(h[5]) : h[5];
  c.max_position_embeddings = h[6];
  c.rms_norm_eps = 1e-5;  // run.c's constant
  c.rope_theta = 10000;
  c.tie_word_embeddings = shared;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.validate(src + " (llama2.c header)");
  if (version == 2 && (group <= 0 || c.hidden_size % group != 0))
    fail(at_byte(src, 37, "Q8_0 group size " + std::to_string(group) + " must be positive and divide dim"));

  const int64_t L = c.num_layers, D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t kv = c.num_kv_heads * c.head_dim();
  Weights w;
  Cursor cur(file, version == 0 ? 28 : kVersionedHeader);
  if (version == 0) {
    w.tok = cur.floats({V, D}, "token_embedding");
    w.rms_att = cur.floats({L, D}, "rms_att");
    w.wq = cur.floats({L, D, D}, "wq");
    w.wk = cur.floats({L, kv, D}, "wk");
    w.wv = cur.floats({L, kv, D}, "wv");
    w.wo = cur.floats({L, D, D}, "wo");
    w.rms_ffn = cur.floats({L, D}, "rms_ffn");
    w.w1 = cur.floats({L, F, D}, "w1");
    w.w2 = cur.floats({L, D, F}, "w2");
    w.w3 = cur.floats({L, F, D}, "w3");
    w.rms_final = cur.floats({D}, "rms_final");
    cur.skip_floats(uint64_t(c.max_position_embeddings) * c.head_dim(), "freq_cis");  // real and imag halves
    if (!shared) w.wcls = cur.floats({V, D}, "wcls");
  } else {
    w.rms_att = cur.floats({L, D}, "rms_att");
    w.rms_ffn = cur.floats({L, D}, "rms_ffn");
    w.rms_final = cur.floats({D}, "rms_final");
    auto mat = [&](std::vector<int64_t> shape, const char* what) {
      if (version == 1) return cur.floats(shape, what);
      return read_q80(cur, shape, group, what);
    };
    auto stack = [&](int64_t rows, int64_t cols, const char* what) {
      std::vector<torch::Tensor> per_layer;
      for (int64_t l = 0; l < L; ++l) per_layer.push_back(mat({rows, cols}, what));
      return torch::stack(per_layer);
    };
    w.tok = mat({V, D}, "token_embedding");
    w.wq = stack(D, D, "wq");
    w.wk = stack(kv, D, "wk");
    w.wv = stack(kv, D, "wv");
    w.wo = stack(D, D, "wo");
    w.w1 = stack(F, D, "w1");
    w.w2 = stack(D, F, "w2");
    w.w3 = stack(F, D, "w3");
    if (!shared) w.wcls = mat({V, D}, "wcls");
  }
  if (cur.offset() != f.size())
    fail(at_byte(src, cur.offset(), "the header describes " + std::to_string(cur.offset()) + " bytes but the file has " +
                                        std::to_string(f.size()) + ": wrong header or not a llama2.c checkpoint"));

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
