// The layout of a llama2.c checkpoint (formats in llama2c_loader.h), read and
// checked without libtorch so that the fuzzers run it: the config its header
// gives, and where each weight array lies. The arrays lie inside the file and
// cover it exactly; anything else is a userllm::Error naming the byte offset.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/mapped_file.h"
#include "llm/llama_config.h"

namespace userllm::llm {

struct Llama2cArray {
  std::string name;   // run.c's name: "wq", "rms_att", "token_embedding", ...
  int64_t layer = -1; // >= 0: one layer's matrix of a per-layer array (versions 1, 2)
  uint64_t offset = 0;
  std::vector<int64_t> shape;
  bool q8 = false;    // Q8_0: int8 values, then one float32 scale per group
  bool skip = false;  // stored but not a weight (freq_cis)
};

struct Llama2cLayout {
  LlamaConfig config;
  int version = 0;      // 0 legacy, 1 float32, 2 Q8_0
  int64_t group = 0;    // Q8_0 group size (version 2)
  bool shared = false;  // the classifier is the token embedding
  std::vector<Llama2cArray> arrays;  // in file order
};

Llama2cLayout read_llama2c_layout(const ByteView& file);

}  // namespace userllm::llm
