#include "common/line_reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"

namespace userllm {
namespace {
constexpr size_t kChunk = 1 << 20;

bool is_gzip(const unsigned char* magic, size_t n) { return n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b; }

// zlib's gzerror() message without the "<fd:3>: " it prefixes for a gzdopen()ed
// file: our messages name the file themselves, and read alike from memory.
std::string gz_message(gzFile gz, const char* otherwise) {
  int errnum = 0;
  const char* msg = gzerror(gz, &errnum);
  std::string m = msg && *msg ? msg : otherwise;
  if (m.rfind("<fd:", 0) == 0) {
    size_t at = m.find(">: ");
    if (at != std::string::npos) m.erase(0, at + 3);
  }
  return m;
}

}  // namespace

LineReader::LineReader(const TextInput& input) : path_(input.path) {
  if (input.bytes) {
    mem_ = *input.bytes;
    if (is_gzip(reinterpret_cast<const unsigned char*>(mem_->data()), mem_->size())) {
      auto* zs = new z_stream{};
      if (inflateInit2(zs, 15 + 16) != Z_OK) {  // 15 + 16: a gzip wrapper, as gzread reads
        delete zs;
        fail(path_ + ": cannot open as gzip");
      }
      zs_ = zs;
    }
    return;
  }
  fd_ = ::open(path_.c_str(), O_RDONLY);
  if (fd_ < 0) fail(path_ + ": cannot open: " + std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  ssize_t n = ::pread(fd_, magic, 2, 0);
  if (n == 2 && is_gzip(magic, 2)) {
    gz_ = gzdopen(fd_, "rb");
    if (!gz_) fail(path_ + ": cannot open as gzip");
    fd_ = -1;  // owned by zlib now
    gzbuffer(static_cast<gzFile>(gz_), 1 << 17);
  }
}

LineReader::~LineReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
  if (zs_) {
    inflateEnd(static_cast<z_stream*>(zs_));
    delete static_cast<z_stream*>(zs_);
  }
  if (fd_ >= 0) ::close(fd_);
}

// Plain bytes are handed over as they are. Gzip is inflated member after
// member; bytes after a member that do not start another are ignored, as
// gzread ignores them, so a file and its bytes read alike.
long LineReader::read_memory(char* out, size_t n) {
  std::string_view& in = *mem_;
  if (!zs_) {
    n = std::min(n, in.size());
    std::memcpy(out, in.data(), n);
    in.remove_prefix(n);
    return long(n);
  }
  auto* zs = static_cast<z_stream*>(zs_);
  size_t got = 0;
  while (got < n && (member_open_ || !in.empty())) {
    if (!member_open_) {
      if (!is_gzip(reinterpret_cast<const unsigned char*>(in.data()), in.size())) {
        in = {};
        break;
      }
      inflateReset(zs);
      member_open_ = true;
    }
    zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs->avail_in = uInt(std::min<size_t>(in.size(), 1u << 30));
    zs->next_out = reinterpret_cast<Bytef*>(out + got);
    zs->avail_out = uInt(n - got);
    int rc = inflate(zs, Z_NO_FLUSH);
    got = n - zs->avail_out;
    in.remove_prefix(in.size() - zs->avail_in);
    if (rc == Z_STREAM_END) {
      member_open_ = false;
    } else if ((rc == Z_OK || rc == Z_BUF_ERROR) && in.empty()) {
      if (got > 0) break;  // hand over what came; the next call reports the end
      fail(path_ + ": truncated gzip data: unexpected end of file");
    } else if (rc != Z_OK) {  // Z_OK with input left: the output is full and the loop ends
      // The count is of bytes handed over before this call, as a file's is.
      fail(path_ + ": corrupt or truncated gzip data after " + std::to_string(inflated_) +
           " uncompressed bytes: " + (zs->msg ? zs->msg : "unknown zlib error"));
    }
  }
  inflated_ += got;
  return long(got);
}

bool LineReader::fill() {
  if (eof_) return false;
  buf_.erase(0, pos_);
  pos_ = 0;
  size_t old = buf_.size();
  // Bytes in memory need no bigger buffer than themselves (the fuzzers run on
  // inputs of a few KiB, and a 1 MiB buffer per input would dominate).
  const size_t chunk = !mem_ ? kChunk : zs_ ? std::min(kChunk, size_t(64) << 10) : std::min(kChunk, mem_->size() + 1);
  buf_.resize(old + chunk);
  long got;
  if (mem_) {
    got = read_memory(&buf_[old], chunk);
  } else if (gz_) {
    auto* gz = static_cast<gzFile>(gz_);
    got = gzread(gz, &buf_[old], unsigned(chunk));
    if (got < 0) {
      buf_.resize(old);
      fail(path_ + ": corrupt or truncated gzip data after " + std::to_string(consumed_ + old) +
           " uncompressed bytes: " + gz_message(gz, "unknown zlib error"));
    }
    if (got == 0) {
      int errnum = 0;
      gzerror(gz, &errnum);
      if (errnum != Z_OK && errnum != Z_STREAM_END)
        fail(path_ + ": truncated gzip data: " + gz_message(gz, "unexpected end of file"));
    }
  } else {
    got = ::read(fd_, &buf_[old], chunk);
    if (got < 0) fail(path_ + ": read failed: " + std::strerror(errno));
  }
  buf_.resize(old + size_t(got));
  if (got == 0) eof_ = true;
  return got > 0;
}

bool LineReader::next(std::string_view& line) {
  for (;;) {
    size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      size_t end = nl;
      if (end > pos_ && buf_[end - 1] == '\r') --end;
      line = std::string_view(buf_).substr(pos_, end - pos_);
      consumed_ += nl + 1 - pos_;
      pos_ = nl + 1;
      ++line_no_;
      return true;
    }
    if (!fill()) {
      if (pos_ >= buf_.size()) return false;
      // Last line without a newline.
      size_t end = buf_.size();
      if (end > pos_ && buf_[end - 1] == '\r') --end;
      line_.assign(buf_, pos_, end - pos_);
      consumed_ += buf_.size() - pos_;
      pos_ = buf_.size();
      ++line_no_;
      line = line_;
      return true;
    }
  }
}

}  // namespace userllm
