// muke-server's configuration: every setting with its default, read from an optional YAML file (--config FILE)
// and then from command-line flags, which override the file's keys. deploy/config/muke-server.yaml lists every
// key with its default and its flag.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/tool/args.h"
#include "core/model/model.h"
#include "core/util/log.h"
#include "server/edit_request.h"
#include "server/generate_request.h"

namespace muke::server {

inline constexpr char kDefaultListen[] = "127.0.0.1:50051";
inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9090";
inline constexpr int64_t kDefaultMaxMessageBytes = 4 << 20;  // gRPC's own default

struct ServerConfig {
  std::string model;             // Hugging Face model directory (required)
  ModelLoadOptions model_load;   // device (default cpu), dtype (default: float32 on CPU, the checkpoint's on CUDA)
  int threads = 0;               // libtorch's CPU threads; 0 = its choice
  std::string listen = kDefaultListen;                 // gRPC address; port 0 picks a free one
  std::string metrics_listen = kDefaultMetricsListen;  // Prometheus endpoint; empty = none
  // data_dir roots the other three: each defaults to data_dir/{journal,exports,statistics} when data_dir is
  // set and to empty (not persisted) otherwise; an explicit value wins. Paths as given or resolved against the
  // config file's directory.
  std::string data_dir;
  std::string journal_dir;
  std::string export_dir;
  std::string statistics_dir;
  GenerationLimits generation_limits;  // limits.max_new_tokens
  EditLimits edit_limits;              // limits.max_prompt_tokens, limits.max_target_tokens and the edit.* keys
  int64_t max_queued_edits = 16;                       // limits.max_queued_edits
  int64_t max_message_bytes = kDefaultMaxMessageBytes;  // limits.max_message_bytes: largest request accepted
  // tls.cert_file (PEM certificate chain) and tls.key_file (its PEM private key): both or neither (plaintext).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string auth_token_file;  // empty = mutating RPCs are open
  std::optional<LogLevel> log_level;  // unset: $MUKE_LOG_LEVEL, else warn
};

// The flags LoadServerConfig reads, each taking a value: --config and one per key.
std::set<std::string> ServerConfigFlags();

// Every key the file may hold, as a dotted path (limits.max_queued_edits), in the file's order.
std::vector<std::string> ServerConfigKeys();

// Reads --config FILE (if given) and then the flags. INVALID_ARGUMENT naming the key (`config FILE: KEY: ...`
// or `--flag: ...`) for an unknown key, a value of the wrong type or out of range, and for a missing model;
// NOT_FOUND naming the file when it does not exist.
absl::StatusOr<ServerConfig> LoadServerConfig(const Args& args);

}  // namespace muke::server
