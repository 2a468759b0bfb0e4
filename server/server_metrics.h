// The server's Prometheus metrics: what the gRPC handlers, the edit worker and the journal report, kept in a
// registry and served as the text exposition format on GET /metrics by an HTTP endpoint of its own. Every
// method is named after the event it records and is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "muke/v1/knowledge_editor.pb.h"

namespace muke::server {

// The served model as muke_model_info's labels and muke_model_parameters' value say it (the same values as
// muke.v1.ModelInfo).
struct ModelLabels {
  std::string model_type;  // "llama", "qwen2", "mistral"
  std::string dtype;       // "float32", "bfloat16", "float16"
  std::string device;      // "cpu", "cuda:0"
  std::string model_dir;
  int64_t parameter_count = 0;
};

// The label `method` of the generation metrics.
enum class GenerateMethod { kGenerate, kGenerateStream };  // "generate", "generate_stream"

// One Generate or GenerateStream call, as it ended.
struct GenerateCall {
  GenerateMethod method = GenerateMethod::kGenerate;
  absl::StatusCode code = absl::StatusCode::kOk;  // the call's status
  double seconds = 0;                              // the whole call
  std::optional<double> time_to_first_token_seconds;  // unset when no token was generated
  int64_t prompt_tokens = 0;     // 0 when the prompt was rejected before it was tokenized
  int64_t generated_tokens = 0;  // new tokens, including those of a cancelled call
};

// The metrics, by name (a stable contract: dashboards and alert rules use these names and labels). Every metric,
// and every labelled series whose label values are listed here, exists (at 0) from the start; other series
// (e.g. a generate code other than OK) appear when first recorded.
//
// Edits
//   muke_edits_accepted_total                 counter    edits EditKnowledge queued
//   muke_edits_total{status}                  counter    edits that reached a terminal state: committed, failed,
//                                                        cancelled, rolled_back (a rolled-back edit was counted
//                                                        committed before, so committed - rolled_back is the
//                                                        number of edits applied since the start)
//   muke_queue_depth                          gauge      edits waiting in the queue
//   muke_edit_running                         gauge      1 while the worker processes an edit, else 0
//   muke_edit_duration_seconds                histogram  accept → terminal state, of every ended edit
//   muke_edit_stage_duration_seconds{stage}   histogram  seconds per stage of verified edits, as in
//                                                        EditMetrics.stage_seconds: statistics, affinity, optimise,
//                                                        update, measure, verify, apply (a stage an edit skipped
//                                                        is not observed)
//   muke_edit_optimisation_steps_total        counter    Adam steps of the memory shifts, of verified edits
//   muke_edit_windows_total                   counter    memory shifts (windows) optimised, of verified edits
//   muke_edit_verified_char_bleu              histogram  verified char-BLEU of committed edits (buckets 0.1 … 1)
//   muke_edit_last_verified_char_bleu         gauge      the same, of the latest committed edit
// Generation
//   muke_generate_requests_total{method,code} counter    calls by method (generate, generate_stream) and gRPC
//                                                        status code name (OK, INVALID_ARGUMENT, CANCELLED, …)
//   muke_generate_latency_seconds{method}     histogram  duration of calls that ended OK
//   muke_generate_time_to_first_token_seconds histogram  call start → first new token, of calls that made one
//   muke_generate_tokens_total{kind}          counter    prompt and generated tokens (kind: prompt, generated)
// Model and build
//   muke_model_info{model_type,dtype,device,model_dir}  gauge  1
//   muke_model_parameters                     gauge      number of weights
//   muke_build_info{version}                  gauge      1
// Journal
//   muke_journal_bytes                        gauge      size of the edit journal
//   muke_journal_records_total                counter    records appended
//   muke_journal_errors_total{kind}           counter    errors by kind: corrupt_record (skipped on replay),
//                                                        write (an append or sync failed), or another the
//                                                        journal names
// Process (read from /proc at each scrape)
//   muke_process_resident_memory_bytes        gauge      resident set size
//   muke_process_virtual_memory_bytes         gauge      virtual memory size
//   muke_process_start_time_seconds           gauge      start of the process, seconds since the Unix epoch
class ServerMetrics {
 public:
  // Starts serving GET /metrics on `listen` (HOST:PORT, e.g. 0.0.0.0:9090, [::1]:9090 or localhost:9090; port 0
  // picks a free port) with a MetricsEndpoint. INVALID_ARGUMENT for an address not of that form, UNAVAILABLE
  // naming it and the reason ("Address already in use") when it cannot be bound. An empty `listen` serves
  // nothing: the metrics are recorded all the same (so callers need no null checks) and port() is 0.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Start(const std::string& listen, const ModelLabels& model);
  ~ServerMetrics();

  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The port /metrics is served on; 0 when nothing is served.
  int port() const;

  // EditKnowledge queued a new edit.
  void EditAccepted();
  // The worker took an edit from the queue (muke_edit_running = 1).
  void EditStarted();
  // An edit the worker had started reached `state` (COMMITTED, FAILED or CANCELLED), `seconds_since_accept`
  // after EditKnowledge accepted it (muke_edit_running = 0). `metrics` is the verified edit's (null when it
  // ended before verification): its stages, steps and windows are recorded, its char-BLEU when COMMITTED.
  void EditFinished(muke::v1::EditState state, double seconds_since_accept, const muke::v1::EditMetrics* metrics);
  // An edit was cancelled while still queued (by CancelEdit or at shutdown).
  void QueuedEditCancelled(double seconds_since_accept);
  // A committed edit was rolled back.
  void EditRolledBack();
  // The number of edits waiting in the queue changed.
  void SetQueueDepth(size_t depth);

  // A Generate or GenerateStream call ended, whatever its status.
  void GenerateFinished(const GenerateCall& call);

  // The journal file's size changed (after an append, or once it was replayed at start).
  void SetJournalBytes(int64_t bytes);
  void JournalRecordWritten();
  // `kind`: "corrupt_record", "write" or another short lower_snake_case name.
  void JournalError(std::string_view kind);

 private:
  struct Impl;
  explicit ServerMetrics(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace muke::server
