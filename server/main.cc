// muke-server: serves one model over gRPC — muke.v1.KnowledgeEditor, the standard health service and server
// reflection (so grpcurl works) — and edits it with one EditWorker. Prints `muke-server listening on ADDR
// (model DIR)` on stdout once it serves; logs (quiet by default) go to stderr. SIGTERM / SIGINT shut it down
// gracefully (exit 0): the running edit stops at its next progress report and ends CANCELLED, queued ones too.
// Exit codes: 0 clean shutdown, 1 failure (model load, listen), 2 usage.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "client/tool/args.h"
#include "client/tool/model_flags.h"
#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/log.h"
#include "core/util/status.h"
#include "server/edit_queue.h"
#include "server/edit_registry.h"
#include "server/edit_worker.h"
#include "server/knowledge_editor_service.h"
#include "server/served_model.h"
#include "server/shutdown_signal.h"

namespace muke::server {
namespace {

// Loopback by default, so that a server started by hand is not exposed; containers pass 0.0.0.0:50051.
constexpr char kDefaultListen[] = "127.0.0.1:50051";
// How long in-flight calls may run on after a shutdown signal before they are cancelled.
constexpr std::chrono::seconds kShutdownGrace{10};
constexpr char kServiceName[] = "muke.v1.KnowledgeEditor";
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: muke-server --model DIR [--listen HOST:PORT] [--device cpu|cuda|cuda:N]\n"
    "                   [--dtype float32|bfloat16|float16] [--threads N] [--max-new-tokens-limit N]\n"
    "                   [--max-queued-edits N] [--max-prompt-tokens N] [--max-target-tokens N]\n"
    "                   [--statistics-dir DIR] [--log-level debug|info|warn|error]\n"
    "  --model DIR               Hugging Face model directory (config.json, safetensors, tokenizer)\n"
    "  --listen HOST:PORT        address to serve on (default 127.0.0.1:50051; port 0 picks a free one)\n"
    "  --device, --dtype         where and in which dtype the weights live (default cpu; float32 on CPU)\n"
    "  --threads N               CPU threads for libtorch (default: libtorch's choice)\n"
    "  --max-new-tokens-limit N  largest max_new_tokens a request may ask for (default 1024)\n"
    "  --max-queued-edits N      edits waiting beyond the running one before EditKnowledge answers\n"
    "                            RESOURCE_EXHAUSTED (default 16)\n"
    "  --max-prompt-tokens N     longest edit prompt or paraphrase, in tokens (default 256)\n"
    "  --max-target-tokens N     longest edit target, in tokens (default 1024; the model's context also applies)\n"
    "  --statistics-dir DIR      cache of the editor's second-moment statistics (default: none, computed on\n"
    "                            the first edit of each layer and kept in memory)\n"
    "  --log-level LEVEL         stderr log threshold (default warn, or $MUKE_LOG_LEVEL)\n";

struct ServerSettings {
  std::string listen = kDefaultListen;
  GenerationLimits limits;
  EditLimits edit_limits;
  int64_t max_queued_edits = 16;
  std::string statistics_dir;
};

absl::StatusOr<int64_t> PositiveFlag(const Args& args, const std::string& name, int64_t fallback) {
  MUKE_ASSIGN_OR_RETURN(int64_t value, args.GetInt(name, fallback));
  if (value < 1) return absl::InvalidArgumentError(absl::StrCat("--", name, " must be >= 1"));
  return value;
}

// The server's own flags; errors are usage errors. The model flags are checked when the model loads.
absl::StatusOr<ServerSettings> SettingsFromFlags(const Args& args) {
  if (!args.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", args.positional()[0], "'"));
  }
  if (!args.Has("model")) return absl::InvalidArgumentError("--model DIR is required");
  if (args.Has("log-level")) {
    LogLevel level;
    if (!ParseLogLevel(args.Get("log-level"), &level)) {
      return absl::InvalidArgumentError("--log-level must be debug, info, warn or error");
    }
    SetLogLevel(level);
  }
  ServerSettings settings;
  settings.listen = args.Get("listen", kDefaultListen);
  MUKE_ASSIGN_OR_RETURN(settings.limits.max_new_tokens,
                        PositiveFlag(args, "max-new-tokens-limit", settings.limits.max_new_tokens));
  MUKE_ASSIGN_OR_RETURN(settings.max_queued_edits, PositiveFlag(args, "max-queued-edits", settings.max_queued_edits));
  MUKE_ASSIGN_OR_RETURN(settings.edit_limits.max_prompt_tokens,
                        PositiveFlag(args, "max-prompt-tokens", settings.edit_limits.max_prompt_tokens));
  MUKE_ASSIGN_OR_RETURN(settings.edit_limits.max_target_tokens,
                        PositiveFlag(args, "max-target-tokens", settings.edit_limits.max_target_tokens));
  settings.statistics_dir = args.Get("statistics-dir");
  return settings;
}

// `listen` with its port replaced by the one actually bound (they differ when port 0 was asked for).
std::string BoundAddress(const std::string& listen, int port) {
  return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
}

absl::Status Serve(const Args& args, const ServerSettings& settings) {
  MUKE_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, LoadModelFromFlags(args));
  MUKE_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(args.Get("model")));
  absl::StatusOr<ChatFormat> chat = ChatFormat::Load(args.Get("model"));
  if (!chat.ok() && !absl::IsNotFound(chat.status())) return chat.status();
  EditorConfig editor_config;
  editor_config.statistics.cache_dir = settings.statistics_dir;
  ServedModel served(args.Get("model"), std::move(model), std::move(tokenizer),
                     chat.ok() ? std::optional<ChatFormat>(std::move(*chat)) : std::nullopt, editor_config);
  Log(LogLevel::kInfo, "model_loaded",
      {{"dir", served.dir()},
       {"model_type", served.config().model_type},
       {"parameters", std::to_string(served.parameter_count())},
       {"device", served.device().str()},
       {"dtype", DtypeName(served.dtype())}});

  MUKE_RETURN_IF_ERROR(InstallShutdownSignalHandlers());
  EditQueue queue(static_cast<size_t>(settings.max_queued_edits));
  EditRegistry edits(queue);
  EditWorker worker(served, edits, queue);
  KnowledgeEditorService service(served, edits, worker, settings.limits, settings.edit_limits);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(settings.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", settings.listen));
  // The model is loaded before the server starts, so it serves from its first call.
  server->GetHealthCheckService()->SetServingStatus(kServiceName, true);

  const std::string address = BoundAddress(settings.listen, port);
  Log(LogLevel::kInfo, "serving", {{"address", address}});
  std::cout << "muke-server listening on " << address << " (model " << served.dir() << ")" << std::endl;

  const int signal = WaitForShutdownSignal();
  Log(LogLevel::kInfo, "shutdown", {{"signal", std::to_string(signal)}});
  server->GetHealthCheckService()->Shutdown();  // every service NOT_SERVING from now on
  worker.Stop();  // every edit has ended from here on, so WatchEdit calls finish
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  std::set<std::string> value_flags = kModelFlags;
  value_flags.insert({"listen", "max-new-tokens-limit", "max-queued-edits", "max-prompt-tokens", "max-target-tokens",
                      "statistics-dir", "log-level"});
  auto args = Args::Parse(argc, argv, 1, value_flags, {"help"});
  if (args.ok() && args->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  absl::StatusOr<ServerSettings> settings = args.ok() ? SettingsFromFlags(*args) : args.status();
  if (!settings.ok()) {
    std::cerr << "muke-server: " << settings.status().message() << "\n" << kUsage;
    return kExitUsage;
  }
  const absl::Status status = Serve(*args, *settings);
  if (!status.ok()) {
    std::cerr << "muke-server: " << status.message() << "\n";
    return kExitFailure;
  }
  return 0;
}

}  // namespace
}  // namespace muke::server

int main(int argc, char** argv) { return muke::server::Main(argc, argv); }
