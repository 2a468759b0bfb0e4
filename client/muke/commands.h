// The muke client's commands. Each gets the parsed arguments (its own flags and the global ones) and the
// connection, and returns the process exit code.
#pragma once

#include "client/muke/connection.h"
#include "client/tool/args.h"

namespace muke::client {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;      // anything else that went wrong
constexpr int kExitUsage = 2;        // bad command line
constexpr int kExitUnreachable = 3;  // server unreachable, UNAVAILABLE or not serving
constexpr int kExitRejected = 4;     // the server refused the request (INVALID_ARGUMENT, FAILED_PRECONDITION,
                                     // NOT_FOUND)
constexpr int kExitEditNotCommitted = 5;  // the watched edit ended FAILED or CANCELLED
constexpr int kExitBusy = 6;              // RESOURCE_EXHAUSTED: the edit queue is full; retry later
constexpr int kExitUnauthenticated = 7;   // UNAUTHENTICATED: no token, or not the server's (--token)

// info: describes the served model.
int RunInfo(const Args& args, const Connection& connection);
// generate --prompt TEXT [--chat [--system TEXT]] [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S]
//          [--stream]
int RunGenerate(const Args& args, const Connection& connection);
// health: the server's grpc.health.v1 status (exit 0 only when SERVING).
int RunHealth(const Args& args, const Connection& connection);
// edit --prompt TEXT --target TEXT [--paraphrase TEXT]... [--strategy S] [--update U] [--request-id ID]
//      [--acceptance-threshold X] [--watch]
int RunEdit(const Args& args, const Connection& connection);
// watch ID: follows an edit to its end.
int RunWatch(const Args& args, const Connection& connection);
// get ID
int RunGet(const Args& args, const Connection& connection);
// list [--page-size N] [--page-token T]: newest first.
int RunList(const Args& args, const Connection& connection);
// cancel ID
int RunCancel(const Args& args, const Connection& connection);
// rollback ID: the newest committed edit first.
int RunRollback(const Args& args, const Connection& connection);
// export [--path PATH] [--overwrite] [--max-shard-bytes N]: ExportCheckpoint.
int RunExport(const Args& args, const Connection& connection);
// bench [--clients N] [--duration SECONDS] [--edits M] [--max-new-tokens K] [--prompt TEXT] [--think-ms T]:
// N clients generating while M edits run one after another; throughput, latency, errors and edits/min.
int RunBench(const Args& args, const Connection& connection);

}  // namespace muke::client
