// A run directory's checkpoint: RUN/encoder.json (model shape) and
// RUN/checkpoint.pt (weights, AdamW state, the CPU RNG state and the step),
// written atomically. Checkpoints are untrusted input: every tensor's shape is
// checked against the model before use.
#pragma once
#include <torch/nn.h>
#include <torch/optim.h>

#include <filesystem>

#include "encoder/user_encoder.h"

namespace userllm::encoder {

void save_encoder_options(const std::filesystem::path& run, const EncoderOptions& o);
EncoderOptions load_encoder_options(const std::filesystem::path& run);

void save_checkpoint(const std::filesystem::path& run, UserEncoder& model, torch::optim::Optimizer* opt,
                     int64_t step);
// Loads weights into `model` (and, when opt is given, the optimiser state and
// the RNG state). Returns the step the checkpoint was taken at.
int64_t load_checkpoint(const std::filesystem::path& run, UserEncoder& model, torch::optim::Optimizer* opt);

// encoder.json + checkpoint.pt -> a model in eval mode on `device`.
UserEncoder load_encoder(const std::filesystem::path& run, const torch::Device& device);

}  // namespace userllm::encoder
