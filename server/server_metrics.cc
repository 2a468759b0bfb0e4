#include "server/server_metrics.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/util/status.h"
#include "server/metrics_endpoint.h"

namespace muke::server {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// 0.01 s … 30 min: an edit's stages and whole edits, from a cached-statistics apply to a large model's optimisation.
const Histogram::BucketBoundaries kEditSecondsBuckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,
                                                         10,   25,    50,   100, 250,  500, 1000, 1800};
// 1 ms … 5 min: a short generation on a tiny model up to a long one on a large model's CPU.
const Histogram::BucketBoundaries kGenerateSecondsBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1,      2.5,   5,    10,    25,   50,  100, 300};
const Histogram::BucketBoundaries kCharBleuBuckets = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};

// The stages of EditMetrics.stage_seconds and the journal's error kinds, present (at 0) from the start.
const char* const kEditStages[] = {"statistics", "affinity", "optimise", "update", "measure", "verify", "apply"};
const char* const kJournalErrorKinds[] = {"corrupt_record", "write"};

// EDIT_STATE_COMMITTED → "committed".
std::string StateLabel(muke::v1::EditState state) {
  std::string name = muke::v1::EditState_Name(state);
  constexpr absl::string_view kPrefix = "EDIT_STATE_";
  if (absl::StartsWith(name, kPrefix)) name.erase(0, kPrefix.size());
  return absl::AsciiStrToLower(name);
}

const char* MethodLabel(GenerateMethod method) {
  return method == GenerateMethod::kGenerate ? "generate" : "generate_stream";
}

Counter& AddCounter(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}
Gauge& AddGauge(prometheus::Registry& registry, const std::string& name, const std::string& help,
                const prometheus::Labels& labels = {}) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(labels);
}

// The process's memory and start time, read from /proc each time Prometheus scrapes.
class ProcessMetrics {
 public:
  ProcessMetrics() : start_time_seconds_(ReadStartTimeSeconds()) {}

  std::vector<prometheus::MetricFamily> Collect() const {
    std::vector<prometheus::MetricFamily> families;
    std::ifstream statm("/proc/self/statm");
    double virtual_pages = 0, resident_pages = 0;
    if (statm >> virtual_pages >> resident_pages) {
      const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
      families.push_back(GaugeFamily("muke_process_resident_memory_bytes", "Resident memory size in bytes.",
                                     resident_pages * page_bytes));
      families.push_back(GaugeFamily("muke_process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                     virtual_pages * page_bytes));
    }
    if (start_time_seconds_) {
      families.push_back(GaugeFamily("muke_process_start_time_seconds",
                                     "Start time of the process since the Unix epoch in seconds.",
                                     *start_time_seconds_));
    }
    return families;
  }

 private:
  static prometheus::MetricFamily GaugeFamily(const std::string& name, const std::string& help, double value) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = prometheus::MetricType::Gauge;
    family.metric.emplace_back();
    family.metric.back().gauge.value = value;
    return family;
  }

  // Boot time (/proc/stat btime) plus the process's start in clock ticks after boot (/proc/self/stat field 22).
  static std::optional<double> ReadStartTimeSeconds() {
    std::ifstream stat_file("/proc/self/stat");
    const std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    const size_t comm_end = stat.rfind(") ");  // field 2, the command name, may hold spaces and parentheses
    if (comm_end == std::string::npos) return std::nullopt;
    // From field 3 on.
    const std::vector<absl::string_view> fields = absl::StrSplit(absl::string_view(stat).substr(comm_end + 2), ' ');
    double start_ticks = 0;
    if (fields.size() < 20 || !absl::SimpleAtod(fields[22 - 3], &start_ticks)) return std::nullopt;

    std::ifstream system_stat("/proc/stat");
    for (std::string key; system_stat >> key;) {
      if (key == "btime") {
        double boot_seconds = 0;
        if (!(system_stat >> boot_seconds)) return std::nullopt;
        return boot_seconds + start_ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
      }
      system_stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return std::nullopt;
  }

  const std::optional<double> start_time_seconds_;
};

}  // namespace

// Metrics that carry labels are kept as families (their series are added on first use); the others as the
// one series they hold. The endpoint is declared last so that it stops serving before the rest goes.
struct ServerMetrics::Impl {
  explicit Impl(const ModelLabels& model)
      : edits_accepted(AddCounter(registry, "muke_edits_accepted_total", "Edits queued by EditKnowledge.")),
        edits(prometheus::BuildCounter()
                  .Name("muke_edits_total")
                  .Help("Edits that reached a terminal state, by state.")
                  .Register(registry)),
        queue_depth(AddGauge(registry, "muke_queue_depth", "Edits waiting in the queue.")),
        running(AddGauge(registry, "muke_edit_running", "1 while the worker processes an edit, else 0.")),
        edit_duration(prometheus::BuildHistogram()
                          .Name("muke_edit_duration_seconds")
                          .Help("Seconds from an edit's acceptance to its terminal state.")
                          .Register(registry)
                          .Add({}, kEditSecondsBuckets)),
        stage_duration(prometheus::BuildHistogram()
                           .Name("muke_edit_stage_duration_seconds")
                           .Help("Seconds per stage of verified edits.")
                           .Register(registry)),
        optimisation_steps(AddCounter(registry, "muke_edit_optimisation_steps_total",
                                      "Adam steps of the memory shifts, of verified edits.")),
        windows(AddCounter(registry, "muke_edit_windows_total", "Memory shifts (windows) optimised, of verified edits.")),
        verified_char_bleu(prometheus::BuildHistogram()
                               .Name("muke_edit_verified_char_bleu")
                               .Help("Verified char-BLEU of committed edits.")
                               .Register(registry)
                               .Add({}, kCharBleuBuckets)),
        last_verified_char_bleu(AddGauge(registry, "muke_edit_last_verified_char_bleu",
                                         "Verified char-BLEU of the latest committed edit.")),
        generate_requests(prometheus::BuildCounter()
                              .Name("muke_generate_requests_total")
                              .Help("Generate and GenerateStream calls by method and gRPC status code.")
                              .Register(registry)),
        generate_latency(prometheus::BuildHistogram()
                             .Name("muke_generate_latency_seconds")
                             .Help("Seconds per generation call that ended OK, by method.")
                             .Register(registry)),
        time_to_first_token(prometheus::BuildHistogram()
                                .Name("muke_generate_time_to_first_token_seconds")
                                .Help("Seconds from the start of a generation call to its first new token.")
                                .Register(registry)
                                .Add({}, kGenerateSecondsBuckets)),
        generate_tokens(prometheus::BuildCounter()
                            .Name("muke_generate_tokens_total")
                            .Help("Tokens of generation calls, by kind (prompt, generated).")
                            .Register(registry)),
        prompt_tokens(generate_tokens.Add({{"kind", "prompt"}})),
        generated_tokens(generate_tokens.Add({{"kind", "generated"}})),
        journal_bytes(AddGauge(registry, "muke_journal_bytes", "Size of the edit journal in bytes.")),
        journal_records(AddCounter(registry, "muke_journal_records_total", "Records appended to the edit journal.")),
        journal_errors(prometheus::BuildCounter()
                           .Name("muke_journal_errors_total")
                           .Help("Edit journal errors by kind (corrupt_record, write, ...).")
                           .Register(registry)) {
    for (muke::v1::EditState state : {muke::v1::EDIT_STATE_COMMITTED, muke::v1::EDIT_STATE_FAILED,
                                      muke::v1::EDIT_STATE_CANCELLED, muke::v1::EDIT_STATE_ROLLED_BACK}) {
      Edits(state);
    }
    for (const char* stage : kEditStages) StageDuration(stage);
    for (GenerateMethod method : {GenerateMethod::kGenerate, GenerateMethod::kGenerateStream}) {
      GenerateRequests(method, absl::StatusCode::kOk);
      GenerateLatency(method);
    }
    for (const char* kind : kJournalErrorKinds) journal_errors.Add({{"kind", kind}});

    AddGauge(registry, "muke_model_info", "The served model (value 1).",
             {{"model_type", model.model_type}, {"dtype", model.dtype}, {"device", model.device},
              {"model_dir", model.model_dir}})
        .Set(1);
    AddGauge(registry, "muke_model_parameters", "Number of weights of the served model.")
        .Set(static_cast<double>(model.parameter_count));
    AddGauge(registry, "muke_build_info", "The muke-server build (value 1).", {{"version", MUKE_VERSION}}).Set(1);
  }

  Counter& Edits(muke::v1::EditState state) { return edits.Add({{"status", StateLabel(state)}}); }
  Histogram& StageDuration(const std::string& stage) {
    return stage_duration.Add({{"stage", stage}}, kEditSecondsBuckets);
  }
  Counter& GenerateRequests(GenerateMethod method, absl::StatusCode code) {
    return generate_requests.Add({{"method", MethodLabel(method)}, {"code", absl::StatusCodeToString(code)}});
  }
  Histogram& GenerateLatency(GenerateMethod method) {
    return generate_latency.Add({{"method", MethodLabel(method)}}, kGenerateSecondsBuckets);
  }
  // What a scrape gets.
  std::string Render() const {
    std::vector<prometheus::MetricFamily> families = registry.Collect();
    std::vector<prometheus::MetricFamily> process_families = process.Collect();
    families.insert(families.end(), process_families.begin(), process_families.end());
    return prometheus::TextSerializer().Serialize(families);
  }

  prometheus::Registry registry;
  Counter& edits_accepted;
  Family<Counter>& edits;
  Gauge& queue_depth;
  Gauge& running;
  Histogram& edit_duration;
  Family<Histogram>& stage_duration;
  Counter& optimisation_steps;
  Counter& windows;
  Histogram& verified_char_bleu;
  Gauge& last_verified_char_bleu;
  Family<Counter>& generate_requests;
  Family<Histogram>& generate_latency;
  Histogram& time_to_first_token;
  Family<Counter>& generate_tokens;
  Counter& prompt_tokens;
  Counter& generated_tokens;
  Gauge& journal_bytes;
  Counter& journal_records;
  Family<Counter>& journal_errors;
  const ProcessMetrics process;
  std::unique_ptr<MetricsEndpoint> endpoint;  // null when nothing is served
};

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Start(const std::string& listen,
                                                                    const ModelLabels& model) {
  // prometheus-cpp reports invalid names and labels by throwing.
  MUKE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl,
                        CatchExceptions("metrics", [&]() -> absl::StatusOr<std::unique_ptr<Impl>> {
                          return std::make_unique<Impl>(model);
                        }));
  if (!listen.empty()) {
    const Impl* metrics = impl.get();
    MUKE_ASSIGN_OR_RETURN(impl->endpoint, MetricsEndpoint::Start(listen, [metrics] { return metrics->Render(); }));
  }
  return std::unique_ptr<ServerMetrics>(new ServerMetrics(std::move(impl)));
}

ServerMetrics::ServerMetrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServerMetrics::~ServerMetrics() = default;

int ServerMetrics::port() const { return impl_->endpoint ? impl_->endpoint->port() : 0; }

void ServerMetrics::EditAccepted() { impl_->edits_accepted.Increment(); }

void ServerMetrics::EditStarted() { impl_->running.Set(1); }

void ServerMetrics::EditFinished(muke::v1::EditState state, double seconds_since_accept,
                                 const muke::v1::EditMetrics* metrics) {
  impl_->running.Set(0);
  impl_->Edits(state).Increment();
  impl_->edit_duration.Observe(seconds_since_accept);
  if (metrics == nullptr) return;
  for (const auto& [stage, seconds] : metrics->stage_seconds()) impl_->StageDuration(stage).Observe(seconds);
  impl_->optimisation_steps.Increment(metrics->steps());
  impl_->windows.Increment(metrics->windows());
  if (state == muke::v1::EDIT_STATE_COMMITTED) {
    impl_->verified_char_bleu.Observe(metrics->char_bleu());
    impl_->last_verified_char_bleu.Set(metrics->char_bleu());
  }
}

void ServerMetrics::QueuedEditCancelled(double seconds_since_accept) {
  impl_->Edits(muke::v1::EDIT_STATE_CANCELLED).Increment();
  impl_->edit_duration.Observe(seconds_since_accept);
}

void ServerMetrics::EditRolledBack() { impl_->Edits(muke::v1::EDIT_STATE_ROLLED_BACK).Increment(); }

void ServerMetrics::SetQueueDepth(size_t depth) { impl_->queue_depth.Set(static_cast<double>(depth)); }

void ServerMetrics::GenerateFinished(const GenerateCall& call) {
  impl_->GenerateRequests(call.method, call.code).Increment();
  if (call.code == absl::StatusCode::kOk) impl_->GenerateLatency(call.method).Observe(call.seconds);
  if (call.time_to_first_token_seconds) impl_->time_to_first_token.Observe(*call.time_to_first_token_seconds);
  impl_->prompt_tokens.Increment(static_cast<double>(call.prompt_tokens));
  impl_->generated_tokens.Increment(static_cast<double>(call.generated_tokens));
}

void ServerMetrics::SetJournalBytes(int64_t bytes) { impl_->journal_bytes.Set(static_cast<double>(bytes)); }

void ServerMetrics::JournalRecordWritten() { impl_->journal_records.Increment(); }

void ServerMetrics::JournalError(std::string_view kind) {
  impl_->journal_errors.Add({{"kind", std::string(kind)}}).Increment();
}

}  // namespace muke::server
