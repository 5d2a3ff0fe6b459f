// libuserllm_spm.so: SentencePiece behind the C API of spm_api.h. Built as a
// MODULE linked to libsentencepiece only, loaded with dlopen(RTLD_DEEPBIND).
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "spm_api.h"

struct userllm_spm {
  sentencepiece::SentencePieceProcessor sp;
  std::string error;
  std::vector<int> ids;
  std::string text;
};

namespace {
void copy_error(const std::string& msg, char* err, size_t size) {
  if (!err || size == 0) return;
  std::strncpy(err, msg.c_str(), size - 1);
  err[size - 1] = '\0';
}
}  // namespace

extern "C" {

int userllm_spm_api_version(void) { return USERLLM_SPM_API_VERSION; }

userllm_spm* userllm_spm_load(const char* path, char* err, size_t err_size) {
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      copy_error(std::string(path) + ": cannot open", err, err_size);
      return nullptr;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    auto* spm = new userllm_spm;
    const auto status = spm->sp.LoadFromSerializedProto(buf.str());
    if (!status.ok()) {
      copy_error(std::string(path) + ": not a SentencePiece model: " + status.ToString(), err, err_size);
      delete spm;
      return nullptr;
    }
    return spm;
  } catch (const std::exception& e) {
    copy_error(std::string(path) + ": " + e.what(), err, err_size);
    return nullptr;
  }
}

void userllm_spm_free(userllm_spm* spm) { delete spm; }

const char* userllm_spm_error(const userllm_spm* spm) { return spm->error.c_str(); }

int64_t userllm_spm_encode(userllm_spm* spm, const char* text, size_t len, int32_t* ids, size_t cap) {
  try {
    const auto status = spm->sp.Encode(std::string_view(text, len), &spm->ids);
    if (!status.ok()) {
      spm->error = status.ToString();
      return -1;
    }
    for (size_t i = 0; i < spm->ids.size() && i < cap; i++) ids[i] = spm->ids[i];
    spm->error.clear();
    return int64_t(spm->ids.size());
  } catch (const std::exception& e) {
    spm->error = e.what();
    return -1;
  }
}

int64_t userllm_spm_decode(userllm_spm* spm, const int32_t* ids, size_t n, char* out, size_t cap) {
  try {
    const int size = spm->sp.GetPieceSize();
    std::vector<int> v(ids, ids + n);
    for (int id : v)
      if (id < 0 || id >= size) {
        spm->error = "token id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(size) + " pieces)";
        return -1;
      }
    const auto status = spm->sp.Decode(v, &spm->text);
    if (!status.ok()) {
      spm->error = status.ToString();
      return -1;
    }
    if (cap > 0) std::memcpy(out, spm->text.data(), std::min(cap, spm->text.size()));
    spm->error.clear();
    return int64_t(spm->text.size());
  } catch (const std::exception& e) {
    spm->error = e.what();
    return -1;
  }
}

int32_t userllm_spm_piece_size(const userllm_spm* spm) { return spm->sp.GetPieceSize(); }
int32_t userllm_spm_bos_id(const userllm_spm* spm) { return spm->sp.bos_id(); }
int32_t userllm_spm_eos_id(const userllm_spm* spm) { return spm->sp.eos_id(); }

}  // extern "C"
