// SentencePiece .model files, through the userllm_spm plugin (dlopen()ed:
// libsentencepiece cannot share a process image with libtorch's protobuf).
// The plugin is looked up beside the executable, then in $USERLLM_PLUGIN_DIR,
// then in the build directory.
#pragma once
#include <filesystem>
#include <memory>

#include "llm/tokenizer.h"

namespace userllm::llm {

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& path);

}  // namespace userllm::llm
