#include "server/server_config.h"

#include <filesystem>
#include <limits>
#include <utility>

#include <torch/cuda.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/util/file_io.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

constexpr int64_t kIntMax = std::numeric_limits<int>::max();

// How a key's text is read: as is, as a path (resolved against the config file's directory), or as a list
// (a YAML sequence, or a comma-separated flag value).
enum class ValueKind { kText, kPath, kList };

// One setting: its dotted key in the file, its flag, and how a value is checked and stored. `set` gets the
// flag's text, or the file's scalar (paths already resolved; a sequence joined with commas).
struct Key {
  const char* path;
  const char* flag;
  ValueKind kind;
  absl::Status (*set)(const std::string& value, ServerConfig* config);
};

absl::Status Invalid(const std::string& problem) { return absl::InvalidArgumentError(problem); }

absl::StatusOr<int64_t> ParseInt(const std::string& value, int64_t low, int64_t high) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) return Invalid(absl::StrCat("must be an integer, got '", value, "'"));
  if (v < low) return Invalid(absl::StrCat("must be >= ", low, ", got ", v));
  if (v > high) return Invalid(absl::StrCat("must be <= ", high, ", got ", v));
  return v;
}

template <typename T>
absl::Status SetInt(const std::string& value, int64_t low, int64_t high, T* out) {
  MUKE_ASSIGN_OR_RETURN(int64_t v, ParseInt(value, low, high));
  *out = static_cast<T>(v);
  return absl::OkStatus();
}

template <std::string ServerConfig::*field>
absl::Status Store(const std::string& value, ServerConfig* config) {
  config->*field = value;
  return absl::OkStatus();
}

absl::Status SetPositive(const std::string& value, int64_t* out) { return SetInt(value, 1, kIntMax, out); }

absl::Status SetAddress(const std::string& value, bool may_be_empty, std::string* out) {
  if (!(value.empty() && may_be_empty) && value.rfind(':') == std::string::npos) {
    return Invalid(absl::StrCat("must be HOST:PORT, got '", value, "'"));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status SetDevice(const std::string& value, ServerConfig* c) {
  absl::StatusOr<torch::Device> device =
      CatchExceptions("device", [&]() -> absl::StatusOr<torch::Device> { return torch::Device(value); });
  if (!device.ok() || !(device->is_cpu() || device->is_cuda())) {
    return Invalid(absl::StrCat("must be cpu, cuda or cuda:N, got '", value, "'"));
  }
  c->model_load.device = *device;
  if (device->is_cuda() && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat("'", value, "': CUDA is not available in this build"));
  }
  return absl::OkStatus();
}

absl::Status SetDtype(const std::string& value, ServerConfig* c) {
  if (value.empty()) {
    c->model_load.dtype.reset();
    return absl::OkStatus();
  }
  MUKE_ASSIGN_OR_RETURN(c->model_load.dtype, ParseDtypeName(value));
  return absl::OkStatus();
}

absl::Status SetLogLevelName(const std::string& value, ServerConfig* c) {
  if (value.empty()) {
    c->log_level.reset();
    return absl::OkStatus();
  }
  LogLevel level;
  if (!ParseLogLevel(value, &level)) {
    return Invalid(absl::StrCat("must be debug, info, warn or error, got '", value, "'"));
  }
  c->log_level = level;
  return absl::OkStatus();
}

absl::Status SetStrategy(const std::string& value, ServerConfig* c) {
  MUKE_ASSIGN_OR_RETURN(c->edit_limits.defaults.strategy, ParseStrategy(value));
  return absl::OkStatus();
}

absl::Status SetUpdate(const std::string& value, ServerConfig* c) {
  MUKE_ASSIGN_OR_RETURN(c->edit_limits.defaults.update, ParseUpdate(value));
  return absl::OkStatus();
}

absl::Status SetHookLayer(const std::string& value, ServerConfig* c) {
  MUKE_ASSIGN_OR_RETURN(int64_t layer, ParseInt(value, 0, kIntMax));
  c->edit_limits.defaults.hook_layer = static_cast<int>(layer);
  return absl::OkStatus();
}

// Layers, strictly ascending (the model's depth is checked once it is loaded); empty = the engine's choice.
absl::Status SetLayers(const std::string& value, ServerConfig* c) {
  std::vector<int> layers;
  if (!value.empty()) {
    const std::vector<std::string> parts = absl::StrSplit(value, ',');
    for (const std::string& part : parts) {
      MUKE_ASSIGN_OR_RETURN(int64_t layer, ParseInt(part, 0, kIntMax));
      if (!layers.empty() && layer <= layers.back()) {
        return Invalid(absl::StrCat("must be strictly ascending, got [", value, "]"));
      }
      layers.push_back(static_cast<int>(layer));
    }
  }
  c->edit_limits.defaults.layers = std::move(layers);
  return absl::OkStatus();
}

// In the file's order (deploy/config/muke-server.yaml follows it).
const Key kKeys[] = {
    {"model", "model", ValueKind::kPath, Store<&ServerConfig::model>},
    {"device", "device", ValueKind::kText, SetDevice},
    {"dtype", "dtype", ValueKind::kText, SetDtype},
    {"threads", "threads", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetInt(v, 0, kIntMax, &c->threads); }},
    {"listen", "listen", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetAddress(v, false, &c->listen); }},
    {"metrics_listen", "metrics-listen", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetAddress(v, true, &c->metrics_listen); }},
    {"data_dir", "data-dir", ValueKind::kPath, Store<&ServerConfig::data_dir>},
    {"journal_dir", "journal-dir", ValueKind::kPath, Store<&ServerConfig::journal_dir>},
    {"export_dir", "export-dir", ValueKind::kPath, Store<&ServerConfig::export_dir>},
    {"statistics_dir", "statistics-dir", ValueKind::kPath, Store<&ServerConfig::statistics_dir>},
    {"limits.max_new_tokens", "max-new-tokens-limit", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetPositive(v, &c->generation_limits.max_new_tokens); }},
    {"limits.max_queued_edits", "max-queued-edits", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetPositive(v, &c->max_queued_edits); }},
    {"limits.max_prompt_tokens", "max-prompt-tokens", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetPositive(v, &c->edit_limits.max_prompt_tokens); }},
    {"limits.max_target_tokens", "max-target-tokens", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetPositive(v, &c->edit_limits.max_target_tokens); }},
    {"limits.max_message_bytes", "max-message-bytes", ValueKind::kText,
     [](const std::string& v, ServerConfig* c) { return SetPositive(v, &c->max_message_bytes); }},
    {"tls.cert_file", "tls-cert", ValueKind::kPath, Store<&ServerConfig::tls_cert_file>},
    {"tls.key_file", "tls-key", ValueKind::kPath, Store<&ServerConfig::tls_key_file>},
    {"auth_token_file", "auth-token-file", ValueKind::kPath, Store<&ServerConfig::auth_token_file>},
    {"log_level", "log-level", ValueKind::kText, SetLogLevelName},
    {"edit.strategy", "strategy", ValueKind::kText, SetStrategy},
    {"edit.update", "update", ValueKind::kText, SetUpdate},
    {"edit.hook_layer", "hook-layer", ValueKind::kText, SetHookLayer},
    {"edit.layers", "layers", ValueKind::kList, SetLayers},
};

const Key* FindKey(const std::string& path) {
  for (const Key& key : kKeys) {
    if (path == key.path) return &key;
  }
  return nullptr;
}

bool IsSection(const std::string& path) {
  for (const Key& key : kKeys) {
    if (std::string(key.path).rfind(path + ".", 0) == 0) return true;
  }
  return false;
}

// Reads a YAML file into a config, key by key; every error is `config FILE: KEY: problem`.
class FileReader {
 public:
  explicit FileReader(std::string file) : file_(std::move(file)), dir_(std::filesystem::path(file_).parent_path()) {}

  absl::Status Read(ServerConfig* config) {
    absl::StatusOr<std::string> text = ReadFileBytes(file_);
    if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat("config ", text.status().message()));
    YAML::Node root;
    try {
      root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      return Invalid(absl::StrCat("config ", file_, ": line ", e.mark.line + 1, ", column ", e.mark.column + 1,
                                  ": ", e.msg));
    }
    if (root.IsNull()) return absl::OkStatus();
    if (!root.IsMap()) return Invalid(absl::StrCat("config ", file_, ": must be a map of keys"));
    return ReadMap(root, "", config);
  }

 private:
  absl::Status Error(const std::string& path, const std::string& problem) const {
    return absl::InvalidArgumentError(absl::StrCat("config ", file_, ": ", path, ": ", problem));
  }

  absl::Status ReadMap(const YAML::Node& map, const std::string& prefix, ServerConfig* config) {
    for (const auto& entry : map) {
      if (!entry.first.IsScalar()) return Error(prefix.empty() ? "(top level)" : prefix, "keys must be plain names");
      const std::string path = prefix + entry.first.Scalar();
      const YAML::Node& value = entry.second;
      if (IsSection(path)) {
        if (value.IsNull()) continue;
        if (!value.IsMap()) return Error(path, "must be a map of keys");
        MUKE_RETURN_IF_ERROR(ReadMap(value, path + ".", config));
        continue;
      }
      const Key* key = FindKey(path);
      if (!key) return Error(path, "unknown key");
      if (value.IsNull()) continue;  // null (or nothing after the colon) keeps the default
      absl::StatusOr<std::string> text = Text(*key, value);
      if (!text.ok()) return Error(path, std::string(text.status().message()));
      const absl::Status status = key->set(*text, config);
      if (!status.ok()) return Error(path, std::string(status.message()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Text(const Key& key, const YAML::Node& value) const {
    if (key.kind == ValueKind::kList) {
      if (!value.IsSequence()) return Invalid("must be a list, e.g. [3, 4]");
      std::vector<std::string> items;
      for (const YAML::Node& item : value) {
        if (!item.IsScalar()) return Invalid("must be a list of numbers");
        items.push_back(item.Scalar());
      }
      return absl::StrJoin(items, ",");
    }
    if (!value.IsScalar()) {
      return Invalid(absl::StrCat("must be a single value, got a ", value.IsMap() ? "map" : "list"));
    }
    if (key.kind == ValueKind::kPath && !value.Scalar().empty()) {
      return (dir_ / value.Scalar()).lexically_normal().string();  // an absolute value replaces dir_
    }
    return value.Scalar();
  }

  const std::string file_;
  const std::filesystem::path dir_;
};

absl::Status ApplyFlags(const Args& args, ServerConfig* config) {
  if (!args.positional().empty()) return Invalid(absl::StrCat("unexpected argument '", args.positional()[0], "'"));
  for (const Key& key : kKeys) {
    if (!args.Has(key.flag)) continue;
    const absl::Status status = key.set(args.Get(key.flag), config);
    if (!status.ok()) return absl::Status(status.code(), absl::StrCat("--", key.flag, ": ", status.message()));
  }
  return absl::OkStatus();
}

// `dir`, or data_dir/`name` when it is empty and data_dir is set.
void DefaultUnderDataDir(const std::string& data_dir, const char* name, std::string* dir) {
  if (dir->empty() && !data_dir.empty()) *dir = (std::filesystem::path(data_dir) / name).string();
}

}  // namespace

std::set<std::string> ServerConfigFlags() {
  std::set<std::string> flags = {"config"};
  for (const Key& key : kKeys) flags.insert(key.flag);
  return flags;
}

std::vector<std::string> ServerConfigKeys() {
  std::vector<std::string> paths;
  for (const Key& key : kKeys) paths.push_back(key.path);
  return paths;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const Args& args) {
  ServerConfig config;
  if (args.Has("config")) MUKE_RETURN_IF_ERROR(FileReader(args.Get("config")).Read(&config));
  MUKE_RETURN_IF_ERROR(ApplyFlags(args, &config));
  if (config.model.empty()) return Invalid("model: required (in the config file, or --model DIR)");
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return Invalid(config.tls_cert_file.empty() ? "tls.cert_file: required when tls.key_file (--tls-key) is set"
                                                : "tls.key_file: required when tls.cert_file (--tls-cert) is set");
  }
  DefaultUnderDataDir(config.data_dir, "journal", &config.journal_dir);
  DefaultUnderDataDir(config.data_dir, "exports", &config.export_dir);
  DefaultUnderDataDir(config.data_dir, "statistics", &config.statistics_dir);
  return config;
}

}  // namespace muke::server
