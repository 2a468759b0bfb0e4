// ServerMetrics through its real HTTP endpoint (MetricsEndpoint): events are recorded, /metrics is fetched with a
// plain HTTP/1.0 GET over a loopback socket and the text exposition format is parsed, so names, labels, types and
// values are checked as Prometheus sees them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/server_metrics.h"
#include "tests/integration/prometheus_scrape.h"

namespace muke::server {
namespace {

using muke::testing::Connect;
using muke::testing::Exchange;
using muke::testing::Exposition;
using muke::testing::HttpGet;
using muke::testing::Labels;
using muke::testing::Parse;
using muke::testing::Sample;

Labels With(Labels labels, const std::string& key, const std::string& value) {
  labels[key] = value;
  return labels;
}

Exposition Scrape(const ServerMetrics& metrics) { return Parse(HttpGet(metrics.port(), "/metrics")); }

ModelLabels TinyModel() {
  ModelLabels model;
  model.model_type = "llama";
  model.dtype = "float32";
  model.device = "cpu";
  model.model_dir = "/models/a \"quoted\" dir\\x";  // label values are escaped in the exposition
  model.parameter_count = 260000;
  return model;
}

std::unique_ptr<ServerMetrics> StartOnFreePort() {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start("127.0.0.1:0", TinyModel());
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  if (!metrics.ok()) return nullptr;
  EXPECT_GT((*metrics)->port(), 0);
  return std::move(*metrics);
}

muke::v1::EditMetrics VerifiedEdit(double optimise_seconds, int steps, int windows, double char_bleu) {
  muke::v1::EditMetrics metrics;
  (*metrics.mutable_stage_seconds())["optimise"] = optimise_seconds;
  (*metrics.mutable_stage_seconds())["update"] = 0.2;
  (*metrics.mutable_stage_seconds())["verify"] = 0.3;
  metrics.set_steps(steps);
  metrics.set_windows(windows);
  metrics.set_char_bleu(char_bleu);
  return metrics;
}

TEST(MetricsEndpointTest, ScrapeHasTheRecordedValues) {
  std::unique_ptr<ServerMetrics> metrics = StartOnFreePort();
  ASSERT_NE(metrics, nullptr);

  for (int i = 0; i < 5; ++i) metrics->EditAccepted();
  metrics->SetQueueDepth(3);
  metrics->EditStarted();
  const muke::v1::EditMetrics first = VerifiedEdit(1.5, 40, 2, 0.75);
  metrics->EditFinished(muke::v1::EDIT_STATE_COMMITTED, 12.0, &first);
  metrics->EditStarted();
  const muke::v1::EditMetrics second = VerifiedEdit(2.5, 10, 1, 0.5);
  metrics->EditFinished(muke::v1::EDIT_STATE_COMMITTED, 20.0, &second);
  metrics->EditStarted();
  const muke::v1::EditMetrics below_threshold = VerifiedEdit(0.5, 5, 1, 0.125);
  metrics->EditFinished(muke::v1::EDIT_STATE_FAILED, 4.0, &below_threshold);
  metrics->EditStarted();
  metrics->EditFinished(muke::v1::EDIT_STATE_CANCELLED, 2.0, nullptr);
  metrics->QueuedEditCancelled(0.5);
  metrics->EditRolledBack();
  metrics->SetQueueDepth(0);
  metrics->EditStarted();  // a sixth edit is running

  GenerateCall call;
  call.seconds = 0.25;
  call.time_to_first_token_seconds = 0.0625;
  call.prompt_tokens = 5;
  call.generated_tokens = 10;
  metrics->GenerateFinished(call);
  metrics->GenerateFinished(call);
  GenerateCall rejected;
  rejected.code = absl::StatusCode::kInvalidArgument;
  rejected.seconds = 0.001;
  metrics->GenerateFinished(rejected);
  GenerateCall stream = call;
  stream.method = GenerateMethod::kGenerateStream;
  stream.seconds = 4.0;
  stream.generated_tokens = 7;
  metrics->GenerateFinished(stream);
  stream.code = absl::StatusCode::kCancelled;
  stream.seconds = 1.0;
  metrics->GenerateFinished(stream);

  metrics->SetJournalBytes(4096);
  metrics->JournalRecordWritten();
  metrics->JournalRecordWritten();
  metrics->JournalRecordWritten();
  metrics->JournalError("corrupt_record");

  const Exposition e = Scrape(*metrics);

  EXPECT_EQ(Sample(e, "muke_edits_accepted_total"), 5);
  EXPECT_EQ(Sample(e, "muke_edits_total", {{"status", "committed"}}), 2);
  EXPECT_EQ(Sample(e, "muke_edits_total", {{"status", "failed"}}), 1);
  EXPECT_EQ(Sample(e, "muke_edits_total", {{"status", "cancelled"}}), 2);
  EXPECT_EQ(Sample(e, "muke_edits_total", {{"status", "rolled_back"}}), 1);
  EXPECT_EQ(Sample(e, "muke_queue_depth"), 0);
  EXPECT_EQ(Sample(e, "muke_edit_running"), 1);
  EXPECT_EQ(Sample(e, "muke_edit_duration_seconds_count"), 5);
  EXPECT_EQ(Sample(e, "muke_edit_duration_seconds_sum"), 38.5);
  EXPECT_EQ(Sample(e, "muke_edit_duration_seconds_bucket", {{"le", "1"}}), 1);
  EXPECT_EQ(Sample(e, "muke_edit_duration_seconds_bucket", {{"le", "+Inf"}}), 5);

  const Labels optimise = {{"stage", "optimise"}};
  EXPECT_EQ(Sample(e, "muke_edit_stage_duration_seconds_count", optimise), 3);
  EXPECT_EQ(Sample(e, "muke_edit_stage_duration_seconds_sum", optimise), 4.5);
  EXPECT_EQ(Sample(e, "muke_edit_stage_duration_seconds_bucket", With(optimise, "le", "0.5")), 1);
  EXPECT_EQ(Sample(e, "muke_edit_stage_duration_seconds_bucket", With(optimise, "le", "1")), 1);
  EXPECT_EQ(Sample(e, "muke_edit_stage_duration_seconds_bucket", With(optimise, "le", "2.5")), 3);
  EXPECT_EQ(Sample(e, "muke_edit_stage_duration_seconds_count", {{"stage", "verify"}}), 3);
  // Stages no edit reported are there, empty.
  for (const char* stage : {"statistics", "affinity", "measure", "apply"}) {
    EXPECT_EQ(Sample(e, "muke_edit_stage_duration_seconds_count", {{"stage", stage}}), 0) << stage;
  }
  EXPECT_EQ(Sample(e, "muke_edit_optimisation_steps_total"), 55);
  EXPECT_EQ(Sample(e, "muke_edit_windows_total"), 4);
  // Only committed edits count for BLEU.
  EXPECT_EQ(Sample(e, "muke_edit_verified_char_bleu_count"), 2);
  EXPECT_EQ(Sample(e, "muke_edit_verified_char_bleu_sum"), 1.25);
  EXPECT_EQ(Sample(e, "muke_edit_verified_char_bleu_bucket", {{"le", "0.5"}}), 1);
  EXPECT_EQ(Sample(e, "muke_edit_verified_char_bleu_bucket", {{"le", "0.8"}}), 2);
  EXPECT_EQ(Sample(e, "muke_edit_last_verified_char_bleu"), 0.5);

  EXPECT_EQ(Sample(e, "muke_generate_requests_total", {{"method", "generate"}, {"code", "OK"}}), 2);
  EXPECT_EQ(Sample(e, "muke_generate_requests_total", {{"method", "generate"}, {"code", "INVALID_ARGUMENT"}}), 1);
  EXPECT_EQ(Sample(e, "muke_generate_requests_total", {{"method", "generate_stream"}, {"code", "OK"}}), 1);
  EXPECT_EQ(Sample(e, "muke_generate_requests_total", {{"method", "generate_stream"}, {"code", "CANCELLED"}}), 1);
  EXPECT_EQ(e.samples.at("muke_generate_requests_total").size(), 4u);
  // Latency of the calls that ended OK only.
  EXPECT_EQ(Sample(e, "muke_generate_latency_seconds_count", {{"method", "generate"}}), 2);
  EXPECT_EQ(Sample(e, "muke_generate_latency_seconds_sum", {{"method", "generate"}}), 0.5);
  EXPECT_EQ(Sample(e, "muke_generate_latency_seconds_count", {{"method", "generate_stream"}}), 1);
  EXPECT_EQ(Sample(e, "muke_generate_latency_seconds_sum", {{"method", "generate_stream"}}), 4.0);
  EXPECT_EQ(Sample(e, "muke_generate_time_to_first_token_seconds_count"), 4);
  EXPECT_EQ(Sample(e, "muke_generate_time_to_first_token_seconds_sum"), 0.25);
  EXPECT_EQ(Sample(e, "muke_generate_tokens_total", {{"kind", "prompt"}}), 20);
  EXPECT_EQ(Sample(e, "muke_generate_tokens_total", {{"kind", "generated"}}), 34);

  const ModelLabels model = TinyModel();
  EXPECT_EQ(Sample(e, "muke_model_info",
                   {{"model_type", "llama"}, {"dtype", "float32"}, {"device", "cpu"}, {"model_dir", model.model_dir}}),
            1);
  EXPECT_EQ(Sample(e, "muke_model_parameters"), 260000);
  ASSERT_EQ(e.samples.at("muke_build_info").size(), 1u);
  const auto& [build_labels, build_value] = *e.samples.at("muke_build_info").begin();
  EXPECT_EQ(build_value, 1);
  ASSERT_EQ(build_labels.count("version"), 1u);
  EXPECT_FALSE(build_labels.at("version").empty());

  EXPECT_EQ(Sample(e, "muke_journal_bytes"), 4096);
  EXPECT_EQ(Sample(e, "muke_journal_records_total"), 3);
  EXPECT_EQ(Sample(e, "muke_journal_errors_total", {{"kind", "corrupt_record"}}), 1);
  EXPECT_EQ(Sample(e, "muke_journal_errors_total", {{"kind", "write"}}), 0);
}

TEST(MetricsEndpointTest, ProcessMetricsAreReadAtEachScrape) {
  std::unique_ptr<ServerMetrics> metrics = StartOnFreePort();
  ASSERT_NE(metrics, nullptr);
  const Exposition before = Scrape(*metrics);
  const std::optional<double> rss_before = Sample(before, "muke_process_resident_memory_bytes");
  ASSERT_TRUE(rss_before.has_value());

  // 64 MiB written: resident memory grows by about that much.
  constexpr size_t kBytes = 64u << 20;
  std::vector<char> block(kBytes, 1);
  const Exposition after = Scrape(*metrics);
  const double rss = Sample(after, "muke_process_resident_memory_bytes").value_or(0);
  EXPECT_GT(rss - *rss_before, 0.9 * kBytes);
  EXPECT_LT(rss, 64.0 * (1ull << 30));
  EXPECT_GE(Sample(after, "muke_process_virtual_memory_bytes").value_or(0), rss);
  EXPECT_EQ(block[kBytes / 2], 1);

  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = Sample(after, "muke_process_start_time_seconds").value_or(0);
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600) << "the test process started within the hour";
}

TEST(MetricsEndpointTest, EveryMetricHasHelpAndType) {
  std::unique_ptr<ServerMetrics> metrics = StartOnFreePort();
  ASSERT_NE(metrics, nullptr);
  const Exposition e = Scrape(*metrics);  // nothing recorded yet: every metric is there all the same
  const std::map<std::string, std::string> expected = {
      {"muke_edits_total", "counter"},
      {"muke_edits_accepted_total", "counter"},
      {"muke_queue_depth", "gauge"},
      {"muke_edit_running", "gauge"},
      {"muke_edit_stage_duration_seconds", "histogram"},
      {"muke_edit_duration_seconds", "histogram"},
      {"muke_edit_optimisation_steps_total", "counter"},
      {"muke_edit_windows_total", "counter"},
      {"muke_edit_verified_char_bleu", "histogram"},
      {"muke_edit_last_verified_char_bleu", "gauge"},
      {"muke_generate_requests_total", "counter"},
      {"muke_generate_latency_seconds", "histogram"},
      {"muke_generate_time_to_first_token_seconds", "histogram"},
      {"muke_generate_tokens_total", "counter"},
      {"muke_model_info", "gauge"},
      {"muke_model_parameters", "gauge"},
      {"muke_journal_bytes", "gauge"},
      {"muke_journal_errors_total", "counter"},
      {"muke_journal_records_total", "counter"},
      {"muke_process_resident_memory_bytes", "gauge"},
      {"muke_process_virtual_memory_bytes", "gauge"},
      {"muke_process_start_time_seconds", "gauge"},
      {"muke_build_info", "gauge"},
  };
  for (const auto& [name, type] : expected) {
    EXPECT_EQ(e.type.count(name) ? e.type.at(name) : "(no TYPE line)", type) << name;
    EXPECT_FALSE(e.help.count(name) == 0 || e.help.at(name).empty()) << name << " has no HELP";
    const std::string sample = type == "histogram" ? name + "_count" : name;
    EXPECT_EQ(e.samples.count(sample), 1u) << sample << " has no sample";
  }
  for (const auto& [name, type] : e.type) {
    if (absl::StartsWith(name, "muke_")) {
      EXPECT_EQ(expected.count(name), 1u) << "undocumented metric " << name;
    }
  }
  EXPECT_EQ(Sample(e, "muke_edits_total", {{"status", "committed"}}), 0);
  EXPECT_EQ(Sample(e, "muke_generate_requests_total", {{"method", "generate_stream"}, {"code", "OK"}}), 0);
}

TEST(MetricsEndpointTest, CountsFromManyThreads) {
  std::unique_ptr<ServerMetrics> metrics = StartOnFreePort();
  ASSERT_NE(metrics, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics] {
      GenerateCall call;
      call.code = absl::StatusCode::kResourceExhausted;
      call.generated_tokens = 1;
      for (int i = 0; i < 1000; ++i) {
        metrics->EditAccepted();
        metrics->GenerateFinished(call);
        metrics->JournalError("write");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const Exposition e = Scrape(*metrics);
  EXPECT_EQ(Sample(e, "muke_edits_accepted_total"), 4000);
  EXPECT_EQ(Sample(e, "muke_generate_requests_total", {{"method", "generate"}, {"code", "RESOURCE_EXHAUSTED"}}), 4000);
  EXPECT_EQ(Sample(e, "muke_generate_tokens_total", {{"kind", "generated"}}), 4000);
  EXPECT_EQ(Sample(e, "muke_journal_errors_total", {{"kind", "write"}}), 4000);
}

TEST(MetricsEndpointTest, AnswersOnlyGetAndHeadOfMetrics) {
  std::unique_ptr<ServerMetrics> metrics = StartOnFreePort();
  ASSERT_NE(metrics, nullptr);
  const int port = metrics->port();
  EXPECT_TRUE(absl::StartsWith(Exchange(port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n"), "HTTP/1.1 404 "));
  EXPECT_TRUE(absl::StartsWith(Exchange(port, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "HTTP/1.1 405 "));
  EXPECT_TRUE(absl::StartsWith(Exchange(port, "nonsense\r\n\r\n"), "HTTP/1.1 400 "));
  // Prometheus may add query parameters; HEAD gets the headers alone.
  EXPECT_FALSE(HttpGet(port, "/metrics?name[]=muke_edits_total").empty());
  const std::string head = Exchange(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(head, "HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_TRUE(absl::EndsWith(head, "\r\n\r\n")) << head;

  metrics.reset();  // the endpoint closes with the metrics
  EXPECT_EQ(Connect(port), -1);
}

TEST(MetricsEndpointTest, AddressInUseIsAnErrorNamingIt) {
  std::unique_ptr<ServerMetrics> first = StartOnFreePort();
  ASSERT_NE(first, nullptr);
  const std::string taken = absl::StrCat("127.0.0.1:", first->port());
  absl::StatusOr<std::unique_ptr<ServerMetrics>> second = ServerMetrics::Start(taken, TinyModel());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), taken)) << second.status();
  // The first endpoint still serves.
  EXPECT_EQ(Sample(Scrape(*first), "muke_edits_accepted_total"), 0);
}

TEST(MetricsEndpointTest, MalformedAddressIsInvalidArgument) {
  for (const char* listen : {"9090", "127.0.0.1", ":9090", "127.0.0.1:x", "127.0.0.1:65536", "127.0.0.1:-1"}) {
    absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start(listen, TinyModel());
    ASSERT_FALSE(metrics.ok()) << listen;
    EXPECT_EQ(metrics.status().code(), absl::StatusCode::kInvalidArgument) << metrics.status();
    EXPECT_TRUE(absl::StrContains(metrics.status().message(), listen)) << metrics.status();
  }
}

TEST(MetricsEndpointTest, EmptyAddressRecordsWithoutServing) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = ServerMetrics::Start("", TinyModel());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ((*metrics)->port(), 0);
  (*metrics)->EditAccepted();
  (*metrics)->EditStarted();
  (*metrics)->EditFinished(muke::v1::EDIT_STATE_FAILED, 1.0, nullptr);
  (*metrics)->GenerateFinished(GenerateCall{});
  (*metrics)->JournalError("write");
}

}  // namespace
}  // namespace muke::server
