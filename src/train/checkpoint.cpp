// The resumable fine-tuning checkpoint. Names go in one string (archive keys
// cannot hold the dots of parameter names); tensors are stored by position.
#include <ATen/CPUGeneratorImpl.h>

#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/optimizer_state.h"
#include "train/finetune_internal.h"

namespace userllm::train {

namespace {
constexpr const char* kFormat = "userllm-finetune-checkpoint-1";

std::string joined_names(const NamedTensors& trained) {
  std::string s;
  for (const auto& [name, t] : trained) s += name + "\n";
  return s;
}
}  // namespace

void save_checkpoint(const std::filesystem::path& file, const NamedTensors& trained, torch::optim::Optimizer& opt,
                     int64_t step) {
  torch::serialize::OutputArchive archive, tensors, opt_archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("step", c10::IValue(step));
  archive.write("names", c10::IValue(joined_names(trained)));
  for (size_t i = 0; i < trained.size(); ++i) tensors.write("t" + std::to_string(i), trained[i].second.detach());
  archive.write("tensors", tensors);
  opt.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(file, bytes.str());
}

int64_t load_checkpoint(const std::filesystem::path& file, const NamedTensors& trained, torch::optim::Optimizer& opt) {
  const std::string f = file.string();
  if (!std::filesystem::exists(file)) fail(f + ": not found (nothing to resume)");
  try {
    torch::serialize::InputArchive archive, tensors, opt_archive;
    archive.load_from(f);
    c10::IValue format, step, names;
    archive.read("format", format);
    if (!format.isString() || format.toStringRef() != kFormat) fail(f + ": not a userllm fine-tuning checkpoint");
    archive.read("step", step);
    if (!step.isInt() || step.toInt() < 0) fail(f + ": bad step");
    archive.read("names", names);
    if (!names.isString() || names.toStringRef() != joined_names(trained))
      fail(f + ": its trained parameters are not the ones this run trains (another strategy or model?)");
    archive.read("tensors", tensors);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < trained.size(); ++i) {
      torch::Tensor t;
      tensors.read("t" + std::to_string(i), t);
      const auto& [name, param] = trained[i];
      if (t.sizes() != param.sizes() || t.scalar_type() != param.scalar_type())
        fail(f + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) + ", the model expects " +
             c10::str(param.sizes()));
      param.copy_(t);
    }
    archive.read("optimizer", opt_archive);
    opt.load(opt_archive);
    llm::check_adamw_state(opt, f);
    torch::Tensor rng;
    archive.read("rng", rng, /*is_buffer=*/true);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
    return step.toInt();
  } catch (const c10::Error& e) {
    fail(f + ": unreadable checkpoint (" + std::string(e.what_without_backtrace()) + ")");
  }
}

}  // namespace userllm::train
