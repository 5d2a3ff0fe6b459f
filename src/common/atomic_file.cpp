#include "common/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "common/error.h"

namespace fs = std::filesystem;

namespace userllm {
namespace {

std::string unique_suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  return ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rng() % 1000000007);
}

}  // namespace

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  temp_ = target_;
  temp_ += unique_suffix();
  f_ = std::fopen(temp_.c_str(), "wb");
  if (!f_) fail(target_.string() + ": cannot create: " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (f_) {
    std::fclose(f_);
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::write(const void* data, size_t size) {
  if (size && std::fwrite(data, 1, size, f_) != size)
    fail(target_.string() + ": write failed: " + std::strerror(errno));
  written_ += size;
}

void AtomicFile::commit() {
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0)
    fail(target_.string() + ": flush failed: " + std::strerror(errno));
  std::fclose(f_);
  f_ = nullptr;
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) {
    fs::remove(temp_, ec);
    fail(target_.string() + ": cannot rename into place: " + ec.message());
  }
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string() + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

AtomicDir::AtomicDir(fs::path target) : target_(std::move(target)) {
  if (target_.filename().empty()) target_ = target_.parent_path();
  temp_ = target_;
  temp_ += unique_suffix();
  std::error_code ec;
  fs::create_directories(temp_, ec);
  if (ec) fail(target_.string() + ": cannot create directory: " + ec.message());
}

AtomicDir::~AtomicDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

void AtomicDir::commit() {
  std::error_code ec;
  if (fs::exists(target_)) {
    fs::path old = target_;
    old += unique_suffix();
    fs::rename(target_, old, ec);
    if (ec) fail(target_.string() + ": cannot replace: " + ec.message());
    fs::rename(temp_, target_, ec);
    fs::remove_all(old);
  } else {
    fs::rename(temp_, target_, ec);
  }
  if (ec) fail(target_.string() + ": cannot rename into place: " + ec.message());
  committed_ = true;
}

}  // namespace userllm
