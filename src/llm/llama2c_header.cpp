#include "llm/llama2c_header.h"

#include "common/error.h"

namespace userllm::llm {

namespace {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42"
constexpr uint64_t kVersionedHeader = 256;

// Lays out consecutive arrays, each checked against the file before the next.
class Cursor {
 public:
  Cursor(const ByteView& f, uint64_t offset, std::vector<Llama2cArray>& out) : f_(f), off_(offset), out_(out) {}

  void floats(const std::string& name, std::vector<int64_t> shape, int64_t layer = -1, bool skip = false) {
    out_.push_back({name, layer, off_, shape, false, skip});
    off_ += bytes(shape, 4, name);
  }
  void q8(const std::string& name, std::vector<int64_t> shape, int64_t group, int64_t layer) {
    out_.push_back({name, layer, off_, shape, true, false});
    uint64_t values = bytes(shape, 1, name);
    off_ += values;
    if (values % uint64_t(group) != 0)
      fail(at_byte(f_.path(), off_, name + ": size is not a multiple of the Q8_0 group size"));
    off_ += bytes({int64_t(values / uint64_t(group))}, 4, name + " scales");
  }
  uint64_t offset() const { return off_; }

 private:
  // The array's size, checked to lie inside the file (in 128 bits: a lying header cannot overflow it).
  uint64_t bytes(const std::vector<int64_t>& shape, uint64_t elem, const std::string& name) const {
    unsigned __int128 n = elem;
    for (int64_t s : shape) {
      n *= uint64_t(s);
      if (n > f_.size()) fail(at_byte(f_.path(), off_, name + ": runs past the end of the file"));
    }
    f_.range(off_, uint64_t(n), name.c_str());
    return uint64_t(n);
  }
  const ByteView& f_;
  uint64_t off_;
  std::vector<Llama2cArray>& out_;
};

}  // namespace

Llama2cLayout read_llama2c_layout(const ByteView& f) {
  const std::string& src = f.path();
  Llama2cLayout out;
  uint64_t pos = 0;
  if (uint32_t(f.read<int32_t>(0, "header")) == kMagic) {
    out.version = f.read<int32_t>(4, "header");
    if (out.version != 1 && out.version != 2)
      fail(at_byte(src, 4, "llama2.c export version " + std::to_string(out.version) + " is not supported (1 or 2)"));
    pos = 8;
  }
  int32_t h[7];
  for (int i = 0; i < 7; ++i) h[i] = f.read<int32_t>(pos + 4 * i, "header");
  out.shared = h[5] > 0;
  if (out.version >= 1) {
    out.shared = *f.range(36, 1, "header") != 0;
    if (out.version == 2) out.group = f.read<int32_t>(37, "header");
  }
  LlamaConfig& c = out.config;
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
  c.tie_word_embeddings = out.shared;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  c.validate(src + " (llama2.c header)");
  if (out.version == 2 && (out.group <= 0 || c.hidden_size % out.group != 0))
    fail(at_byte(src, 37, "Q8_0 group size " + std::to_string(out.group) + " must be positive and divide dim"));

  const int64_t L = c.num_layers, D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t kv = c.num_kv_heads * c.head_dim();
  Cursor cur(f, out.version == 0 ? 28 : kVersionedHeader, out.arrays);
  if (out.version == 0) {
    cur.floats("token_embedding", {V, D});
    cur.floats("rms_att", {L, D});
    cur.floats("wq", {L, D, D});
    cur.floats("wk", {L, kv, D});
    cur.floats("wv", {L, kv, D});
    cur.floats("wo", {L, D, D});
    cur.floats("rms_ffn", {L, D});
    cur.floats("w1", {L, F, D});
    cur.floats("w2", {L, D, F});
    cur.floats("w3", {L, F, D});
    cur.floats("rms_final", {D});
    cur.floats("freq_cis", {c.max_position_embeddings, c.head_dim()}, -1, /*skip=*/true);  // real and imag halves
    if (!out.shared) cur.floats("wcls", {V, D});
  } else {
    cur.floats("rms_att", {L, D});
    cur.floats("rms_ffn", {L, D});
    cur.floats("rms_final", {D});
    auto mat = [&](const char* name, int64_t rows, int64_t cols, int64_t layer) {
      if (out.version == 1) cur.floats(name, {rows, cols}, layer);
      else cur.q8(name, {rows, cols}, out.group, layer);
    };
    auto per_layer = [&](const char* name, int64_t rows, int64_t cols) {
      for (int64_t l = 0; l < L; ++l) mat(name, rows, cols, l);
    };
    mat("token_embedding", V, D, -1);
    per_layer("wq", D, D);
    per_layer("wk", kv, D);
    per_layer("wv", kv, D);
    per_layer("wo", D, D);
    per_layer("w1", F, D);
    per_layer("w2", D, F);
    per_layer("w3", F, D);
    if (!out.shared) mat("wcls", V, D, -1);
  }
  if (cur.offset() != f.size())
    fail(at_byte(src, cur.offset(), "the header describes " + std::to_string(cur.offset()) + " bytes but the file has " +
                                        std::to_string(f.size()) + ": wrong header or not a llama2.c checkpoint"));
  return out;
}

}  // namespace userllm::llm
