// muke-server: serves one model over gRPC — muke.v1.KnowledgeEditor, the standard health service and server
// reflection (so grpcurl works) — and edits it with one EditWorker. Settings come from an optional YAML file
// (--config) and flags (server_config.h); TLS and a bearer token for the mutating RPCs are optional. Prints
// `muke-server listening on ADDR (model DIR[, metrics http://HOST:PORT/metrics])` on stdout once it serves;
// logs (quiet by default) go to stderr. With a --data-dir (or journal dir) every accepted and committed edit
// is journaled, and a restart serves the committed edits again and re-queues the unfinished ones.
// SIGTERM / SIGINT shut it down gracefully (exit 0): the running edit stops at its next progress report and
// ends CANCELLED, queued ones too (journaled edits run again at the next start).
// Exit codes: 0 clean shutdown, 1 failure (model load, TLS or token files, listen), 2 usage or configuration.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <torch/utils.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/tool/args.h"
#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_io.h"
#include "core/util/log.h"
#include "core/util/status.h"
#include "server/auth.h"
#include "server/edit_journal.h"
#include "server/edit_queue.h"
#include "server/edit_recovery.h"
#include "server/edit_registry.h"
#include "server/edit_worker.h"
#include "server/knowledge_editor_service.h"
#include "server/served_model.h"
#include "server/server_config.h"
#include "server/shutdown_signal.h"

namespace muke::server {
namespace {

// How long in-flight calls may run on after a shutdown signal before they are cancelled.
constexpr std::chrono::seconds kShutdownGrace{10};
constexpr char kServiceName[] = "muke.v1.KnowledgeEditor";
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: muke-server [--config FILE] [--model DIR] [flags]\n"
    "Settings come from --config FILE (YAML; deploy/config/muke-server.yaml documents every key) and then\n"
    "from these flags, which override its keys. Relative paths in the file are relative to the file.\n"
    "  --config FILE             YAML configuration file\n"
    "  --model DIR               Hugging Face model directory (config.json, safetensors, tokenizer); required\n"
    "  --device, --dtype         where and in which dtype the weights live (cpu|cuda|cuda:N, default cpu;\n"
    "                            float32|bfloat16|float16, default float32 on CPU, the checkpoint's on CUDA)\n"
    "  --threads N               CPU threads for libtorch (default: libtorch's choice)\n"
    "  --listen HOST:PORT        gRPC address (default 127.0.0.1:50051; port 0 picks a free one)\n"
    "  --metrics-listen HOST:PORT  Prometheus /metrics address (default 127.0.0.1:9090; empty = none)\n"
    "  --data-dir DIR            roots the journal, exports and statistics cache (DIR/journal, DIR/exports,\n"
    "                            DIR/statistics; default: none, nothing persisted)\n"
    "  --journal-dir, --export-dir, --statistics-dir DIR\n"
    "                            each of those directories explicitly (the statistics cache holds the editor's\n"
    "                            second moments; without one they are computed on each layer's first edit)\n"
    "  --max-new-tokens-limit N  largest max_new_tokens a request may ask for (default 1024)\n"
    "  --max-queued-edits N      edits waiting beyond the running one before EditKnowledge answers\n"
    "                            RESOURCE_EXHAUSTED (default 16)\n"
    "  --max-prompt-tokens N     longest edit prompt or paraphrase, in tokens (default 256)\n"
    "  --max-target-tokens N     longest edit target, in tokens (default 1024; the model's context also applies)\n"
    "  --max-message-bytes N     largest request message; larger ones get RESOURCE_EXHAUSTED (default 4194304)\n"
    "  --tls-cert FILE, --tls-key FILE\n"
    "                            serve TLS with this PEM certificate chain and private key (both or neither)\n"
    "  --auth-token-file FILE    EditKnowledge, CancelEdit, RollbackEdit and ExportCheckpoint require call\n"
    "                            metadata `authorization: Bearer <token>`, the token being FILE's content\n"
    "  --strategy S, --update U  edit defaults for requests that leave them empty (default muke, memit)\n"
    "  --hook-layer L, --layers a,b,...\n"
    "                            default hook layer and edited layers (default: the model-dependent choice)\n"
    "  --log-level LEVEL         stderr log threshold: debug|info|warn|error (default warn, or $MUKE_LOG_LEVEL)\n";

// `status` with its message prefixed by the config key it concerns.
absl::Status ForKey(const char* key, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(key, ": ", status.message()));
}

// TLS with tls.cert_file and tls.key_file, or plaintext when they are not set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListeningCredentials(const ServerConfig& config) {
  if (config.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> cert = ReadFileBytes(config.tls_cert_file);
  if (!cert.ok()) return ForKey("tls.cert_file", cert.status());
  absl::StatusOr<std::string> key = ReadFileBytes(config.tls_key_file);
  if (!key.ok()) return ForKey("tls.key_file", key.status());
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({std::move(*key), std::move(*cert)});
  return grpc::SslServerCredentials(options);
}

// The bearer-token check of auth_token_file, or none when it is not set.
absl::StatusOr<std::optional<BearerTokenChecker>> TokenChecker(const ServerConfig& config) {
  if (config.auth_token_file.empty()) return std::nullopt;
  absl::StatusOr<BearerTokenChecker> checker = BearerTokenChecker::FromFile(config.auth_token_file);
  if (!checker.ok()) return ForKey("auth_token_file", checker.status());
  return std::optional<BearerTokenChecker>(std::move(*checker));
}

absl::StatusOr<std::unique_ptr<ServedModel>> LoadServedModel(const ServerConfig& config) {
  if (config.threads > 0) torch::set_num_threads(config.threads);
  MUKE_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(config.model, config.model_load));
  MUKE_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(config.model));
  absl::StatusOr<ChatFormat> chat = ChatFormat::Load(config.model);
  if (!chat.ok() && !absl::IsNotFound(chat.status())) return chat.status();
  EditorConfig editor_config;
  editor_config.statistics.cache_dir = config.statistics_dir;
  auto served = std::make_unique<ServedModel>(
      config.model, std::move(model), std::move(tokenizer),
      chat.ok() ? std::optional<ChatFormat>(std::move(*chat)) : std::nullopt, editor_config);
  MUKE_RETURN_IF_ERROR(CheckEditDefaults(config.edit_limits.defaults, served->config()));
  return served;
}

// MUKE_TEST_JOURNAL_TORN_WRITE=N: the crash-consistency tests' torn journal write (see JournalOptions).
JournalOptions JournalOptionsFromEnvironment() {
  JournalOptions options;
  const char* torn = std::getenv("MUKE_TEST_JOURNAL_TORN_WRITE");
  if (torn && !absl::SimpleAtoi(torn, &options.torn_write_record)) options.torn_write_record = 0;
  return options;
}

// `listen` with its port replaced by the one actually bound (they differ when port 0 was asked for).
std::string BoundAddress(const std::string& listen, int port) {
  return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
}

absl::Status Serve(const ServerConfig& config) {
  // The files the config names are read first, so that a bad one fails before the model loads.
  MUKE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, ListeningCredentials(config));
  MUKE_ASSIGN_OR_RETURN(std::optional<BearerTokenChecker> token_checker, TokenChecker(config));
  // The journal's lock is taken before the model loads, so a second server on the same directory fails fast.
  std::unique_ptr<EditJournal> journal;
  EditJournal::Contents journaled;
  if (!config.journal_dir.empty()) {
    MUKE_ASSIGN_OR_RETURN(journal, EditJournal::Open(config.journal_dir, &journaled, JournalOptionsFromEnvironment()));
    for (const EditJournal::Contents::Repair& repair : journaled.repairs) {
      Log(LogLevel::kWarn, "journal_repaired", {{"kind", repair.kind}, {"what", repair.message}});
    }
  }
  MUKE_ASSIGN_OR_RETURN(std::unique_ptr<ServedModel> served, LoadServedModel(config));
  Log(LogLevel::kInfo, "model_loaded",
      {{"dir", served->dir()},
       {"model_type", served->config().model_type},
       {"parameters", std::to_string(served->parameter_count())},
       {"device", served->device().str()},
       {"dtype", DtypeName(served->dtype())}});

  MUKE_ASSIGN_OR_RETURN(std::unique_ptr<ServerMetrics> metrics,
                        ServerMetrics::Start(config.metrics_listen,
                                             {served->config().model_type, DtypeName(served->dtype()),
                                              served->device().str(), served->dir(), served->parameter_count()}));
  for (const EditJournal::Contents::Repair& repair : journaled.repairs) metrics->JournalError(repair.kind);
  if (journal) metrics->SetJournalBytes(journal->size_bytes());

  MUKE_RETURN_IF_ERROR(InstallShutdownSignalHandlers());
  EditQueue queue(static_cast<size_t>(config.max_queued_edits));
  EditRegistry edits(queue, journal.get(), *metrics);
  if (journal) {
    MUKE_RETURN_IF_ERROR(journal->BindModel(served->Fingerprint(), served->dir()));
    // Before the worker starts: the committed edits are served again and the unfinished ones queued first.
    MUKE_ASSIGN_OR_RETURN(RecoveryCounts recovered,
                          RecoverEdits(journaled, *journal, *served, edits, [&](const muke::v1::EditKnowledgeRequest& r) {
                            return PlanEdit(r, *served, config.edit_limits);
                          }));
    Log(LogLevel::kInfo, "journal_recovered",
        {{"dir", config.journal_dir},
         {"edits", std::to_string(recovered.edits)},
         {"applied", std::to_string(recovered.applied)},
         {"requeued", std::to_string(recovered.requeued)},
         {"failed", std::to_string(recovered.failed)}});
  }
  EditWorker worker(*served, edits, queue);
  KnowledgeEditorService service(*served, edits, worker, *metrics, config.generation_limits, config.edit_limits,
                                 config.export_dir);
  std::optional<AuthenticatedKnowledgeEditor> authenticated;
  if (token_checker) authenticated.emplace(service, std::move(*token_checker));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes));
  int port = 0;
  builder.AddListeningPort(config.listen, credentials, &port);
  builder.RegisterService(authenticated ? static_cast<grpc::Service*>(&*authenticated) : &service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen,
                                               config.tls_cert_file.empty()
                                                   ? ""
                                                   : " (or tls.cert_file and tls.key_file are not a PEM pair)"));
  }
  // The model is loaded before the server starts, so it serves from its first call.
  server->GetHealthCheckService()->SetServingStatus(kServiceName, true);

  const std::string address = BoundAddress(config.listen, port);
  Log(LogLevel::kInfo, "serving",
      {{"address", address},
       {"tls", config.tls_cert_file.empty() ? "off" : "on"},
       {"auth", authenticated ? "bearer" : "off"}});
  std::cout << "muke-server listening on " << address << " (model " << served->dir();
  if (metrics->port() != 0) {
    std::cout << ", metrics http://" << BoundAddress(config.metrics_listen, metrics->port()) << "/metrics";
  }
  std::cout << ")" << std::endl;

  const int signal = WaitForShutdownSignal();
  Log(LogLevel::kInfo, "shutdown", {{"signal", std::to_string(signal)}});
  server->GetHealthCheckService()->Shutdown();  // every service NOT_SERVING from now on
  worker.Stop();  // every edit has ended from here on, so WatchEdit calls finish
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, 1, ServerConfigFlags(), {"help"});
  if (!args.ok()) {
    std::cerr << "muke-server: " << args.status().message() << "\n" << kUsage;
    return kExitUsage;
  }
  if (args->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  const absl::StatusOr<ServerConfig> config = LoadServerConfig(*args);
  if (!config.ok()) {
    std::cerr << "muke-server: " << config.status().message() << "\n(muke-server --help lists the flags)\n";
    return kExitUsage;
  }
  if (config->log_level) SetLogLevel(*config->log_level);
  const absl::Status status = Serve(*config);
  if (!status.ok()) {
    std::cerr << "muke-server: " << status.message() << "\n";
    return kExitFailure;
  }
  return 0;
}

}  // namespace
}  // namespace muke::server

int main(int argc, char** argv) { return muke::server::Main(argc, argv); }
