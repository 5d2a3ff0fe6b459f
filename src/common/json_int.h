// Integers from untrusted JSON, checked. nlohmann's get<int>() turns 1e30 into
// undefined behaviour and 4294967306 silently into 10; these refuse both with
// a userllm::Error naming the field.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "common/error.h"

namespace userllm {

template <class T>
T json_int(const nlohmann::json& v, const std::string& what) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  constexpr T lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    if (x <= uint64_t(hi)) return T(x);
  } else if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (x >= int64_t(lo) && x <= int64_t(hi)) return T(x);
    } else {
      if (x >= 0 && uint64_t(x) <= uint64_t(hi)) return T(x);
    }
  } else {
    fail(what + ": expected an integer, got " + (v.is_number() ? v.dump() : std::string(v.type_name())));
  }
  fail(what + ": " + v.dump() + " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
}

// j[key] when present and not null, else `fallback`.
template <class T>
T json_int_or(const nlohmann::json& j, const char* key, T fallback, const std::string& what) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  return json_int<T>(j[key], what);
}

}  // namespace userllm
