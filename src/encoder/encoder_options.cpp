#include "encoder/encoder_options.h"

#include "common/error.h"
#include "common/json_int.h"

namespace userllm::encoder {

int EncoderOptions::item_field() const {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == "item") return static_cast<int>(i);
  return -1;
}

void EncoderOptions::validate() const {
  if (fields.empty()) fail("encoder: no input fields");
  for (const auto& f : fields)
    if (f.vocab < 2 || f.dim < 1 || f.vocab > (1 << 28) || f.dim > 65536)
      fail("encoder: field '" + f.name + "' has vocab " + std::to_string(f.vocab) + " and dim " +
           std::to_string(f.dim) + " (need vocab >= 2, dim >= 1)");
  if (layers < 1 || layers > 64) fail("encoder: --layers must be in 1..64, got " + std::to_string(layers));
  if (dim < 1 || dim > 16384) fail("encoder: --dim must be in 1..16384, got " + std::to_string(dim));
  if (heads < 1 || dim % heads != 0)
    fail("encoder: --heads (" + std::to_string(heads) + ") must divide --dim (" + std::to_string(dim) + ")");
  if (ffn_mult < 1 || ffn_mult > 16) fail("encoder: ffn_mult must be in 1..16");
  if (max_len < 2 || max_len > 65536) fail("encoder: --max-len must be in 2..65536, got " + std::to_string(max_len));
  if (!(dropout >= 0.0 && dropout < 1.0)) fail("encoder: dropout must be in [0, 1)");
}

const char* fusion_name(Fusion f) { return f == Fusion::kEarly ? "early" : "late"; }

Fusion parse_fusion(const std::string& s) {
  if (s == "early") return Fusion::kEarly;
  if (s == "late") return Fusion::kLate;
  fail("encoder: --fusion must be 'early' or 'late', got '" + s + "'");
}

nlohmann::json to_json(const EncoderOptions& o) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& f : o.fields) fields.push_back({{"name", f.name}, {"vocab", f.vocab}, {"dim", f.dim}});
  return {{"fields", fields},       {"fusion", fusion_name(o.fusion)}, {"layers", o.layers},
          {"heads", o.heads},       {"dim", o.dim},                    {"ffn_mult", o.ffn_mult},
          {"max_len", o.max_len},   {"dropout", o.dropout},            {"time_gap", o.time_gap}};
}

EncoderOptions options_from_json(const nlohmann::json& j) {
  EncoderOptions o;
  try {
    for (const auto& f : j.at("fields"))
      o.fields.push_back({f.at("name").get<std::string>(), json_int<int>(f.at("vocab"), "encoder options: vocab"),
                          json_int<int>(f.at("dim"), "encoder options: field dim")});
    o.fusion = parse_fusion(j.at("fusion").get<std::string>());
    o.layers = json_int<int>(j.at("layers"), "encoder options: layers");
    o.heads = json_int<int>(j.at("heads"), "encoder options: heads");
    o.dim = json_int<int>(j.at("dim"), "encoder options: dim");
    o.ffn_mult = json_int<int>(j.at("ffn_mult"), "encoder options: ffn_mult");
    o.max_len = json_int<int>(j.at("max_len"), "encoder options: max_len");
    o.dropout = j.at("dropout").get<double>();
    o.time_gap = j.at("time_gap").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("encoder options: ") + e.what());
  }
  o.validate();
  return o;
}

}  // namespace userllm::encoder
