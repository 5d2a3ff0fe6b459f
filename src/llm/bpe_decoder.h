// tokenizer.json decoders: turn token strings back into text (ByteLevel,
// Metaspace, Replace, ByteFallback, Fuse, Strip and Sequence of them).
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace userllm::llm {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings in place; the text is their concatenation.
  virtual void decode(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null; an Error naming the type for unsupported ones.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

}  // namespace userllm::llm
