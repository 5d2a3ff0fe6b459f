// `encoder embed --format`: the user embeddings for numpy and safetensors
// users, beside the project's own format (docs/data-format.md).
#pragma once
#include <filesystem>
#include <string>

#include "encoder/embed.h"

namespace userllm::cli {

// safetensors: "embeddings" F32 [rows, dim] and "offsets" I64 [users + 1]
// (user u owns rows offsets[u] .. offsets[u + 1]); the user ids are the
// metadata's "users", a JSON list.
void write_embeddings_safetensors(const std::filesystem::path& path, const encoder::UserEmbeddings& e);

// .npy (format 1.0): the [users, dim] float32 matrix of user vectors, row u
// for the u-th id of `keys_path` (one per line). `e` holds user vectors only
// (the command refuses --per-event before embedding: those rows need offsets).
void write_embeddings_npy(const std::filesystem::path& path, const std::filesystem::path& keys_path,
                          const encoder::UserEmbeddings& e);

}  // namespace userllm::cli
