// muke: the command-line client of muke-server.
//   muke [--server HOST:PORT] [--tls-ca FILE] [--token T | --token-file FILE] [--json] [--timeout SECONDS]
//        <command> [flags]
// Global flags may also follow the command. Exit codes: see commands.h.
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/muke/commands.h"
#include "client/muke/connection.h"
#include "client/tool/args.h"

namespace muke::client {
namespace {

constexpr char kUsage[] =
    "usage: muke [--server HOST:PORT] [--tls-ca FILE] [--token T | --token-file FILE] [--json]\n"
    "            [--timeout SECONDS] <command> [flags]\n"
    "commands:\n"
    "  info                                   describe the served model\n"
    "  generate --prompt TEXT [--chat [--system TEXT]] [--max-new-tokens N] [--temperature T] [--top-p P]\n"
    "           [--seed S] [--stream]\n"
    "                                         continue a prompt (greedy unless --temperature > 0); --chat\n"
    "                                         sends it as a user message for the model's chat template\n"
    "  health                                 the server's health status (exit 0 when SERVING)\n"
    "  edit --prompt TEXT --target TEXT [--paraphrase TEXT]... [--strategy S] [--update U]\n"
    "       [--request-id ID] [--acceptance-threshold X] [--watch]\n"
    "                                         queue a knowledge edit; --watch follows it to its end\n"
    "                                         (progress on stderr, the final edit on stdout)\n"
    "  watch ID                               follow an edit to its end\n"
    "  get ID                                 show an edit\n"
    "  list [--page-size N] [--page-token T]  the server's edits, newest first\n"
    "  cancel ID                              cancel a queued or running edit\n"
    "  rollback ID                            put back the weights a committed edit replaced (newest first)\n"
    "  export [--path PATH] [--overwrite] [--max-shard-bytes N]\n"
    "                                         write the served weights as a Hugging Face directory (PATH\n"
    "                                         relative to the server's export directory)\n"
    "  bench [--clients N] [--duration SECONDS] [--edits M] [--max-new-tokens K] [--prompt TEXT] [--think-ms T]\n"
    "                                         load benchmark: N clients generating while M edits run one after\n"
    "                                         another; prints throughput, latency, errors, edits/min (exit 1\n"
    "                                         when a call failed or an edit did not commit)\n"
    "global flags:\n"
    "  --server HOST:PORT   server address (default $MUKE_SERVER, else 127.0.0.1:50051)\n"
    "  --tls-ca FILE        connect with TLS, trusting this PEM CA certificate (default $MUKE_TLS_CA; unset:\n"
    "                       plaintext)\n"
    "  --token T            bearer token sent with every call (default $MUKE_TOKEN); a server with\n"
    "                       --auth-token-file requires it for edit, cancel, rollback and export\n"
    "  --token-file FILE    the token is FILE's content (trailing whitespace removed)\n"
    "  --json               machine-readable output, one JSON object per line\n"
    "  --timeout SECONDS    deadline of each call (default 60; 0 = none)\n"
    "exit codes: 0 ok, 1 other failure, 2 usage, 3 server unreachable or not serving,\n"
    "            4 request rejected (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND),\n"
    "            5 the watched edit ended FAILED or CANCELLED, 6 server busy (edit queue full),\n"
    "            7 unauthenticated (missing or wrong --token)\n";

const std::set<std::string> kGlobalBoolFlags = {"json"};

struct Command {
  const char* name;
  std::set<std::string> value_flags;
  std::set<std::string> bool_flags;
  int (*run)(const Args&, const Connection&);
  const char* argument = nullptr;  // the name of its one positional argument, if it takes one
};

const Command kCommands[] = {
    {"info", {}, {}, RunInfo},
    {"generate", {"prompt", "system", "max-new-tokens", "temperature", "top-p", "seed"}, {"stream", "chat"},
     RunGenerate},
    {"health", {}, {}, RunHealth},
    {"edit",
     {"prompt", "target", "paraphrase", "strategy", "update", "request-id", "acceptance-threshold"},
     {"watch"},
     RunEdit},
    {"watch", {}, {}, RunWatch, "ID"},
    {"get", {}, {}, RunGet, "ID"},
    {"list", {"page-size", "page-token"}, {}, RunList},
    {"cancel", {}, {}, RunCancel, "ID"},
    {"rollback", {}, {}, RunRollback, "ID"},
    {"export", {"path", "max-shard-bytes"}, {"overwrite"}, RunExport},
    {"bench", {"clients", "duration", "edits", "max-new-tokens", "prompt", "think-ms"}, {}, RunBench},
};

// Index in argv of the command word: the first argument that is neither a flag nor the value of a global
// flag; argc when there is none.
int FindCommand(int argc, char** argv) {
  int i = 1;
  while (i < argc && std::strncmp(argv[i], "--", 2) == 0) {
    const std::string flag = argv[i] + 2;
    i += (flag.find('=') == std::string::npos && Connection::Flags().count(flag)) ? 2 : 1;
  }
  return i;
}

int UsageError(const std::string& message) {
  std::cerr << "muke: " << message << "\n" << kUsage;
  return kExitUsage;
}

int Main(int argc, char** argv) {
  if (argc >= 2 && (!std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    std::cout << kUsage;
    return kExitOk;
  }
  const int at = FindCommand(argc, argv);
  if (at >= argc) return UsageError("no command given");
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (argv[at] == std::string(c.name)) command = &c;
  }
  if (!command) return UsageError(std::string("unknown command '") + argv[at] + "'");

  std::vector<char*> rest(argv, argv + argc);
  rest.erase(rest.begin() + at);
  std::set<std::string> value_flags = Connection::Flags(), bool_flags = kGlobalBoolFlags;
  value_flags.insert(command->value_flags.begin(), command->value_flags.end());
  bool_flags.insert(command->bool_flags.begin(), command->bool_flags.end());
  auto args = Args::Parse(static_cast<int>(rest.size()), rest.data(), 1, value_flags, bool_flags);
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  const size_t expected = command->argument ? 1 : 0;
  if (args->positional().size() < expected) {
    return UsageError(std::string(command->name) + ": " + command->argument + " is required");
  }
  if (args->positional().size() > expected) {
    return UsageError("unexpected argument '" + args->positional()[expected] + "'");
  }
  auto connection = Connection::FromFlags(*args);
  if (!connection.ok()) {
    if (absl::IsInvalidArgument(connection.status())) return UsageError(std::string(connection.status().message()));
    std::cerr << "muke: " << connection.status().message() << "\n";
    return kExitFailure;
  }
  return command->run(*args, *connection);
}

}  // namespace
}  // namespace muke::client

int main(int argc, char** argv) { return muke::client::Main(argc, argv); }
