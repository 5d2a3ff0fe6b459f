// The in-memory entry points the fuzzers run are the parsers the files go
// through: a llama2.c checkpoint's layout (and its Q8_0 export loading as its
// dequantised float32 twin), tokenizers from bytes and from files, and the
// sharded safetensors index.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "llm/bpe_tokenizer.h"
#include "llm/checkpoint.h"
#include "llm/llama_config.h"
#include "llm/llama2c_header.h"
#include "llm/llama2c_tokenizer.h"
#include "llm/safetensors.h"
#include "llm_test_util.h"
#include "test_util.h"

namespace userllm::llm {
namespace {

namespace fs = std::filesystem;

void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

const fs::path kSeeds = fs::path(USERLLM_SOURCE_DIR) / "fuzz/corpus";

TEST(InMemoryParsers, Llama2cLayoutCoversTheFileInRunCsOrder) {
  USERLLM_SHARED_OR_SKIP(bin, "models/stories260K/stories260K.bin");
  MappedFile f(bin);
  auto layout = read_llama2c_layout(f);
  EXPECT_EQ(layout.version, 0);
  EXPECT_EQ(layout.config.hidden_size, 64);
  EXPECT_EQ(layout.config.num_layers, 5);
  EXPECT_TRUE(layout.shared);
  ASSERT_FALSE(layout.arrays.empty());
  EXPECT_EQ(layout.arrays.front().name, "token_embedding");
  EXPECT_EQ(layout.arrays.front().offset, 28u);
  uint64_t end = 28;  // after the legacy header's 7 int32
  for (const auto& a : layout.arrays) {
    EXPECT_EQ(a.offset, end) << a.name;  // contiguous, in order
    uint64_t n = 4;
    for (int64_t s : a.shape) n *= uint64_t(s);
    end = a.offset + n;
  }
  EXPECT_EQ(end, f.size());
  EXPECT_TRUE(layout.arrays[11].skip);  // freq_cis
  // The same bytes in memory give the same layout; cut, they are an error naming the offset.
  const std::string bytes = read_file(bin);
  auto again = read_llama2c_layout(ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "m"));
  EXPECT_EQ(again.arrays.size(), layout.arrays.size());
  try {
    read_llama2c_layout(ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - 1, "cut.bin"));
    ADD_FAILURE() << "a cut file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.bin"), std::string::npos) << e.what();
  }
}

// Version 2 (Q8_0) of stories260K, quantised here in llama2.c export.py's
// layout, loads to the same model as a version 1 file of its dequantised weights.
TEST(InMemoryParsers, Llama2cQ8ExportLoadsAsItsDequantisedFloats) {
  USERLLM_SHARED_OR_SKIP(bin, "models/stories260K/stories260K.bin");
  test::ScratchDir tmp;
  const std::string legacy = read_file(bin);
  MappedFile f(bin);
  auto layout = read_llama2c_layout(f);
  const int64_t group = 32;
  auto floats_of = [&](const char* name) {
    for (const auto& a : layout.arrays)
      if (a.name == name) {
        uint64_t n = 1;
        for (int64_t s : a.shape) n *= uint64_t(s);
        std::vector<float> v(n);
        std::memcpy(v.data(), legacy.data() + a.offset, n * 4);
        return std::make_pair(v, a.shape);
      }
    ADD_FAILURE() << name;
    return std::make_pair(std::vector<float>(), std::vector<int64_t>());
  };
  auto raw = [](const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); };
  std::string v1 = std::string(256, '\0'), v2 = std::string(256, '\0');
  const int32_t h1[9] = {0x616b3432, 1, 64, 172, 5, 8, 4, 512, 512}, h2[9] = {0x616b3432, 2, 64, 172, 5, 8, 4, 512, 512};
  std::memcpy(&v1[0], h1, sizeof h1);
  std::memcpy(&v2[0], h2, sizeof h2);
  v1[36] = v2[36] = 1;  // shared classifier
  std::memcpy(&v2[37], &group, 4);
  for (const char* n : {"rms_att", "rms_ffn", "rms_final"}) {
    v1 += raw(floats_of(n).first);
    v2 += raw(floats_of(n).first);
  }
  // Each matrix (per layer for the stacked ones): int8 values, then one scale per group.
  auto both = [&](const std::vector<float>& w, size_t begin, size_t n) {
    std::string q(n, '\0');
    std::vector<float> scales(n / size_t(group)), deq(n);
    for (size_t g = 0; g < scales.size(); ++g) {
      float m = 0;
      for (size_t i = 0; i < size_t(group); ++i) m = std::max(m, std::fabs(w[begin + g * group + i]));
      scales[g] = m / 127.0f;
      for (size_t i = 0; i < size_t(group); ++i) {
        const size_t k = g * group + i;
        const int8_t v = scales[g] > 0 ? int8_t(std::lround(w[begin + k] / scales[g])) : 0;
        q[k] = char(v);
        deq[k] = float(v) * scales[g];
      }
    }
    v1 += raw(deq);
    v2 += q + raw(scales);
  };
  auto tok = floats_of("token_embedding").first;
  both(tok, 0, tok.size());
  for (const char* n : {"wq", "wk", "wv", "wo", "w1", "w2", "w3"}) {
    auto [w, shape] = floats_of(n);
    const size_t per_layer = w.size() / size_t(shape[0]);
    for (int64_t l = 0; l < shape[0]; ++l) both(w, size_t(l) * per_layer, per_layer);
  }
  write_bytes(tmp / "v1.bin", v1);
  write_bytes(tmp / "v2.bin", v2);
  auto a = load_model(tmp / "v1.bin"), b = load_model(tmp / "v2.bin");
  torch::NoGradGuard g;
  auto ids = torch::tensor({1L, 5L, 7L, 2L}).unsqueeze(0);
  EXPECT_TRUE(torch::equal(a->forward(ids), b->forward(ids)));
}

TEST(InMemoryParsers, TokenizersFromBytesEncodeAsFromTheirFiles) {
  test::ScratchDir tmp;
  const std::string sep = "\n--next-file--\n";
  for (const char* seed : {"seed-bytelevel", "seed-spm_bpe"}) {
    SCOPED_TRACE(seed);
    const std::string all = read_file(kSeeds / "tokenizer_json" / seed);
    const size_t a = all.find(sep), b = all.find(sep, a + 1);
    ASSERT_NE(b, std::string::npos);
    const std::string json = all.substr(0, a), config = all.substr(a + sep.size(), b - a - sep.size()),
                      text = all.substr(b + sep.size());
    write_bytes(tmp / "tokenizer.json", json);
    write_bytes(tmp / "tokenizer_config.json", config);
    auto from_file = load_bpe_tokenizer(tmp / "tokenizer.json");
    auto from_bytes = parse_bpe_tokenizer(json, std::string_view(config), "tokenizer.json", "tokenizer_config.json");
    EXPECT_EQ(from_file->encode(text), from_bytes->encode(text));
    EXPECT_EQ(from_file->bos_id(), from_bytes->bos_id());
    EXPECT_FALSE(from_bytes->encode(text).empty());
    EXPECT_EQ(from_bytes->decode(from_bytes->encode(text, /*add_special=*/false)), text);
  }
  const std::string bin = read_file(kSeeds / "llama2c_tokenizer" / "seed-tok");
  write_bytes(tmp / "tokenizer.bin", bin);
  auto file = load_llama2c_tokenizer(tmp / "tokenizer.bin");
  auto mem = load_llama2c_tokenizer(ByteView(reinterpret_cast<const uint8_t*>(bin.data()), bin.size(), "t.bin"));
  EXPECT_EQ(file->encode("the tea"), mem->encode("the tea"));
  EXPECT_EQ(mem->vocab_size(), 3 + 256 + 7);
  EXPECT_THROW(load_llama2c_tokenizer(ByteView(reinterpret_cast<const uint8_t*>(bin.data()), 100, "t.bin")), Error);
  EXPECT_THROW(parse_bpe_tokenizer("{", std::nullopt, "t.json", "c.json"), Error);
  try {
    parse_bpe_tokenizer("{}", std::string_view("[1]"), "t.json", "dir/tokenizer_config.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "dir/tokenizer_config.json: not a JSON object");
  }
}

// fuzz_tokenizer_json's first finding: a vocabulary id of 2.5e22 was converted
// to int64 with undefined behaviour. Numbers that are not integers in range are errors.
TEST(InMemoryParsers, OutOfRangeNumbersInTokenizersAndConfigsAreErrors) {
  for (const char* id : {"2.5e22", "18446744073709551615", "4294967306", "1.5"}) {
    const std::string json = std::string(R"({"model": {"type": "BPE", "vocab": {"a": )") + id + R"(}, "merges": []}})";
    try {
      parse_bpe_tokenizer(json, std::nullopt, "tokenizer.json", "tokenizer_config.json");
      ADD_FAILURE() << id;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("model.vocab"), std::string::npos) << e.what();
    }
  }
  auto config = nlohmann::json::parse(read_file(kSeeds / "llama_config" / "seed-llama"));
  for (const char* v : {"1e30", "-1e30", "18446744073709551615", "32.5"}) {
    config["hidden_size"] = nlohmann::json::parse(v);
    EXPECT_THROW(LlamaConfig::from_json(config, "config.json"), Error) << v;
  }
}

// fuzz_llama_config's slow input: a Gemma config with 255,555,555 layers sized its
// per-layer sliding flags before the layer count was checked (8 s, 255 MB).
TEST(InMemoryParsers, AHugeLayerCountIsRefusedBeforeAnythingIsSizedByIt) {
  for (const char* seed : {"seed-llama", "seed-gemma3"}) {
    auto config = nlohmann::json::parse(read_file(kSeeds / "llama_config" / seed));
    for (int64_t layers : {int64_t(255555555), int64_t(1025), int64_t(0), int64_t(-3)}) {
      config["num_hidden_layers"] = layers;
      config.erase("layer_types");
      try {
        LlamaConfig::from_json(config, "config.json");
        ADD_FAILURE() << seed << " " << layers;
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "config.json: invalid model config: num_hidden_layers " +
                                             std::to_string(layers) + " (expected 1 to 1024)");
      }
    }
  }
}

TEST(InMemoryParsers, SafetensorsIndexNamesEachShardsTensors) {
  auto shards = parse_safetensors_index(
      R"({"metadata": {}, "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors", "c": "m-1.safetensors"}})", "idx");
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards["m-1.safetensors"], (std::set<std::string>{"a", "c"}));
  for (const char* bad : {R"({"weight_map": {"a": "../x.safetensors"}})", R"({"weight_map": {"a": "/etc/passwd"}})",
                          R"({"weight_map": {"a": ".."}})", R"({"weight_map": {"a": 3}})", R"({"weight_map": []})", "[]",
                          "{"}) {
    try {
      parse_safetensors_index(bad, "model.safetensors.index.json");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("model.safetensors.index.json: ", 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace userllm::llm
