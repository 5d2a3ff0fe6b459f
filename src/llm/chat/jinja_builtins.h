// What templates call: jinja2's filters and tests (jinja_filters.cpp), attribute
// and item lookup with the methods of str, dict and list as
// ImmutableSandboxedEnvironment allows them (jinja_methods.cpp), and the
// globals HF provides (range, namespace, dict, joiner, raise_exception, strftime_now).
#pragma once
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "llm/chat/jinja_value.h"

namespace userllm::llm::jinja {

bool is_filter(const std::string& name);
bool is_test(const std::string& name);
Value apply_filter(Interp& in, const std::string& name, const Value& subject, Args& args);
bool apply_test(Interp& in, const std::string& name, const Value& subject, Args& args);

// jinja2's sandboxed getattr (obj.name: attribute first, then key; allow_keys=false
// for the |attr filter) and getitem (obj[key]: key first, then attribute). Both give
// Undefined where Python fails, and raise only when obj itself is Undefined.
Value get_attr(const Value& obj, const std::string& name, bool allow_keys = true);
Value get_item(const Value& obj, const Value& key);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
Value global(const std::string& name);  // Undefined if there is no such global

Value arith(const std::string& op, const Value& a, const Value& b);  // Python + - * / // % ** (str % args too)
std::string percent_format(const std::string& fmt, const Value& args);  // Python's "fmt" % args
std::string format_spec(const Value& v, const std::string& spec);        // Python's format(v, spec), common specs

// Binds args to Python-style parameter names (who: for messages); absent ones stay empty.
std::vector<std::optional<Value>> bind_args(const std::string& who, const Args& args, std::initializer_list<const char*> names,
                                       size_t required = 0);

}  // namespace userllm::llm::jinja
