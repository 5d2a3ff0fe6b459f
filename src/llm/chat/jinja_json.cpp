#include "llm/chat/jinja_json.h"

#include <algorithm>
#include <cmath>

#include "llm/chat/jinja_text.h"

namespace userllm::llm::jinja {
namespace {

struct Writer {
  const JsonStyle& style;
  std::string item_sep, key_sep;
  std::string out;

  void hex4(uint32_t c) {
    static const char* hex = "0123456789abcdef";
    out += "\\u";
    for (int k = 3; k >= 0; k--) out += hex[(c >> (4 * k)) & 15];
  }

  void string(const std::string& s) {
    out += '"';
    for (uint32_t c : decode_utf8(s)) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c < 0x20) hex4(c);
      else if (!style.ensure_ascii || c < 0x7f) append_utf8(out, c);
      else if (c < 0x10000) hex4(c);
      else hex4(0xd800 + ((c - 0x10000) >> 10)), hex4(0xdc00 + ((c - 0x10000) & 0x3ff));
    }
    out += '"';
  }

  static std::string key_text(const Value& k) {
    switch (k.kind) {
      case Kind::Str: return k.str();
      case Kind::Bool: return k.b ? "true" : "false";
      case Kind::None: return "null";
      case Kind::Int: return std::to_string(k.i);
      case Kind::Float: return float_repr(k.f);
      default: raise("keys must be str, int, float, bool or None, not " + type_name(k));
    }
  }

  void newline(int level) {
    out += '\n';
    for (int k = 0; k < level; k++) out += *style.indent;
  }

  void value(const Value& v, int level) {
    if (level > kMaxNesting) raise("value nested too deeply for tojson");
    check_size(out.size());
    charge(1);
    switch (v.kind) {
      case Kind::None: out += "null"; break;
      case Kind::Bool: out += v.b ? "true" : "false"; break;
      case Kind::Int: out += std::to_string(v.i); break;
      case Kind::Float:
        out += std::isnan(v.f) ? "NaN" : std::isinf(v.f) ? (v.f > 0 ? "Infinity" : "-Infinity") : float_repr(v.f);
        break;
      case Kind::Str: string(v.str()); break;
      case Kind::List:
      case Kind::Tuple: {
        if (v.elems().empty()) {
          out += "[]";
          break;
        }
        out += '[';
        if (style.indent) newline(level + 1);
        for (size_t k = 0; k < v.elems().size(); k++) {
          if (k) {
            out += item_sep;
            if (style.indent) newline(level + 1);
          }
          value(v.elems()[k], level + 1);
        }
        if (style.indent) newline(level);
        out += ']';
        break;
      }
      case Kind::Dict: {
        auto entries = v.dict->entries;
        if (entries.empty()) {
          out += "{}";
          break;
        }
        if (style.sort_keys)
          std::stable_sort(entries.begin(), entries.end(),
                           [](auto& a, auto& b) { return compare(a.first, b.first, "<"); });
        out += '{';
        if (style.indent) newline(level + 1);
        for (size_t k = 0; k < entries.size(); k++) {
          if (k) {
            out += item_sep;
            if (style.indent) newline(level + 1);
          }
          string(key_text(entries[k].first));
          out += key_sep;
          value(entries[k].second, level + 1);
        }
        if (style.indent) newline(level);
        out += '}';
        break;
      }
      default: raise("Object of type " + type_name(v) + " is not JSON serializable");
    }
  }
};

}  // namespace

std::string to_json(const Value& v, const JsonStyle& style) {
  Writer w{style, style.item_sep.value_or(style.indent ? "," : ", "), style.key_sep.value_or(": "), {}};
  w.value(v, 0);
  check_size(w.out.size());
  return w.out;
}

}  // namespace userllm::llm::jinja
