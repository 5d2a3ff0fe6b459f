#include "serve/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace userllm::serve {
namespace {

// std::atomic<double> has no fetch_add before C++20.
void atomic_add(std::atomic<double>& a, double v) {
  double old = a.load();
  while (!a.compare_exchange_weak(old, old + v)) {
  }
}

bool valid_name(const std::string& s, bool colon) {
  auto ok = [&](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
  };
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (!ok(s[i], i == 0)) return false;
  return true;
}

void check_labels(const std::string& metric, const std::vector<std::string>& labels, bool histogram) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& l = labels[i];
    if (!valid_name(l, false) || l.rfind("__", 0) == 0)
      fail("metric " + metric + ": invalid label name '" + l + "'");
    if (histogram && l == "le") fail("metric " + metric + ": label 'le' is reserved for histogram buckets");
    if (std::find(labels.begin(), labels.begin() + i, l) != labels.begin() + i)
      fail("metric " + metric + ": label '" + l + "' given twice");
  }
}

// HELP text escapes only backslash and newline.
std::string escape_help(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// {a="x",le="0.5"}, or nothing when there are no labels.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const std::string& le = {}) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (out.empty() ? "" : ",") + names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  if (!le.empty()) out += (out.empty() ? "" : ",") + std::string("le=\"") + le + "\"";
  return out.empty() ? out : "{" + out + "}";
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string escape_label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Counter::inc(double v) {
  if (!(v >= 0)) fail("counter increment must be >= 0, got " + format_value(v));
  atomic_add(value_, v);
}

void Gauge::add(double v) { atomic_add(value_, v); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  if (!bounds_.empty() && bounds_.back() == std::numeric_limits<double>::infinity()) bounds_.pop_back();
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i])))
      fail("histogram buckets must be finite and strictly increasing");
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  // Buckets are "less or equal"; NaN lands only in +Inf, as in the Go client.
  size_t i = std::isnan(v) ? bounds_.size()
                           : std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[i];
  sum_ += v;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Snapshot s;
  s.sum = sum_;
  for (uint64_t c : counts_) s.cumulative.push_back(s.count += c);
  return s;
}

template <class M>
Family<M>::Family(std::string name, std::vector<std::string> labels, std::function<std::unique_ptr<M>()> make)
    : name_(std::move(name)), labels_(std::move(labels)), make_(std::move(make)) {
  if (labels_.empty()) children_.emplace(std::vector<std::string>{}, make_());  // shows 0 before first use
}

template <class M>
M& Family<M>::with(const std::vector<std::string>& label_values) {
  if (label_values.size() != labels_.size())
    fail("metric " + name_ + ": " + std::to_string(label_values.size()) + " label values for " +
         std::to_string(labels_.size()) + " labels");
  std::lock_guard<std::mutex> lock(mutex_);
  auto& child = children_[label_values];
  if (!child) child = make_();
  return *child;
}

template <class M>
std::vector<std::pair<std::vector<std::string>, const M*>> Family<M>::children() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::vector<std::string>, const M*>> out;
  for (const auto& [values, child] : children_) out.emplace_back(values, child.get());
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  Entry(std::string name, std::string help, std::string type, std::vector<std::string> labels = {},
        std::vector<double> buckets = {})
      : name(std::move(name)), help(std::move(help)), type(std::move(type)), labels(std::move(labels)),
        buckets(std::move(buckets)) {}
  std::string name, help, type;
  std::vector<std::string> labels;
  std::vector<double> buckets;
  std::unique_ptr<CounterFamily> counter;
  std::unique_ptr<GaugeFamily> gauge;
  std::unique_ptr<HistogramFamily> histogram;
  std::function<double()> fn;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry& Registry::add(Entry e) {
  if (!valid_name(e.name, true)) fail("invalid metric name '" + e.name + "'");
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& old : entries_) {
    if (old->name != e.name) continue;
    if (old->type != e.type || old->labels != e.labels || old->buckets != e.buckets || e.fn || old->fn)
      fail("metric " + e.name + " is already registered differently");
    return *old;
  }
  entries_.push_back(std::make_unique<Entry>(std::move(e)));
  return *entries_.back();
}

CounterFamily& Registry::counter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  // Exposition 0.0.4 puts the counter's full sample name in HELP and TYPE.
  if (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0)
    fail("counter " + name + ": name must end in _total");
  check_labels(name, labels, false);
  Entry e{name, help, "counter", labels};
  e.counter = std::make_unique<CounterFamily>(name, labels, [] { return std::make_unique<Counter>(); });
  return *add(std::move(e)).counter;
}

GaugeFamily& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  check_labels(name, labels, false);
  Entry e{name, help, "gauge", labels};
  e.gauge = std::make_unique<GaugeFamily>(name, labels, [] { return std::make_unique<Gauge>(); });
  return *add(std::move(e)).gauge;
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help, std::vector<double> buckets,
                                     std::vector<std::string> labels) {
  check_labels(name, labels, true);
  Histogram probe(buckets);  // validates and normalises the bounds once, before any child exists
  Entry e{name, help, "histogram", labels, probe.upper_bounds()};
  auto bounds = e.buckets;
  e.histogram =
      std::make_unique<HistogramFamily>(name, labels, [bounds] { return std::make_unique<Histogram>(bounds); });
  return *add(std::move(e)).histogram;
}

void Registry::gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn) {
  if (!fn) fail("gauge_fn " + name + ": empty function");
  Entry e{name, help, "gauge"};
  e.fn = std::move(fn);
  add(std::move(e));
}

std::string Registry::render() const {
  std::vector<const Entry*> entries;
  {
    // Entries are never removed; rendering outside the lock lets a gauge_fn be slow or register metrics.
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (const Entry* e : entries) {
    out += "# HELP " + e->name + " " + escape_help(e->help) + "\n";
    out += "# TYPE " + e->name + " " + e->type + "\n";
    auto sample = [&](const std::string& name, const std::string& labels, const std::string& v) {
      out += name + labels + " " + v + "\n";
    };
    if (e->fn) {
      sample(e->name, "", format_value(e->fn()));
    } else if (e->counter) {
      for (const auto& [values, c] : e->counter->children())
        sample(e->name, label_set(e->labels, values), format_value(c->value()));
    } else if (e->gauge) {
      for (const auto& [values, g] : e->gauge->children())
        sample(e->name, label_set(e->labels, values), format_value(g->value()));
    } else {
      for (const auto& [values, h] : e->histogram->children()) {
        Histogram::Snapshot s = h->snapshot();
        for (size_t i = 0; i < s.cumulative.size(); ++i) {
          std::string le = i < e->buckets.size() ? format_value(e->buckets[i]) : "+Inf";
          sample(e->name + "_bucket", label_set(e->labels, values, le), std::to_string(s.cumulative[i]));
        }
        sample(e->name + "_sum", label_set(e->labels, values), format_value(s.sum));
        sample(e->name + "_count", label_set(e->labels, values), std::to_string(s.count));
      }
    }
  }
  return out;
}

std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace userllm::serve
