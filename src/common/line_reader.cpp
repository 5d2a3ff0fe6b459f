#include "common/line_reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace userllm {
namespace {
constexpr size_t kChunk = 1 << 20;
}

LineReader::LineReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY);
  if (fd_ < 0) fail(path + ": cannot open: " + std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  ssize_t n = ::pread(fd_, magic, 2, 0);
  if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    gz_ = gzdopen(fd_, "rb");
    if (!gz_) fail(path + ": cannot open as gzip");
    fd_ = -1;  // owned by zlib now
    gzbuffer(static_cast<gzFile>(gz_), 1 << 17);
  }
}

LineReader::~LineReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
  if (fd_ >= 0) ::close(fd_);
}

bool LineReader::fill() {
  if (eof_) return false;
  buf_.erase(0, pos_);
  pos_ = 0;
  size_t old = buf_.size();
  buf_.resize(old + kChunk);
  long got;
  if (gz_) {
    auto* gz = static_cast<gzFile>(gz_);
    got = gzread(gz, &buf_[old], unsigned(kChunk));
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(gz, &errnum);
      buf_.resize(old);
      fail(path_ + ": corrupt or truncated gzip data after " + std::to_string(consumed_ + old) +
           " uncompressed bytes: " + (msg ? msg : "unknown zlib error"));
    }
    if (got == 0) {
      int errnum = 0;
      const char* msg = gzerror(gz, &errnum);
      if (errnum != Z_OK && errnum != Z_STREAM_END)
        fail(path_ + ": truncated gzip data: " + (msg ? msg : "unexpected end of file"));
    }
  } else {
    got = ::read(fd_, &buf_[old], kChunk);
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
