// Values of the Jinja interpreter: a small model of the Python objects chat
// templates compute with (None, bool, int, float, str, list, tuple, dict,
// jinja2's Undefined, namespace(), macros and bound methods, the loop object),
// with Python's str(), repr(), ==, < and truthiness.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace userllm::llm::jinja {

// A failure while rendering; the interpreter adds the template line.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
[[noreturn]] void raise(const std::string& message);

// Bounds for untrusted templates (they come from model directories).
constexpr size_t kMaxString = size_t(16) << 20;  // bytes of any string, the rendered text included
constexpr size_t kMaxItems = size_t(1) << 18;    // elements of one list
constexpr int kMaxNesting = 400;                 // list/dict nesting depth of one value
constexpr uint64_t kMaxSteps = 20'000'000;       // work of one render (see charge())
constexpr uint64_t kMaxIterations = 1'000'000;   // loop iterations of one render

// Iter models the one-pass iterators some filters return (map, select, unique, reverse...):
// always true, no len(), exhausted once iterated, as in Python.
enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, Str, List, Tuple, Dict, Namespace, Func, Loop, Iter };

struct Value;
struct Dict;
struct Function;
struct LoopInfo;
using List = std::vector<Value>;

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::shared_ptr<const std::string> s;  // Str; Undefined: the error raised when it is used; Iter: Python type
  std::shared_ptr<const List> items;     // List, Tuple, Iter
  std::shared_ptr<size_t> cursor;        // Iter: how many items were consumed
  std::shared_ptr<Dict> dict;            // Dict (never changed once built); Namespace (set ns.x = ...)
  std::shared_ptr<const Function> fn;    // Func
  std::shared_ptr<const LoopInfo> loop;  // Loop

  const std::string& str() const { return *s; }
  const List& elems() const { return *items; }
  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_str() const { return kind == Kind::Str; }
  bool is_int() const { return kind == Kind::Int || kind == Kind::Bool; }  // Python's bool is an int
  bool is_number() const { return is_int() || kind == Kind::Float; }
  bool is_seq() const { return kind == Kind::List || kind == Kind::Tuple; }
  double as_double() const { return kind == Kind::Float ? f : double(kind == Kind::Bool ? int64_t(b) : i); }
  int64_t as_int() const { return kind == Kind::Bool ? int64_t(b) : i; }
};

// Insertion-ordered like a Python dict; keys compare with Python == (1 == 1.0 == True).
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
};

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};
class Interp;
struct Function {
  std::string name;
  bool macro = false;  // prints as <Macro 'name'>
  std::function<Value(Interp&, Args&)> call;
};
struct LoopInfo {
  size_t index0 = 0;
  std::shared_ptr<const List> items;  // what the loop iterates (after its `if` filter)
};

Value undefined(std::string why);  // why: the error raised when it is used, e.g. "'x' is undefined"
Value none();
Value boolean(bool b);
Value integer(int64_t i);
Value number(double f);
Value text(std::string s);
Value list(List items);
Value tuple(List items);
Value dict(Dict d);
Value iterator(List items, std::string python_type = "generator");
Value function(std::string name, std::function<Value(Interp&, Args&)> call);

[[noreturn]] void fail_undefined(const Value& v);  // raises the error the Undefined carries

bool truthy(const Value& v);
std::string to_str(const Value& v);  // Python str()
std::string repr(const Value& v);    // Python repr()
std::string float_repr(double d);    // Python repr() of a float: 1.0, 0.1, 1e-05, 1e+16
std::string str_repr(const std::string& s);
bool equal(const Value& a, const Value& b);                        // Python ==
bool compare(const Value& a, const Value& b, const std::string& op);  // Python <, <=, >, >=; TypeError otherwise
bool contains(const Value& container, const Value& item);          // Python `in`
std::string type_name(const Value& v);    // Python's type name: str, int, NoneType, ...
std::string object_repr(const Value& v);  // jinja2's object_type_repr: "dict object", "None"
size_t length(const Value& v);            // Python len(); TypeError where it has none
List iterate(const Value& v);             // Python iter(): list items, dict keys, string characters

Value from_json(const nlohmann::ordered_json& j);
// Nesting depth of a value, following namespaces; raises past kMaxNesting (so also on cycles).
int nesting(const Value& v);

// Counts work against kMaxSteps for the render running on this thread.
void charge(uint64_t steps);
class BudgetScope {  // one per render
 public:
  BudgetScope();
  ~BudgetScope();
  uint64_t steps = 0, iterations = 0;

 private:
  BudgetScope* prev_;
};
BudgetScope* budget();
void check_size(size_t bytes);  // raises when a string would exceed kMaxString

}  // namespace userllm::llm::jinja
