// Prometheus metrics for the server: counters, gauges and histograms, with or
// without labels, rendered in the text exposition format 0.0.4 for GET /metrics.
// Every method is thread-safe; references handed out stay valid for the
// registry's life, so request handlers look a metric up once and keep it.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace userllm::serve {

class Counter {
 public:
  void inc(double v = 1);  // v >= 0: a counter never goes down
  double value() const { return value_.load(); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v); }
  void add(double v);
  double value() const { return value_.load(); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // Finite, strictly increasing; the +Inf bucket is implicit (a trailing +Inf is dropped).
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per upper bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;  // consistent: taken under one lock
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
};

// One child per distinct tuple of label values, created on first use.
template <class M>
class Family {
 public:
  Family(std::string name, std::vector<std::string> labels, std::function<std::unique_ptr<M>()> make);
  // label_values.size() must equal labels().size(); a family without labels has one child, with().
  M& with(const std::vector<std::string>& label_values = {});

  const std::string& name() const { return name_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // Children sorted by label values, for rendering.
  std::vector<std::pair<std::vector<std::string>, const M*>> children() const;

 private:
  std::string name_;
  std::vector<std::string> labels_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a name again returns the same family when type, labels (and
  // buckets) match, and fails otherwise. Counter names must end in "_total".
  CounterFamily& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help, std::vector<double> buckets,
                             std::vector<std::string> labels = {});
  // A gauge computed by render() (queue depth, users in memory); each name once.
  void gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn);

  // The whole exposition: families in registration order, children sorted by labels.
  std::string render() const;

  struct Entry;  // one registered family, defined in metrics.cpp

 private:
  Entry& add(Entry entry);
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Seconds, 5 ms to 60 s, roughly exponential: request, prefill and decode latencies.
std::vector<double> latency_buckets();

// A sample value as Prometheus parses it: shortest round trip, "+Inf", "-Inf", "NaN".
std::string format_value(double v);
// A label value inside its double quotes: backslash, double quote and newline escaped.
std::string escape_label_value(const std::string& s);

}  // namespace userllm::serve
