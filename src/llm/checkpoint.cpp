#include "llm/checkpoint.h"

#include <cstring>
#include <set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "llm/llama2c_loader.h"
#include "llm/safetensors.h"

namespace userllm::llm {

namespace fs = std::filesystem;

namespace {

torch::Dtype torch_dtype(DType d) {
  switch (d) {
    case DType::F64: return torch::kFloat64;
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
  }
  return torch::kFloat32;
}

DType file_dtype(torch::Dtype d, const std::string& name) {
  switch (d) {
    case torch::kFloat64: return DType::F64;
    case torch::kFloat32: return DType::F32;
    case torch::kFloat16: return DType::F16;
    case torch::kBFloat16: return DType::BF16;
    case torch::kInt64: return DType::I64;
    case torch::kInt32: return DType::I32;
    case torch::kInt16: return DType::I16;
    case torch::kInt8: return DType::I8;
    case torch::kUInt8: return DType::U8;
    case torch::kBool: return DType::BOOL;
    default: fail("tensor " + name + ": dtype cannot be stored in safetensors");
  }
}

}  // namespace

TensorMap read_safetensors(const fs::path& path, torch::Dtype dtype) {
  MappedFile file(path);
  auto header = parse_safetensors_header(file.data(), file.size(), file.path());
  TensorMap out;
  for (const auto& t : header.tensors) {
    auto raw = torch::empty(t.shape, torch::TensorOptions().dtype(torch_dtype(t.dtype)));
    const uint64_t bytes = t.end - t.begin;
    // Copy rather than wrap: data offsets need not be aligned for the dtype.
    if (bytes) std::memcpy(raw.data_ptr(), file.range(header.data_start + t.begin, bytes, t.name.c_str()), bytes);
    out[t.name] = raw.is_floating_point() ? raw.to(dtype) : raw;
  }
  return out;
}

void write_safetensors(const fs::path& path, const TensorMap& tensors) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorBlob> blobs;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(torch::kCPU).contiguous());
    blobs.push_back({name, file_dtype(t.scalar_type(), name), keep.back().sizes().vec(), keep.back().data_ptr()});
  }
  write_safetensors(path.string(), blobs);
}

TensorMap base_state(torch::nn::Module& model) {
  TensorMap out;
  for (const auto& p : model.named_parameters(/*recurse=*/true))
    if (p.key().find(".lora_") == std::string::npos) out[p.key()] = p.value();
  return out;
}

void load_state(torch::nn::Module& model, const TensorMap& tensors, const std::string& source, bool adopt) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& p : model.named_parameters(true)) {
    if (p.key().find(".lora_") != std::string::npos) continue;
    auto it = tensors.find(p.key());
    if (it == tensors.end()) fail(source + ": tensor \"" + p.key() + "\" is missing");
    if (it->second.sizes() != p.value().sizes()) {
      std::ostringstream msg;
      msg << source << ": tensor \"" << p.key() << "\" has shape " << it->second.sizes() << " but the config needs "
          << p.value().sizes();
      fail(msg.str());
    }
    const auto& src = it->second;
    if (adopt && src.scalar_type() == p.value().scalar_type() && src.device() == p.value().device() &&
        src.is_contiguous())
      p.value().set_data(src);
    else
      p.value().copy_(src);
    used.insert(p.key());
  }
  for (const auto& [name, t] : tensors) {
    if (used.count(name)) continue;
    if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // recomputed, older exports save it
    fail(source + ": tensor \"" + name + "\" does not belong to a model with this config");
  }
}

LlamaForCausalLM load_hf_model(const fs::path& dir, const LoadOptions& opts) {
  if (!fs::is_directory(dir)) fail(dir.string() + ": not a model directory");
  auto config = LlamaConfig::from_file((dir / "config.json").string());
  TensorMap tensors;
  std::string source;
  const auto single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
  if (fs::exists(single)) {
    tensors = read_safetensors(single, opts.dtype);
    source = single.string();
  } else if (fs::exists(index)) {
    source = index.string();
    auto shards = parse_safetensors_index(read_file(index), source);
    for (const auto& [shard, names] : shards) {
      auto part = read_safetensors(dir / shard, opts.dtype);
      for (auto& [name, t] : part) {
        if (!names.count(name)) fail((dir / shard).string() + ": tensor \"" + name + "\" is not listed for this shard in the index");
        if (!tensors.emplace(name, t).second) fail(source + ": tensor \"" + name + "\" appears in two shards");
      }
      for (const auto& n : names)
        if (!part.count(n)) fail(source + ": tensor \"" + n + "\" is listed for " + shard + " but not in it");
    }
  } else {
    fail(dir.string() + ": neither model.safetensors nor model.safetensors.index.json found");
  }
  // Tied models sometimes still carry lm_head.weight: the same tensor as the embedding.
  if (config.tie_word_embeddings) tensors.erase("lm_head.weight");
  // Compare sizes before allocating the model, so a lying config cannot ask for terabytes.
  int64_t stored = 0;
  for (const auto& [name, t] : tensors) stored += t.numel();
  if (stored < config.num_parameters())
    fail(source + ": the files hold " + std::to_string(stored) + " values but config.json describes a model of " +
         std::to_string(config.num_parameters()) + " parameters");
  LlamaForCausalLM model = [&] {
    UninitializedGuard uninitialized;  // every parameter is loaded next
    return LlamaForCausalLM(config);
  }();
  load_state(*model, tensors, source, /*adopt=*/true);
  model->to(opts.device, opts.dtype);
  model->eval();
  return model;
}

void save_hf_model(LlamaForCausalLM& model, const fs::path& dir) {
  auto config = model->config();
  config.torch_dtype = "float32";
  TensorMap state;
  for (auto& [name, t] : base_state(*model)) state[name] = t.to(torch::kFloat32);
  write_safetensors(dir / "model.safetensors", state);
  write_file_atomic(dir / "config.json", config.to_json().dump(2) + "\n");
}

LlamaForCausalLM load_model(const fs::path& path, const LoadOptions& opts) {
  if (fs::is_directory(path)) return load_hf_model(path, opts);
  if (!fs::exists(path)) fail(path.string() + ": no such model file or directory");
  auto model = load_llama2c(path);
  model->to(opts.device, opts.dtype);
  model->eval();
  return model;
}

}  // namespace userllm::llm
