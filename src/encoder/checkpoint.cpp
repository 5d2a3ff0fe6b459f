#include "encoder/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace userllm::encoder {

namespace {
constexpr const char* kFormat = "userllm-encoder-checkpoint-1";

std::filesystem::path ckpt_path(const std::filesystem::path& run) { return run / "checkpoint.pt"; }

// Every parameter of `loaded` must have the shape and dtype the model expects.
void check_shapes(const std::string& file, const std::vector<std::pair<std::string, torch::Tensor>>& expected,
                  torch::nn::Module& loaded) {
  auto params = loaded.named_parameters();
  for (const auto& [name, want] : expected) {
    auto* got = params.find(name);
    if (!got || got->sizes() != want.sizes() || got->scalar_type() != want.scalar_type())
      fail(file + ": tensor '" + name + "' has the wrong shape or type for the model in encoder.json");
  }
}
}  // namespace

void save_encoder_options(const std::filesystem::path& run, const EncoderOptions& o) {
  write_file_atomic(run / "encoder.json", to_json(o).dump(2) + "\n");
}

EncoderOptions load_encoder_options(const std::filesystem::path& run) {
  auto path = run / "encoder.json";
  if (!std::filesystem::exists(path)) fail(path.string() + ": not found (is '" + run.string() + "' an encoder run?)");
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded()) fail(path.string() + ": not valid JSON");
  try {
    return options_from_json(j);
  } catch (const Error& e) {
    fail(path.string() + ": " + e.what());
  }
}

void save_checkpoint(const std::filesystem::path& run, UserEncoder& model, torch::optim::Optimizer* opt,
                     int64_t step) {
  torch::serialize::OutputArchive archive, model_archive, opt_archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("step", c10::IValue(step));
  model->save(model_archive);
  archive.write("model", model_archive);
  if (opt) {
    opt->save(opt_archive);
    archive.write("optimizer", opt_archive);
    archive.write("rng", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  AtomicFile f(ckpt_path(run));
  f.write(bytes.str());
  f.commit();
}

int64_t load_checkpoint(const std::filesystem::path& run, UserEncoder& model, torch::optim::Optimizer* opt) {
  const std::string file = ckpt_path(run).string();
  if (!std::filesystem::exists(file)) fail(file + ": not found");
  std::vector<std::pair<std::string, torch::Tensor>> expected;
  for (const auto& p : model->named_parameters()) expected.emplace_back(p.key(), p.value().detach().clone());
  int64_t step = 0;
  try {
    torch::serialize::InputArchive archive, model_archive, opt_archive;
    archive.load_from(file);
    c10::IValue format, step_v;
    archive.read("format", format);
    if (!format.isString() || format.toStringRef() != kFormat) fail(file + ": not a userllm encoder checkpoint");
    archive.read("step", step_v);
    if (!step_v.isInt() || step_v.toInt() < 0) fail(file + ": bad step");
    step = step_v.toInt();
    archive.read("model", model_archive);
    model->load(model_archive);
    check_shapes(file, expected, *model);
    if (opt) {
      archive.read("optimizer", opt_archive);
      opt->load(opt_archive);
      // AdamW moments must match their parameters.
      for (const auto& group : opt->param_groups())
        for (const auto& p : group.params()) {
          auto it = opt->state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
          if (it == opt->state().end()) continue;
          auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
          if (s.exp_avg().sizes() != p.sizes() || s.exp_avg_sq().sizes() != p.sizes())
            fail(file + ": optimiser state does not match the model");
        }
      torch::Tensor rng;
      archive.read("rng", rng, /*is_buffer=*/true);
      at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle to the shared generator
      gen.set_state(rng);
    }
  } catch (const c10::Error& e) {
    fail(file + ": unreadable checkpoint (" + std::string(e.what_without_backtrace()) + ")");
  }
  return step;
}

UserEncoder load_encoder(const std::filesystem::path& run, const torch::Device& device) {
  UserEncoder model(load_encoder_options(run));
  load_checkpoint(run, model, nullptr);
  model->to(device);
  model->eval();
  return model;
}

}  // namespace userllm::encoder
