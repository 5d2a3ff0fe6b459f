// Hugging Face safetensors directories and llama2.c files: round trips,
// dtypes, shards, a check by an independent reader (Python), and every kind
// of corrupt or lying file giving a userllm::Error.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/checkpoint.h"
#include "llm/safetensors.h"
#include "llm_test_util.h"
#include "test_util.h"

namespace userllm::llm {
namespace {

namespace fs = std::filesystem;

torch::Tensor logits_of(LlamaForCausalLM& m) {
  torch::NoGradGuard g;
  return m->forward(torch::tensor({1L, 5L, 7L, 2L}).unsqueeze(0));
}

void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// A raw safetensors file from a header string and a data section.
std::string safetensors_bytes(const std::string& header, const std::string& data, uint64_t claimed_len = 0) {
  uint64_t n = claimed_len ? claimed_len : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(n >> (8 * i));
  return out + header + data;
}

TEST(Checkpoint, HfRoundTripKeepsLogitsExactly) {
  test::ScratchDir tmp;
  for (bool tied : {false, true}) {
    auto m = test::random_model(test::tiny_config(tied));
    save_hf_model(m, tmp.path());
    auto back = load_model(tmp.path());
    EXPECT_EQ(back->config().tie_word_embeddings, tied);
    EXPECT_TRUE(back->config().qkv_bias);
    EXPECT_TRUE(torch::equal(logits_of(m), logits_of(back)));
  }
}

TEST(Checkpoint, Bf16AndF16AndShardedFilesLoad) {
  test::ScratchDir tmp;
  auto m = test::random_model(test::tiny_config());
  save_hf_model(m, tmp.path());
  auto state = read_safetensors(tmp / "model.safetensors");
  for (auto dt : {torch::kBFloat16, torch::kFloat16}) {
    TensorMap half;
    for (auto& [n, t] : state) half[n] = t.to(dt);
    write_safetensors(tmp / "model.safetensors", half);
    auto back = load_model(tmp.path());
    // Weights are rounded to 8 (bf16) or 11 (f16) bits of mantissa, then converted back to F32.
    for (auto& [n, t] : base_state(*back)) EXPECT_TRUE(torch::equal(t, half[n].to(torch::kFloat32))) << n;
  }
  // Two shards and an index instead of one file.
  fs::remove(tmp / "model.safetensors");
  TensorMap a, b;
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  for (auto& [n, t] : state) {
    bool first = n.find("layers.1.") == std::string::npos;
    (first ? a : b)[n] = t;
    index["weight_map"][n] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  write_safetensors(tmp / "model-00001-of-00002.safetensors", a);
  write_safetensors(tmp / "model-00002-of-00002.safetensors", b);
  write_file_atomic(tmp / "model.safetensors.index.json", index.dump());
  auto sharded = load_model(tmp.path());
  EXPECT_TRUE(torch::equal(logits_of(m), logits_of(sharded)));
  // An index pointing outside the directory is refused.
  index["weight_map"]["model.norm.weight"] = "../x.safetensors";
  write_file_atomic(tmp / "model.safetensors.index.json", index.dump());
  EXPECT_THROW(load_model(tmp.path()), Error);
}

TEST(Checkpoint, WrittenFileFollowsTheSpecForAnIndependentReader) {
  const char* python = "/usr/bin/python3";
  if (!fs::exists(python)) GTEST_SKIP() << "/usr/bin/python3 (with python3-torch) is absent";
  test::ScratchDir tmp;
  auto m = test::random_model(test::tiny_config());
  save_hf_model(m, tmp.path());
  // Parses the header by hand per the spec and reads tensors with torch.
  const std::string script = R"PY(
import json, struct, sys, torch
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert n % 8 == 0, 'header not padded to 8 bytes'
header = json.loads(raw[8:8 + n].decode('utf-8'))
meta = header.pop('__metadata__')
assert meta == {'format': 'pt'}, meta
end = 0
for name, info in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
    b, e = info['data_offsets']
    assert b == end, ('hole or overlap', name)
    assert info['dtype'] == 'F32'
    numel = 1
    for s in info['shape']: numel *= s
    assert e - b == 4 * numel
    end = e
assert 8 + n + end == len(raw), 'trailing bytes'
w = torch.frombuffer(bytearray(raw[8 + n:]), dtype=torch.float32)
info = header['model.layers.1.self_attn.k_proj.weight']
t = w[info['data_offsets'][0] // 4: info['data_offsets'][1] // 4].reshape(info['shape'])
print(len(header), '%.6f' % t.double().sum().item(), '%.6f' % t[3, 5].item())
)PY";
  write_file_atomic(tmp / "check.py", script);
  auto r = test::run_shell(std::string(python) + " " + (tmp / "check.py").string() + " " + (tmp / "model.safetensors").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto k = m->model->layer_list[1]->self_attn->k_proj->weight;
  char want[128];
  std::snprintf(want, sizeof want, "%zu %.6f %.6f", base_state(*m).size(), k.to(torch::kDouble).sum().item<double>(),
                k[3][5].item<float>());
  EXPECT_EQ(r.output.substr(0, r.output.find('\n')), want);
}

TEST(Checkpoint, CorruptSafetensorsHeadersAreErrors) {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data(8, '\0');
  auto parse = [](const std::string& bytes) {
    return parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "f.safetensors");
  };
  EXPECT_EQ(parse(safetensors_bytes(ok, data)).tensors.size(), 1u);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"too short", std::string(5, '\0')},
      {"header length past the end", safetensors_bytes(ok, data, 1000)},
      {"header length huge", safetensors_bytes(ok, data, ~0ull)},
      {"not json", safetensors_bytes("{nope", data)},
      {"offsets past the end", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data)},
      {"span disagrees with shape", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data)},
      {"unknown dtype", safetensors_bytes(R"({"a":{"dtype":"F8_X","shape":[2],"data_offsets":[0,8]}})", data)},
      {"begin after end", safetensors_bytes(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", data)},
      {"negative dim", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data)},
      {"overflowing shape", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[281474976710656,281474976710656],"data_offsets":[0,8]}})", data)},
      {"overlap", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", data)},
      {"missing offsets", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", data)},
      {"bad metadata", safetensors_bytes(R"({"__metadata__":{"x":1}})", data)},
  };
  for (const auto& [what, bytes] : bad) {
    SCOPED_TRACE(what);
    EXPECT_THROW(parse(bytes), Error);
  }
  try {
    parse(safetensors_bytes(ok, data, 1000));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, FilesThatDisagreeWithTheConfigAreErrors) {
  test::ScratchDir tmp;
  auto m = test::random_model(test::tiny_config());
  save_hf_model(m, tmp.path());
  auto state = read_safetensors(tmp / "model.safetensors");
  auto config = m->config().to_json();
  auto expect_error = [&](const TensorMap& t, const nlohmann::json& c, const char* what) {
    SCOPED_TRACE(what);
    write_safetensors(tmp / "model.safetensors", t);
    write_file_atomic(tmp / "config.json", c.dump());
    EXPECT_THROW(load_model(tmp.path()), Error);
  };
  auto wrong_shape = state;
  wrong_shape["model.layers.0.self_attn.k_proj.weight"] = torch::zeros({16, 16});
  expect_error(wrong_shape, config, "k_proj shape");
  auto missing = state;
  missing.erase("model.norm.weight");
  expect_error(missing, config, "missing tensor");
  auto extra = state;
  extra["model.layers.2.mlp.up_proj.weight"] = torch::zeros({24, 16});
  expect_error(extra, config, "extra layer");
  auto big = config;
  big["hidden_size"] = 1 << 20;
  big["intermediate_size"] = 1 << 22;
  expect_error(state, big, "config describes a huge model");
  auto heads = config;
  heads["num_key_value_heads"] = 3;
  expect_error(state, heads, "kv heads do not divide heads");
  expect_error(state, "[1,2]"_json, "config not an object");
  // Truncated data section.
  write_safetensors(tmp / "model.safetensors", state);
  write_file_atomic(tmp / "config.json", config.dump());
  auto bytes = read_file(tmp / "model.safetensors");
  write_bytes(tmp / "model.safetensors", bytes.substr(0, bytes.size() - 10));
  EXPECT_THROW(load_model(tmp.path()), Error);
  EXPECT_THROW(load_model(tmp / "absent"), Error);
}

TEST(Checkpoint, Llama2cFilesAreBoundsChecked) {
  USERLLM_SHARED_OR_SKIP(bin, "models/stories260K/stories260K.bin");
  test::ScratchDir tmp;
  const auto bytes = read_file(bin);
  auto with = [&](std::string b, const char* what) {
    SCOPED_TRACE(what);
    write_bytes(tmp / "m.bin", b);
    EXPECT_THROW(load_model(tmp / "m.bin"), Error);
  };
  with(bytes.substr(0, bytes.size() - 4), "truncated");
  with(bytes + "xxxx", "trailing bytes");
  with(bytes.substr(0, 20), "header cut");
  auto set = [&](int field, int32_t v) {
    auto b = bytes;
    std::memcpy(&b[size_t(field) * 4], &v, 4);
    return b;
  };
  with(set(0, 1 << 23), "dim too large for the file");
  with(set(3, 7), "heads do not divide dim");
  with(set(4, 3), "kv heads do not divide heads");
  with(set(5, -512), "claims an untied classifier the file lacks");
  with(set(2, 0), "no layers");
  with(set(6, 1 << 30), "huge seq_len");
  std::string v9 = "24ka" + std::string(252, '\0');
  v9[4] = 9;
  with(v9, "unknown export version");
}

// The versioned export (version 1, float32) of stories260K, written here in
// llama2.c export.py's layout, loads to the same model as the legacy file.
TEST(Checkpoint, Llama2cVersion1ExportMatchesLegacy) {
  USERLLM_SHARED_OR_SKIP(bin, "models/stories260K/stories260K.bin");
  test::ScratchDir tmp;
  const auto legacy = read_file(bin);
  const float* f = reinterpret_cast<const float*>(legacy.data() + 28);
  const size_t D = 64, F = 172, L = 5, V = 512, KV = 32;
  size_t off = 0;
  auto take = [&](size_t n) {
    std::string s(reinterpret_cast<const char*>(f + off), n * 4);
    off += n;
    return s;
  };
  std::string tok = take(V * D), rms_att = take(L * D), wq = take(L * D * D), wk = take(L * KV * D),
              wv = take(L * KV * D), wo = take(L * D * D), rms_ffn = take(L * D), w1 = take(L * F * D),
              w2 = take(L * D * F), w3 = take(L * F * D), rms_final = take(D);
  std::string header(256, '\0');
  const int32_t fields[9] = {0x616b3432, 1, 64, 172, 5, 8, 4, 512, 512};
  std::memcpy(&header[0], fields, sizeof fields);
  header[36] = 1;  // shared classifier
  write_bytes(tmp / "v1.bin", header + rms_att + rms_ffn + rms_final + tok + wq + wk + wv + wo + w1 + w2 + w3);
  auto a = load_model(bin);
  auto b = load_model(tmp / "v1.bin");
  EXPECT_TRUE(torch::equal(logits_of(a), logits_of(b)));
}

// The weights are the file's pages (no second copy), and writing to them
// (fine-tuning a loaded model) copies the page privately, never touching the file.
TEST(Checkpoint, Llama2cWeightsAreViewsOfTheFileAndWritesStayPrivate) {
  USERLLM_SHARED_OR_SKIP(bin, "models/stories260K/stories260K.bin");
  const auto before = read_file(bin);
  auto a = load_model(bin);
  auto& layers = a->model->layer_list;
  // Layers' v_proj come from one [layers, kv, dim] array of the file: one storage.
  EXPECT_EQ(layers[0]->self_attn->v_proj->weight.storage().data(),
            layers[1]->self_attn->v_proj->weight.storage().data());
  const auto reference = logits_of(a);
  {
    torch::NoGradGuard g;
    a->model->embed_tokens->weight.add_(1.0);
  }
  auto b = load_model(bin);
  EXPECT_TRUE(torch::equal(logits_of(b), reference));
  EXPECT_FALSE(torch::equal(logits_of(a), reference));
  EXPECT_EQ(read_file(bin), before);
}

}  // namespace
}  // namespace userllm::llm
