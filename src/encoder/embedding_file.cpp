#include "encoder/embedding_file.h"

#include <cstring>

#include "common/atomic_file.h"
#include "common/error.h"

namespace userllm::encoder {

void write_embeddings(const std::filesystem::path& path, const UserEmbeddings& e) {
  AtomicFile f(path);
  const uint32_t version = 1, dim = e.dim, users = e.num_users(), flags = e.per_event ? 1u : 0u;
  const uint64_t rows = e.offsets.back();
  f.write(kEmbeddingMagic, 8);
  f.write(&version, 4);
  f.write(&dim, 4);
  f.write(&users, 4);
  f.write(&flags, 4);
  f.write(&rows, 8);
  f.write(e.offsets.data(), e.offsets.size() * sizeof(uint64_t));
  f.write(e.vectors.data(), e.vectors.size() * sizeof(float));
  for (const auto& k : e.keys) {
    const uint32_t len = static_cast<uint32_t>(k.size());
    f.write(&len, 4);
    f.write(k);
  }
  f.commit();
}

UserEmbeddings read_embeddings(const std::filesystem::path& path) { return read_embeddings(MappedFile(path)); }

UserEmbeddings read_embeddings(const ByteView& f) {
  const std::string& name = f.path();
  if (f.size() < 32 || std::memcmp(f.data(), kEmbeddingMagic, 8) != 0)
    fail(at_byte(name, 0, "not a userllm embeddings file (magic ULLMEMB1 expected)"));
  UserEmbeddings e;
  if (f.read<uint32_t>(8, "version") != 1) fail(at_byte(name, 8, "unsupported version (1 expected)"));
  e.dim = f.read<uint32_t>(12, "dim");
  const uint32_t users = f.read<uint32_t>(16, "user count");
  e.per_event = f.read<uint32_t>(20, "flags") & 1u;
  const uint64_t rows = f.read<uint64_t>(24, "row count");
  if (e.dim == 0 || e.dim > (1u << 20)) fail(at_byte(name, 12, "dim out of range"));
  uint64_t pos = 32;
  const uint64_t off_bytes = (static_cast<uint64_t>(users) + 1) * 8;
  const uint8_t* off = f.range(pos, off_bytes, "user offsets");
  e.offsets.resize(users + 1);
  std::memcpy(e.offsets.data(), off, off_bytes);
  for (uint32_t u = 0; u < users; ++u)
    if (e.offsets[u] > e.offsets[u + 1]) fail(at_byte(name, pos + 8 * (u + 1), "user offsets decrease"));
  if (e.offsets[0] != 0 || e.offsets[users] != rows) fail(at_byte(name, pos, "user offsets do not span the rows"));
  pos += off_bytes;
  if (rows > (f.size() - pos) / 4 / e.dim) fail(at_byte(name, pos, "file too short for " + std::to_string(rows) + " rows"));
  const uint64_t vec_bytes = rows * e.dim * 4;
  e.vectors.resize(rows * e.dim);
  const uint8_t* vectors = f.range(pos, vec_bytes, "vectors");
  if (vec_bytes) std::memcpy(e.vectors.data(), vectors, vec_bytes);  // memcpy of 0 bytes to null is UB
  pos += vec_bytes;
  for (uint32_t u = 0; u < users; ++u) {
    const uint32_t len = f.read<uint32_t>(pos, "key length");
    e.keys.emplace_back(reinterpret_cast<const char*>(f.range(pos + 4, len, "user key")), len);
    pos += 4 + static_cast<uint64_t>(len);
  }
  if (pos != f.size()) fail(at_byte(name, pos, "unexpected bytes after the last user key"));
  return e;
}

}  // namespace userllm::encoder
