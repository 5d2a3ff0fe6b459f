// libFuzzer target for the server's request bodies (serve/http/request_fields):
// the first byte picks the route, the rest is the body. Anything but a parsed
// request or a RequestError with a 4xx status is a finding.
#include <cstdint>

#include "serve/http/request_fields.h"

using namespace userllm::serve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ServerOptions o;
  o.max_body_bytes = 64 << 10;
  o.max_string_bytes = 4 << 10;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 0: {
        auto events = parse_events(parse_body(body, o), o);
        if (events.empty() || int64_t(events.size()) > o.max_events_per_post) __builtin_trap();
        break;
      }
      case 1: (void)parse_completion(parse_body(body, o), /*chat=*/false, o); break;
      case 2: {
        auto c = parse_completion(parse_body(body, o), /*chat=*/true, o);
        if (c.request.max_tokens < 0 || c.request.max_tokens > o.max_tokens) __builtin_trap();
        break;
      }
      case 3: {
        auto r = parse_recommendation(parse_body(body, o), o);
        if (r.k < 1 || r.k > o.max_k) __builtin_trap();
        break;
      }
      default: (void)check_user_id(std::string(body)); break;
    }
  } catch (const RequestError& e) {
    if (e.status < 400 || e.status >= 500) __builtin_trap();
  }
  return 0;
}
