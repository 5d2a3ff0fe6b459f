// libFuzzer target for the user embeddings file (encoder embed's output, read
// by the server and by users), in memory: an accepted file's offsets, rows and
// keys agree with each other.
#include <cstdint>

#include "common/error.h"
#include "encoder/embedding_file.h"

using namespace userllm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  encoder::UserEmbeddings e;
  try {
    e = encoder::read_embeddings(ByteView(data, size, "users.emb"));
  } catch (const Error&) {
    return 0;
  }
  if (e.offsets.size() != size_t(e.num_users()) + 1 || e.vectors.size() != e.offsets.back() * e.dim) __builtin_trap();
  return 0;
}
