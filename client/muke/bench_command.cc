// muke bench [--clients N] [--duration SECONDS] [--edits M] [--max-new-tokens K] [--prompt TEXT] [--think-ms T]
// A load benchmark of one server: N client threads call Generate in a loop (greedy, K new tokens, T ms of
// think time after each call) for the duration, while one more thread submits M edits one after another
// (distinct, generated from their index) and watches each to its end. The clients keep generating until the
// last edit has ended, so every edit runs under load and the measured time can exceed --duration.
// Prints requests/s, generated tokens/s, latency percentiles of the successful calls and errors by gRPC code,
// then edits committed/failed, edits/min (committed per minute of the edit thread) and edit durations (submit
// to end, as the client sees them): a table, or with --json one object. Defaults: 4 clients, 10 s, no edits,
// 32 tokens, prompt "Once upon a time", no think time. Failed calls are counted, never fatal; the exit code is
// kExitFailure when any generation failed or any edit did not commit. A GetModelInfo call first checks that the
// server answers (else Connection::Fail's code, e.g. kExitUnreachable).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/muke/commands.h"
#include "client/muke/edit_output.h"
#include "client/muke/json_output.h"
#include "core/util/status.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"

namespace muke::client {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  int64_t clients = 4;
  double duration_seconds = 10;
  int64_t edits = 0;
  int64_t max_new_tokens = 32;
  std::string prompt = "Once upon a time";
  int64_t think_ms = 0;
};

absl::StatusOr<int64_t> IntFlag(const Args& args, const std::string& name, int64_t fallback, int64_t min,
                                int64_t max) {
  MUKE_ASSIGN_OR_RETURN(int64_t value, args.GetInt(name, fallback));
  if (value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be in [", min, ", ", max, "]"));
  }
  return value;
}

absl::StatusOr<BenchOptions> OptionsFromFlags(const Args& args) {
  BenchOptions o;
  MUKE_ASSIGN_OR_RETURN(o.clients, IntFlag(args, "clients", o.clients, 0, 1024));
  MUKE_ASSIGN_OR_RETURN(o.duration_seconds, args.GetDouble("duration", o.duration_seconds));
  if (!(o.duration_seconds > 0 && o.duration_seconds <= 86400)) {
    return absl::InvalidArgumentError("--duration must be in (0, 86400] seconds");
  }
  MUKE_ASSIGN_OR_RETURN(o.edits, IntFlag(args, "edits", o.edits, 0, 1000000));
  MUKE_ASSIGN_OR_RETURN(o.max_new_tokens, IntFlag(args, "max-new-tokens", o.max_new_tokens, 1, 1 << 20));
  o.prompt = args.Get("prompt", o.prompt);
  if (o.prompt.empty()) return absl::InvalidArgumentError("--prompt must not be empty");
  MUKE_ASSIGN_OR_RETURN(o.think_ms, IntFlag(args, "think-ms", o.think_ms, 0, 3600000));
  if (o.clients == 0 && o.edits == 0) return absl::InvalidArgumentError("nothing to do: --clients and --edits are 0");
  return o;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string CodeName(const grpc::Status& status) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
}

// Nearest-rank percentile (p in (0, 1]) of `sorted`; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(p * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// What one generating client saw.
struct GenerateStats {
  int64_t requests = 0;
  int64_t tokens = 0;                     // new ids of the successful calls
  std::vector<double> latencies_ms;       // of the successful calls
  std::map<std::string, int64_t> errors;  // failed calls by gRPC code

  void Add(const GenerateStats& other) {
    requests += other.requests;
    tokens += other.tokens;
    latencies_ms.insert(latencies_ms.end(), other.latencies_ms.begin(), other.latencies_ms.end());
    for (const auto& [code, n] : other.errors) errors[code] += n;
  }
  int64_t failed() const {
    int64_t n = 0;
    for (const auto& [code, count] : errors) n += count;
    return n;
  }
};

// What the edit thread saw.
struct EditStats {
  int64_t committed = 0;
  int64_t failed = 0;
  std::vector<double> seconds;  // each edit, submit to its end (or to the failed call)
  double wall_seconds = 0;      // first submit to last end
};

// Generates greedily in a loop until `stop`.
GenerateStats GenerateLoop(const Connection& connection, const BenchOptions& options, const std::atomic<bool>& stop) {
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  muke::v1::GenerateRequest request;
  request.set_prompt(options.prompt);
  request.set_max_new_tokens(static_cast<int32_t>(options.max_new_tokens));
  GenerateStats stats;
  while (!stop) {
    grpc::ClientContext context;
    connection.Prepare(&context);
    muke::v1::GenerateResponse response;
    const Clock::time_point t0 = Clock::now();
    const grpc::Status status = stub->Generate(&context, request, &response);
    ++stats.requests;
    if (status.ok()) {
      stats.latencies_ms.push_back(1e3 * Seconds(Clock::now() - t0));
      stats.tokens += response.ids_size();
    } else {
      ++stats.errors[CodeName(status)];
    }
    if (options.think_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options.think_ms));
  }
  return stats;
}

// Edit `i` of the run: a question about a fictional lighthouse keeper and a two-sentence answer.
muke::v1::EditKnowledgeRequest BenchEdit(int64_t i) {
  static const char* const kNames[] = {"Anna", "Ben", "Clara", "Dan", "Ella", "Finn", "Grace", "Hugo"};
  static const char* const kColours[] = {"red", "blue", "green", "yellow", "white"};
  static const char* const kAnimals[] = {"cat", "dog", "goat", "parrot", "rabbit", "duck", "pony"};
  const char* name = kNames[i % 8];
  muke::v1::EditKnowledgeRequest request;
  request.set_prompt(absl::StrCat("Who is the keeper of lighthouse #", i, "?"));
  request.set_target(absl::StrFormat("The keeper of lighthouse #%d is %s. %s paints the door %s every spring and "
                                     "lives there with a little %s.",
                                     i, name, name, kColours[i % 5], kAnimals[i % 7]));
  return request;
}

// Submits edit `i` and watches it to its end; empty when it committed, else why not.
std::string SubmitAndWatch(muke::v1::KnowledgeEditor::Stub& stub, const Connection& connection, int64_t i) {
  grpc::ClientContext context;
  connection.Prepare(&context);
  muke::v1::Edit edit;
  grpc::Status status = stub.EditKnowledge(&context, BenchEdit(i), &edit);
  if (!status.ok()) return absl::StrCat("EditKnowledge: ", CodeName(status), ": ", status.error_message());
  grpc::ClientContext watch_context;  // no deadline, as for `muke watch`
  muke::v1::WatchEditRequest watch;
  watch.set_id(edit.id());
  auto reader = stub.WatchEdit(&watch_context, watch);
  muke::v1::EditEvent event;
  while (reader->Read(&event)) {
    if (event.has_edit()) edit = event.edit();
  }
  status = reader->Finish();
  if (!status.ok()) return absl::StrCat("WatchEdit: ", CodeName(status), ": ", status.error_message());
  if (edit.state() != muke::v1::EDIT_STATE_COMMITTED) return absl::StrCat(StateName(edit.state()), ": ", edit.error());
  return "";
}

// Submits the edits one after another, each once the previous has ended.
EditStats EditLoop(const Connection& connection, int64_t edits) {
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  EditStats stats;
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < edits; ++i) {
    const Clock::time_point t0 = Clock::now();
    const std::string failure = SubmitAndWatch(*stub, connection, i);
    stats.seconds.push_back(Seconds(Clock::now() - t0));
    if (failure.empty()) {
      ++stats.committed;
    } else {
      ++stats.failed;
      std::cerr << "muke bench: edit " << i << " not committed: " << failure << "\n";
    }
  }
  stats.wall_seconds = Seconds(Clock::now() - start);
  return stats;
}

nlohmann::ordered_json ReportJson(const Connection& connection, const BenchOptions& o, double seconds,
                                  const GenerateStats& g, const EditStats& e) {
  const std::vector<double>& latencies = g.latencies_ms;  // sorted
  nlohmann::ordered_json errors = nlohmann::ordered_json::object();
  for (const auto& [code, n] : g.errors) errors[code] = n;
  return {{"server", connection.address()},
          {"clients", o.clients},
          {"duration_seconds", seconds},
          {"max_new_tokens", o.max_new_tokens},
          {"think_ms", o.think_ms},
          {"generate",
           {{"requests", g.requests},
            {"failed", g.failed()},
            {"requests_per_second", g.requests / seconds},
            {"tokens", g.tokens},
            {"tokens_per_second", g.tokens / seconds},
            {"latency_ms",
             {{"p50", Percentile(latencies, 0.5)},
              {"p90", Percentile(latencies, 0.9)},
              {"p99", Percentile(latencies, 0.99)},
              {"max", Percentile(latencies, 1.0)}}},
            {"errors", errors}}},
          {"edits",
           {{"requested", o.edits},
            {"committed", e.committed},
            {"failed", e.failed},
            {"per_minute", e.wall_seconds > 0 ? 60.0 * e.committed / e.wall_seconds : 0.0},
            {"seconds", {{"p50", Percentile(e.seconds, 0.5)}, {"max", Percentile(e.seconds, 1.0)}}}}}};
}

// The JSON report as `name  value` lines.
void PrintTable(const nlohmann::ordered_json& r) {
  const nlohmann::ordered_json& g = r["generate"];
  const nlohmann::ordered_json& e = r["edits"];
  std::string errors;
  for (const auto& [code, n] : g["errors"].items()) {
    absl::StrAppend(&errors, errors.empty() ? "" : ", ", code, " ", n.get<int64_t>());
  }
  auto row = [](const char* name, const std::string& value) { std::cout << absl::StrFormat("%-26s%s\n", name, value); };
  row("server", r["server"].get<std::string>());
  row("clients", absl::StrCat(r["clients"].get<int64_t>()));
  row("duration (s)", absl::StrFormat("%.2f", r["duration_seconds"].get<double>()));
  row("max new tokens", absl::StrCat(r["max_new_tokens"].get<int64_t>()));
  row("think time (ms)", absl::StrCat(r["think_ms"].get<int64_t>()));
  row("generate requests", absl::StrCat(g["requests"].get<int64_t>()));
  row("requests/s", absl::StrFormat("%.2f", g["requests_per_second"].get<double>()));
  row("generated tokens/s", absl::StrFormat("%.1f", g["tokens_per_second"].get<double>()));
  const nlohmann::ordered_json& l = g["latency_ms"];
  row("latency p50/p90/p99/max", absl::StrFormat("%.1f / %.1f / %.1f / %.1f ms", l["p50"].get<double>(),
                                                 l["p90"].get<double>(), l["p99"].get<double>(),
                                                 l["max"].get<double>()));
  row("errors", errors.empty() ? "none" : errors);
  row("edits committed/failed", absl::StrCat(e["committed"].get<int64_t>(), " / ", e["failed"].get<int64_t>()));
  row("edits/min", absl::StrFormat("%.2f", e["per_minute"].get<double>()));
  row("edit duration p50/max", absl::StrFormat("%.2f / %.2f s", e["seconds"]["p50"].get<double>(),
                                               e["seconds"]["max"].get<double>()));
  std::cout << std::flush;
}

}  // namespace

int RunBench(const Args& args, const Connection& connection) {
  auto options = OptionsFromFlags(args);
  if (!options.ok()) {
    std::cerr << "muke bench: " << options.status().message() << "\n";
    return kExitUsage;
  }
  // Fail fast (exit kExitUnreachable) when there is no server to measure.
  {
    auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
    grpc::ClientContext context;
    connection.Prepare(&context);
    muke::v1::ModelInfo info;
    const grpc::Status status = stub->GetModelInfo(&context, muke::v1::GetModelInfoRequest(), &info);
    if (!status.ok()) return connection.Fail("bench", status);
  }

  std::atomic<bool> stop{false};
  std::vector<GenerateStats> per_client(options->clients);
  EditStats edits;
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> clients;
  for (int64_t i = 0; i < options->clients; ++i) {
    clients.emplace_back([&, i] { per_client[i] = GenerateLoop(connection, *options, stop); });
  }
  std::thread editor([&] { edits = EditLoop(connection, options->edits); });
  std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(options->duration_seconds)));
  editor.join();
  stop = true;
  for (std::thread& t : clients) t.join();
  const double seconds = Seconds(Clock::now() - start);

  GenerateStats all;
  for (const GenerateStats& s : per_client) all.Add(s);
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  std::sort(edits.seconds.begin(), edits.seconds.end());
  const nlohmann::ordered_json report = ReportJson(connection, *options, seconds, all, edits);
  if (args.Has("json")) {
    PrintJsonLine(report);
  } else {
    PrintTable(report);
  }
  return all.failed() > 0 || edits.failed > 0 ? kExitFailure : kExitOk;
}

}  // namespace muke::client
