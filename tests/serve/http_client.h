// A minimal HTTP/1.1 client for the server tests: one request per connection
// (Connection: close), the response read to EOF, chunked bodies decoded. Reads
// time out, so a test never hangs on a server that stopped answering.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

namespace userllm::test {

struct HttpResponse {
  int status = 0;  // 0: no answer (connection refused, timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

inline std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline HttpResponse http_request(int port, const std::string& method, const std::string& path,
                                 const std::string& body = "", const std::string& extra_headers = "",
                                 int timeout_s = 60) {
  HttpResponse r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers;
  if (!body.empty() || method == "POST")
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += size_t(n);
  }
  std::string raw;
  char buf[65536];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, size_t(n));
  close(fd);
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  for (size_t at = raw.find("\r\n") + 2; at < head_end;) {
    size_t eol = raw.find("\r\n", at), colon = raw.find(':', at);
    if (colon < eol) r.headers[lower(raw.substr(at, colon - at))] = raw.substr(colon + 2, eol - colon - 2);
    at = eol + 2;
  }
  std::string rest = raw.substr(head_end + 4);
  if (lower(r.headers["transfer-encoding"]) == "chunked") {
    for (size_t at = 0; at < rest.size();) {
      size_t eol = rest.find("\r\n", at);
      if (eol == std::string::npos) break;
      const size_t len = std::stoul(rest.substr(at, eol - at), nullptr, 16);
      if (len == 0) break;
      r.body += rest.substr(eol + 2, len);
      at = eol + 2 + len + 2;
    }
  } else {
    r.body = rest;
  }
  return r;
}

}  // namespace userllm::test
