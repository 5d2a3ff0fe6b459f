// Precompiled header for every libtorch-using target. Only the parts of
// libtorch we use: the tensor library and the nn/optim frontend.
#pragma once
#include <torch/nn.h>
#include <torch/optim.h>
#include <torch/serialize.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
