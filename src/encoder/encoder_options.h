// Everything that fixes the shape of a user encoder. Saved beside each
// checkpoint (RUN/encoder.json) so that eval, embed and probe rebuild the
// same model without repeating flags.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace userllm::encoder {

enum class Fusion { kEarly, kLate };

// One categorical input field and the width of its embedding table.
struct FieldSpec {
  std::string name;
  int vocab = 0;  // including PAD (0) and OOV (1)
  int dim = 0;
};

struct EncoderOptions {
  std::vector<FieldSpec> fields;  // dataset fields, then "gap" when time_gap is on
  Fusion fusion = Fusion::kEarly;
  int layers = 2;
  int heads = 2;
  int dim = 64;        // transformer width
  int ffn_mult = 4;    // feed-forward width = ffn_mult * dim
  int max_len = 50;    // positions; longer histories use a sliding window (docs/cli.md)
  double dropout = 0.1;
  bool time_gap = true;  // adds the "gap" field: log2 bucket of the time since the previous event

  int item_field() const;  // index of "item", -1 when absent
  void validate() const;   // throws userllm::Error on impossible shapes
};

nlohmann::json to_json(const EncoderOptions& o);
EncoderOptions options_from_json(const nlohmann::json& j);  // throws userllm::Error

const char* fusion_name(Fusion f);
Fusion parse_fusion(const std::string& s);

}  // namespace userllm::encoder
