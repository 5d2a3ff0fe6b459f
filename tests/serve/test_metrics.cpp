// The Prometheus registry: exact exposition text, escaping, histogram buckets,
// thread safety, name validation, and a line-by-line check of the format.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "serve/metrics.h"

using namespace userllm::serve;

TEST(Metrics, RendersASmallRegistryExactly) {
  Registry reg;
  auto& requests = reg.counter("userllm_requests_total", "Requests served.", {"route", "code"});
  auto& loaded = reg.gauge("userllm_model_loaded", "1 once the model is in memory.");
  auto& latency = reg.histogram("userllm_request_seconds", "Request latency.", {0.1, 1}, {"route"});
  int depth = 3;
  reg.gauge_fn("userllm_queue_depth", "Requests waiting.", [&] { return double(depth); });

  requests.with({"/v1/generate", "200"}).inc();
  requests.with({"/v1/generate", "200"}).inc(2);
  requests.with({"/v1/embed", "500"}).inc();
  loaded.with().set(1);
  latency.with({"/v1/generate"}).observe(0.05);
  latency.with({"/v1/generate"}).observe(0.5);
  latency.with({"/v1/generate"}).observe(7);
  depth = 5;  // read at render time, not at registration

  EXPECT_EQ(reg.render(),
            "# HELP userllm_requests_total Requests served.\n"
            "# TYPE userllm_requests_total counter\n"
            "userllm_requests_total{route=\"/v1/embed\",code=\"500\"} 1\n"
            "userllm_requests_total{route=\"/v1/generate\",code=\"200\"} 3\n"
            "# HELP userllm_model_loaded 1 once the model is in memory.\n"
            "# TYPE userllm_model_loaded gauge\n"
            "userllm_model_loaded 1\n"
            "# HELP userllm_request_seconds Request latency.\n"
            "# TYPE userllm_request_seconds histogram\n"
            "userllm_request_seconds_bucket{route=\"/v1/generate\",le=\"0.1\"} 1\n"
            "userllm_request_seconds_bucket{route=\"/v1/generate\",le=\"1\"} 2\n"
            "userllm_request_seconds_bucket{route=\"/v1/generate\",le=\"+Inf\"} 3\n"
            "userllm_request_seconds_sum{route=\"/v1/generate\"} 7.55\n"
            "userllm_request_seconds_count{route=\"/v1/generate\"} 3\n"
            "# HELP userllm_queue_depth Requests waiting.\n"
            "# TYPE userllm_queue_depth gauge\n"
            "userllm_queue_depth 5\n");
}

TEST(Metrics, UnlabeledMetricsShowZeroBeforeFirstUse) {
  Registry reg;
  reg.counter("a_total", "A.");
  reg.histogram("h", "H.", {1});
  EXPECT_EQ(reg.render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  Registry reg;
  reg.gauge("g", "back\\slash \"quoted\"\nsecond line", {"path"}).with({"C:\\x \"y\"\nz"}).set(2);
  EXPECT_EQ(reg.render(),
            "# HELP g back\\\\slash \"quoted\"\\nsecond line\n"  // HELP leaves double quotes alone
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\x \\\"y\\\"\\nz\"} 2\n");
}

TEST(Metrics, FormatsValuesSoPrometheusParsesThem) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(-2.5), "-2.5");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  for (double v : {1.0 / 3, 1e-300, 6.02214076e23, 123456789.123456789})
    EXPECT_EQ(std::strtod(format_value(v).c_str(), nullptr), v) << format_value(v);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInf) {
  Histogram h({1, 2, 4, std::numeric_limits<double>::infinity()});  // a trailing +Inf is implicit anyway
  EXPECT_EQ(h.upper_bounds(), (std::vector<double>{1, 2, 4}));
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 100.0}) h.observe(v);  // a value on a bound counts in that bucket
  h.observe(std::nan(""));                                          // only in +Inf
  Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_TRUE(std::isnan(s.sum));

  EXPECT_THROW(Histogram({2, 1}), userllm::Error);
  EXPECT_THROW(Histogram({1, 1}), userllm::Error);
  EXPECT_THROW(Histogram({std::nan("")}), userllm::Error);
  EXPECT_NO_THROW(Histogram({}));  // +Inf only
}

TEST(Metrics, LatencyBucketsAreIncreasingFrom5msTo60s) {
  std::vector<double> b = latency_buckets();
  ASSERT_GE(b.size(), 8u);
  EXPECT_DOUBLE_EQ(b.front(), 0.005);
  EXPECT_DOUBLE_EQ(b.back(), 60);
  EXPECT_NO_THROW(Histogram{b});
}

TEST(Metrics, ConcurrentIncrementsSumExactly) {
  Registry reg;
  auto& family = reg.counter("hits_total", "Hits.", {"worker"});
  auto& shared = reg.counter("all_total", "All.").with();
  auto& hist = reg.histogram("lat", "Lat.", latency_buckets()).with();
  auto& gauge = reg.gauge("inflight", "In flight.").with();
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        shared.inc();
        family.with({std::to_string(t % 2)}).inc(0.5);  // children created concurrently
        hist.observe(0.01);
        gauge.add(1);
        gauge.add(-1);
        if (i % 1000 == 0) reg.render();  // scraping while others write
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(shared.value(), kThreads * kPerThread);
  EXPECT_EQ(family.with({"0"}).value() + family.with({"1"}).value(), kThreads * kPerThread * 0.5);
  EXPECT_EQ(hist.snapshot().count, uint64_t(kThreads * kPerThread));
  EXPECT_EQ(gauge.value(), 0);
}

TEST(Metrics, RefusesInvalidNamesAndLabels) {
  Registry reg;
  EXPECT_THROW(reg.gauge("", "x"), userllm::Error);
  EXPECT_THROW(reg.gauge("1abc", "x"), userllm::Error);
  EXPECT_THROW(reg.gauge("has-dash", "x"), userllm::Error);
  EXPECT_THROW(reg.gauge("has space", "x"), userllm::Error);
  EXPECT_NO_THROW(reg.gauge("ns:sub_name9", "colons are allowed in metric names"));
  EXPECT_NO_THROW(reg.gauge("_leading", "x"));
  EXPECT_THROW(reg.counter("requests", "counters end in _total"), userllm::Error);
  EXPECT_THROW(reg.gauge("g1", "x", {"a:b"}), userllm::Error);
  EXPECT_THROW(reg.gauge("g2", "x", {"__reserved"}), userllm::Error);
  EXPECT_THROW(reg.gauge("g3", "x", {"9lives"}), userllm::Error);
  EXPECT_THROW(reg.gauge("g4", "x", {"a", "a"}), userllm::Error);
  EXPECT_THROW(reg.histogram("h1", "x", {1}, {"le"}), userllm::Error);
  EXPECT_NO_THROW(reg.gauge("g5", "le is fine outside histograms", {"le", "_x"}));
  EXPECT_THROW(reg.counter("c_total", "negative", {}).with().inc(-1), userllm::Error);

  auto& fam = reg.gauge("g6", "x", {"a", "b"});
  EXPECT_THROW(fam.with({"only one"}), userllm::Error);
  EXPECT_THROW(fam.with(), userllm::Error);
  EXPECT_THROW(reg.gauge_fn("g7", "x", nullptr), userllm::Error);
}

TEST(Metrics, DuplicateRegistrationReturnsTheSameFamilyOrFails) {
  Registry reg;
  auto& a = reg.counter("req_total", "Requests.", {"route"});
  a.with({"/x"}).inc();
  auto& b = reg.counter("req_total", "Other help is ignored.", {"route"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.with({"/x"}), &b.with({"/x"}));  // the child kept by a caller stays the child
  EXPECT_EQ(b.with({"/x"}).value(), 1);

  EXPECT_THROW(reg.counter("req_total", "x", {"code"}), userllm::Error);  // other labels
  EXPECT_THROW(reg.counter("req_total", "x"), userllm::Error);
  EXPECT_THROW(reg.gauge("req_total", "x", {"route"}), userllm::Error);  // other type

  auto& h = reg.histogram("lat", "x", {1, 2});
  EXPECT_EQ(&h, &reg.histogram("lat", "x", {1, 2}));
  EXPECT_THROW(reg.histogram("lat", "x", {1, 3}), userllm::Error);  // other buckets

  reg.gauge_fn("depth", "x", [] { return 1.0; });
  EXPECT_THROW(reg.gauge_fn("depth", "x", [] { return 2.0; }), userllm::Error);
  EXPECT_THROW(reg.gauge("depth", "x"), userllm::Error);
  reg.gauge("plain", "x");
  EXPECT_THROW(reg.gauge_fn("plain", "x", [] { return 2.0; }), userllm::Error);

  // A failed registration leaves nothing behind.
  std::string text = reg.render();
  EXPECT_EQ(text.find("# TYPE req_total counter"), text.rfind("# TYPE req_total counter"));
}

// A tiny parser for the text format: every line is HELP, TYPE or a sample
// `name{label="value",...} value`, and samples follow their family's HELP/TYPE.
TEST(Metrics, RenderedOutputParsesLineByLine) {
  Registry reg;
  reg.counter("jobs_total", "Jobs.", {"kind", "status"}).with({"a \"quoted\"", "ok"}).inc(3);
  reg.counter("jobs_total", "Jobs.", {"kind", "status"}).with({"b\\c\nd", "err"}).inc();
  reg.gauge("temp", "Temperature.").with().set(-1.25e-7);
  auto& h = reg.histogram("lat_seconds", "Latency.", latency_buckets(), {"stage"});
  for (double v : {0.001, 0.2, 3.0, 90.0}) h.with({"prefill"}).observe(v);
  h.with({"decode"}).observe(0.02);
  reg.gauge_fn("users_in_memory", "Users.", [] { return std::numeric_limits<double>::infinity(); });
  reg.gauge("empty_family", "No children yet.", {"x"});
  const std::string text = reg.render();
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');

  auto is_name = [](const std::string& s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return false;
    return true;
  };
  auto parse_value = [](const std::string& s, double* out) {
    if (s == "+Inf" || s == "-Inf" || s == "NaN") return true;
    char* end = nullptr;
    *out = std::strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size();
  };

  std::string help_name, type_name, type;
  std::set<std::string> families;
  int samples = 0, buckets = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    SCOPED_TRACE(line);
    if (line.rfind("# HELP ", 0) == 0) {
      help_name = line.substr(7, line.find(' ', 7) - 7);
      ASSERT_TRUE(is_name(help_name));
      ASSERT_TRUE(families.insert(help_name).second) << "family listed twice";
      type_name.clear();
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      words >> type_name >> type;
      ASSERT_EQ(type_name, help_name);
      ASSERT_TRUE(type == "counter" || type == "gauge" || type == "histogram");
      continue;
    }
    ASSERT_NE(line[0], '#');
    // name
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name = line.substr(0, i);
    ASSERT_TRUE(is_name(name));
    ASSERT_FALSE(type_name.empty()) << "sample before its TYPE line";
    if (type == "histogram") {
      ASSERT_TRUE(name == type_name + "_bucket" || name == type_name + "_sum" || name == type_name + "_count");
    } else {
      ASSERT_EQ(name, type_name);
    }
    // {label="escaped value",...}
    bool has_le = false;
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        size_t eq = line.find('=', i);
        ASSERT_NE(eq, std::string::npos);
        const std::string label = line.substr(i, eq - i);
        ASSERT_TRUE(is_name(label) && label.find(':') == std::string::npos);
        has_le |= label == "le";
        ASSERT_EQ(line[eq + 1], '"');
        for (i = eq + 2; line[i] != '"'; ++i) {
          ASSERT_LT(i, line.size());
          if (line[i] == '\\') {
            ++i;
            ASSERT_TRUE(line[i] == '\\' || line[i] == '"' || line[i] == 'n') << "bad escape";
          }
        }
        ++i;  // closing quote
        if (line[i] == ',') ++i;
        else ASSERT_EQ(line[i], '}');
      }
      ++i;
    }
    EXPECT_EQ(has_le, name == type_name + "_bucket" && type == "histogram");
    buckets += has_le;
    // " value" and nothing after it
    ASSERT_EQ(line[i], ' ');
    double v = 0;
    EXPECT_TRUE(parse_value(line.substr(i + 1), &v)) << "unparsable value";
    ++samples;
  }
  EXPECT_EQ(families.size(), 5u);
  EXPECT_EQ(samples, 2 + 1 + 2 * (int(latency_buckets().size()) + 1 + 2) + 1);
  EXPECT_EQ(buckets, 2 * (int(latency_buckets().size()) + 1));
}
