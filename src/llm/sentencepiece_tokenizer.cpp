#include "llm/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "common/build_config.h"
#include "common/error.h"
#include "llm/spm_plugin/spm_api.h"

namespace userllm::llm {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPluginName = "libuserllm_spm.so";

// The plugin's entry points, resolved once per process.
struct Plugin {
  decltype(&userllm_spm_load) load;
  decltype(&userllm_spm_free) free;
  decltype(&userllm_spm_error) error;
  decltype(&userllm_spm_encode) encode;
  decltype(&userllm_spm_decode) decode;
  decltype(&userllm_spm_piece_size) piece_size;
  decltype(&userllm_spm_bos_id) bos_id;
  decltype(&userllm_spm_eos_id) eos_id;
};

std::vector<fs::path> plugin_dirs() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path());
  if (const char* env = std::getenv("USERLLM_PLUGIN_DIR"); env && *env) dirs.emplace_back(env);
  dirs.emplace_back(USERLLM_BUILD_DIR);
  return dirs;
}

Plugin open_plugin() {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizer runtime aborts any dlopen with RTLD_DEEPBIND, and without it the
  // plugin's protobuf would collide with libtorch's.
  fail("SentencePiece tokenizers cannot be loaded in a sanitizer build (USERLLM_SANITIZE): RTLD_DEEPBIND");
#endif
  std::string tried, last_error;
  for (const auto& dir : plugin_dirs()) {
    const fs::path p = dir / kPluginName;
    tried += "\n  " + p.string();
    if (!fs::exists(p)) continue;
    // DEEPBIND: the plugin binds to its own protobuf, not to libtorch's.
    void* h = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) {
      last_error = ::dlerror();
      tried += " (" + last_error + ")";
      continue;
    }
    auto sym = [&](const char* name) {
      void* s = ::dlsym(h, name);
      if (!s) fail(p.string() + ": SentencePiece plugin lacks " + name + " (stale build?)");
      return s;
    };
    auto version = reinterpret_cast<decltype(&userllm_spm_api_version)>(sym("userllm_spm_api_version"));
    if (version() != USERLLM_SPM_API_VERSION)
      fail(p.string() + ": SentencePiece plugin API version " + std::to_string(version()) + ", expected " +
           std::to_string(USERLLM_SPM_API_VERSION) + " (rebuild it)");
    Plugin pl;
    pl.load = reinterpret_cast<decltype(pl.load)>(sym("userllm_spm_load"));
    pl.free = reinterpret_cast<decltype(pl.free)>(sym("userllm_spm_free"));
    pl.error = reinterpret_cast<decltype(pl.error)>(sym("userllm_spm_error"));
    pl.encode = reinterpret_cast<decltype(pl.encode)>(sym("userllm_spm_encode"));
    pl.decode = reinterpret_cast<decltype(pl.decode)>(sym("userllm_spm_decode"));
    pl.piece_size = reinterpret_cast<decltype(pl.piece_size)>(sym("userllm_spm_piece_size"));
    pl.bos_id = reinterpret_cast<decltype(pl.bos_id)>(sym("userllm_spm_bos_id"));
    pl.eos_id = reinterpret_cast<decltype(pl.eos_id)>(sym("userllm_spm_eos_id"));
    return pl;
  }
  fail(std::string("SentencePiece plugin ") + kPluginName + " not found (build the userllm_spm target, or set "
       "USERLLM_PLUGIN_DIR to its directory); tried:" + tried);
}

const Plugin& plugin() {
  static const Plugin p = open_plugin();  // thread-safe; an Error is retried on the next call
  return p;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const fs::path& path) : api_(plugin()) {
    char err[512] = {};
    spm_ = api_.load(path.c_str(), err, sizeof err);
    if (!spm_) fail(err);
    size_ = api_.piece_size(spm_);
    bos_ = api_.bos_id(spm_);
    eos_ = api_.eos_id(spm_);
  }
  ~SentencePieceTokenizer() override { api_.free(spm_); }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool add_eos) const override {
    std::lock_guard<std::mutex> lock(mutex_);  // the plugin handle keeps per-call buffers
    std::vector<int32_t> ids(text.size() + 16);
    int64_t n = api_.encode(spm_, text.data(), text.size(), ids.data(), ids.size());
    if (n > int64_t(ids.size())) {
      ids.resize(size_t(n));
      n = api_.encode(spm_, text.data(), text.size(), ids.data(), ids.size());
    }
    if (n < 0) fail(std::string("SentencePiece encode failed: ") + api_.error(spm_));
    ids.resize(size_t(n));
    if (add_bos && bos_ >= 0) ids.insert(ids.begin(), bos_);
    if (add_eos && eos_ >= 0) ids.push_back(eos_);
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out(ids.size() * 8 + 16, '\0');
    int64_t n = api_.decode(spm_, ids.data(), ids.size(), out.data(), out.size());
    if (n > int64_t(out.size())) {
      out.resize(size_t(n));
      n = api_.decode(spm_, ids.data(), ids.size(), out.data(), out.size());
    }
    if (n < 0) fail(std::string("SentencePiece decode failed: ") + api_.error(spm_));
    out.resize(size_t(n));
    return out;
  }

  std::string decode_token(int32_t prev, int32_t id) const override { return decode_by_difference(*this, prev, id); }
  int32_t vocab_size() const override { return size_; }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }

 private:
  const Plugin& api_;
  userllm_spm* spm_ = nullptr;
  int32_t size_ = 0, bos_ = -1, eos_ = -1;
  mutable std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const fs::path& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace userllm::llm
