// muke-server's configuration: the documented example file (deploy/config/muke-server.yaml, MUKE_EXAMPLE_CONFIG)
// holds every key at its default, flags override the file, relative paths resolve against the file, and every
// bad file or flag is an error naming its key. Also the startup check of the edit defaults against a model.
#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "client/tool/args.h"
#include "core/util/status.h"
#include "server/edit_request.h"
#include "server/server_config.h"
#include "tests/server_config_expect.h"
#include "tests/test_util.h"

namespace muke::server {
namespace {

using ::muke::testing::MakeTempDir;

absl::StatusOr<ServerConfig> Load(std::vector<std::string> flags) {
  flags.insert(flags.begin(), "muke-server");
  std::vector<char*> argv;
  for (std::string& flag : flags) argv.push_back(flag.data());
  MUKE_ASSIGN_OR_RETURN(Args args, Args::Parse(static_cast<int>(argv.size()), argv.data(), 1, ServerConfigFlags(), {}));
  return LoadServerConfig(args);
}

std::string WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
  return path;
}

// Every key path of a YAML map (sections recursed), as the parser names them.
void CollectKeys(const YAML::Node& map, const std::string& prefix, std::set<std::string>* keys) {
  for (const auto& entry : map) {
    const std::string path = prefix + entry.first.Scalar();
    if (entry.second.IsMap()) {
      CollectKeys(entry.second, path + ".", keys);
    } else {
      keys->insert(path);
    }
  }
}


TEST(ServerConfigTest, ExampleFileLoadsAndHoldsTheDefaults) {
  const absl::StatusOr<ServerConfig> config = Load({"--config", MUKE_EXAMPLE_CONFIG});
  ASSERT_TRUE(config.ok()) << config.status();
  ServerConfig defaults;
  defaults.model = "/models/model";  // the one key without a default
  ExpectSameConfig(*config, defaults);
  // The documented defaults themselves.
  EXPECT_EQ(defaults.listen, "127.0.0.1:50051");
  EXPECT_EQ(defaults.metrics_listen, "127.0.0.1:9090");
  EXPECT_EQ(defaults.generation_limits.max_new_tokens, 1024);
  EXPECT_EQ(defaults.max_queued_edits, 16);
  EXPECT_EQ(defaults.edit_limits.max_prompt_tokens, 256);
  EXPECT_EQ(defaults.edit_limits.max_target_tokens, 1024);
  EXPECT_EQ(defaults.max_message_bytes, 4 * 1024 * 1024);
  EXPECT_EQ(defaults.edit_limits.defaults.strategy, StrategyKind::kMuke);
  EXPECT_EQ(defaults.edit_limits.defaults.update, UpdateKind::kMemit);
  EXPECT_EQ(defaults.model_load.device, torch::Device(torch::kCPU));
}

TEST(ServerConfigTest, ExampleFileHoldsEveryKey) {
  std::set<std::string> in_file;
  CollectKeys(YAML::LoadFile(MUKE_EXAMPLE_CONFIG), "", &in_file);
  const std::vector<std::string> keys = ServerConfigKeys();
  EXPECT_EQ(in_file, std::set<std::string>(keys.begin(), keys.end()));
}

TEST(ServerConfigTest, FlagsOverrideTheFile) {
  const std::string dir = MakeTempDir("config");
  const std::string file = WriteFile(dir + "/muke.yaml",
                                     "model: /m\n"
                                     "listen: 0.0.0.0:1\n"
                                     "threads: 3\n"
                                     "limits:\n"
                                     "  max_queued_edits: 3\n"
                                     "  max_message_bytes: 1000\n"
                                     "edit:\n"
                                     "  strategy: one_for_all\n"
                                     "  update: unke\n"
                                     "  hook_layer: 2\n"
                                     "  layers: [1, 2]\n"
                                     "log_level: info\n");
  const absl::StatusOr<ServerConfig> config =
      Load({"--config", file, "--listen", "127.0.0.1:0", "--max-queued-edits", "5", "--layers", "0,2", "--update",
            "alphaedit", "--dtype", "bfloat16", "--log-level", "error", "--model", "/other"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model, "/other");
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->threads, 3);
  EXPECT_EQ(config->max_queued_edits, 5);
  EXPECT_EQ(config->max_message_bytes, 1000);
  EXPECT_EQ(config->edit_limits.defaults.strategy, StrategyKind::kOneForAll);
  EXPECT_EQ(config->edit_limits.defaults.update, UpdateKind::kAlphaEdit);
  EXPECT_EQ(config->edit_limits.defaults.hook_layer, 2);
  EXPECT_EQ(config->edit_limits.defaults.layers, (std::vector<int>{0, 2}));
  EXPECT_EQ(config->model_load.dtype, torch::kBFloat16);
  EXPECT_EQ(config->log_level, LogLevel::kError);
}

TEST(ServerConfigTest, RelativePathsResolveAgainstTheFilesDirectory) {
  const std::string dir = MakeTempDir("config");
  const std::string file = WriteFile(dir + "/muke.yaml",
                                     "model: models/tiny\n"
                                     "data_dir: ../data\n"
                                     "export_dir: /srv/exports\n"
                                     "tls:\n"
                                     "  cert_file: certs/server.pem\n"
                                     "  key_file: certs/server.key\n"
                                     "auth_token_file: token\n");
  absl::StatusOr<ServerConfig> config = Load({"--config", file});
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string parent = std::filesystem::path(dir).parent_path().string();
  EXPECT_EQ(config->model, dir + "/models/tiny");
  EXPECT_EQ(config->data_dir, parent + "/data");
  EXPECT_EQ(config->journal_dir, parent + "/data/journal");
  EXPECT_EQ(config->statistics_dir, parent + "/data/statistics");
  EXPECT_EQ(config->export_dir, "/srv/exports");  // absolute, and explicit: not under data_dir
  EXPECT_EQ(config->tls_cert_file, dir + "/certs/server.pem");
  EXPECT_EQ(config->tls_key_file, dir + "/certs/server.key");
  EXPECT_EQ(config->auth_token_file, dir + "/token");

  // Flags are taken as given (relative to the working directory).
  config = Load({"--config", file, "--data-dir", "state", "--auth-token-file", "secret"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data_dir, "state");
  EXPECT_EQ(config->journal_dir, "state/journal");
  EXPECT_EQ(config->auth_token_file, "secret");
}

TEST(ServerConfigTest, NothingIsPersistedWithoutADataDir) {
  const absl::StatusOr<ServerConfig> config = Load({"--model", "/m", "--journal-dir", "/j"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->journal_dir, "/j");
  EXPECT_EQ(config->export_dir, "");
  EXPECT_EQ(config->statistics_dir, "");
}

TEST(ServerConfigTest, AMissingFileIsNamed) {
  const absl::StatusOr<ServerConfig> config = Load({"--config", "/nonexistent/muke.yaml"});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::IsNotFound(config.status())) << config.status();
  EXPECT_NE(config.status().message().find("config /nonexistent/muke.yaml"), std::string::npos) << config.status();
}

struct BadFile {
  std::string yaml;
  std::string error;  // after `config FILE: `
};

TEST(ServerConfigTest, EveryBadFileNamesItsKey) {
  const std::vector<BadFile> cases = {
      {"limits:\n  max_queued_edits: 0\n", "limits.max_queued_edits: must be >= 1, got 0"},
      {"limits:\n  max_queue: 3\n", "limits.max_queue: unknown key"},
      {"modle: /m\n", "modle: unknown key"},
      {"threads: many\n", "threads: must be an integer, got 'many'"},
      {"threads: 1.5\n", "threads: must be an integer, got '1.5'"},
      {"listen: [a, b]\n", "listen: must be a single value, got a list"},
      {"listen: nohost\n", "listen: must be HOST:PORT, got 'nohost'"},
      {"limits: 5\n", "limits: must be a map of keys"},
      {"limits:\n  max_message_bytes: 99999999999\n", "limits.max_message_bytes: must be <= 2147483647"},
      {"limits:\n  max_prompt_tokens: {a: 1}\n", "limits.max_prompt_tokens: must be a single value, got a map"},
      {"dtype: float8\n", "dtype: dtype 'float8' is not one of float32, bfloat16, float16"},
      {"device: tpu\n", "device: must be cpu, cuda or cuda:N, got 'tpu'"},
      {"device: mps\n", "device: must be cpu, cuda or cuda:N, got 'mps'"},
      {"log_level: loud\n", "log_level: must be debug, info, warn or error, got 'loud'"},
      {"edit:\n  strategy: rome\n", "edit.strategy: unknown strategy 'rome'"},
      {"edit:\n  update: rome\n", "edit.update: update must be memit, alphaedit or unke, got 'rome'"},
      {"edit:\n  hook_layer: -1\n", "edit.hook_layer: must be >= 0, got -1"},
      {"edit:\n  layers: 3\n", "edit.layers: must be a list"},
      {"edit:\n  layers: [4, 3]\n", "edit.layers: must be strictly ascending"},
      {"edit:\n  layers: [[1]]\n", "edit.layers: must be a list of numbers"},
      {"tls:\n  key_file: k.pem\n", "tls.cert_file: required when tls.key_file"},
  };
  const std::string dir = MakeTempDir("config");
  for (const BadFile& c : cases) {
    const std::string file = WriteFile(dir + "/bad.yaml", "model: /m\n" + c.yaml);
    const absl::StatusOr<ServerConfig> config = Load({"--config", file});
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_TRUE(absl::IsInvalidArgument(config.status())) << config.status();
    const std::string message(config.status().message());
    // Cross-key checks name the key alone; the rest also name the file.
    const bool cross_key = c.error.rfind("tls.", 0) == 0;
    EXPECT_NE(message.find(cross_key ? c.error : "config " + file + ": " + c.error), std::string::npos)
        << "yaml:\n" << c.yaml << "got: " << message;
  }
}

TEST(ServerConfigTest, MalformedYamlAndTheWrongShapeAreErrors) {
  const std::string dir = MakeTempDir("config");
  std::string file = WriteFile(dir + "/broken.yaml", "model: [unclosed\n");
  absl::StatusOr<ServerConfig> config = Load({"--config", file});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("config " + file + ": line "), std::string::npos) << config.status();

  file = WriteFile(dir + "/list.yaml", "- model\n");
  config = Load({"--config", file});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("must be a map of keys"), std::string::npos) << config.status();
}

struct BadFlags {
  std::vector<std::string> flags;
  std::string error;
};

TEST(ServerConfigTest, EveryBadFlagIsNamed) {
  const std::vector<BadFlags> cases = {
      {{"--model", "/m", "--max-queued-edits", "0"}, "--max-queued-edits: must be >= 1, got 0"},
      {{"--model", "/m", "--max-new-tokens-limit", "x"}, "--max-new-tokens-limit: must be an integer, got 'x'"},
      {{"--model", "/m", "--layers", "1,x"}, "--layers: must be an integer, got 'x'"},
      {{"--model", "/m", "--hook-layer", ""}, "--hook-layer: must be an integer, got ''"},
      {{"--model", "/m", "--strategy", "rome"}, "--strategy: unknown strategy 'rome'"},
      {{"--model", "/m", "--tls-cert", "c.pem"}, "tls.key_file: required when tls.cert_file (--tls-cert) is set"},
      {{"--model", "/m", "extra"}, "unexpected argument 'extra'"},
      {{"--device", "cpu"}, "model: required"},
  };
  for (const BadFlags& c : cases) {
    const absl::StatusOr<ServerConfig> config = Load(c.flags);
    ASSERT_FALSE(config.ok()) << c.error;
    EXPECT_TRUE(absl::IsInvalidArgument(config.status())) << config.status();
    EXPECT_NE(config.status().message().find(c.error), std::string::npos) << config.status();
  }
}

TEST(ServerConfigTest, EditDefaultsAreCheckedAgainstTheModel) {
  const ModelConfig model = ::muke::testing::TinyLlama3Config();  // 3 layers
  EditDefaults defaults;
  EXPECT_TRUE(CheckEditDefaults(defaults, model).ok());
  defaults.hook_layer = 1;
  defaults.layers = {0, 1};
  EXPECT_TRUE(CheckEditDefaults(defaults, model).ok());

  defaults.hook_layer = 3;
  absl::Status status = CheckEditDefaults(defaults, model);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(status.message(), "edit.hook_layer: must be in [0, 3), got 3");

  defaults.hook_layer = 0;  // below the configured layers
  status = CheckEditDefaults(defaults, model);
  EXPECT_EQ(status.message(), "edit.layers: [0, 1] must be strictly ascending within [0, hook_layer 0]");

  defaults.layers.clear();  // the model's default layers for memit, [1, 2], lie above hook layer 0
  status = CheckEditDefaults(defaults, model);
  EXPECT_EQ(status.message(), "edit.layers: unset, and the model's default [1, 2] is not within [0, hook_layer 0]: "
                              "set edit.layers too");

  defaults.hook_layer.reset();  // the model's own hook layer (2), and layers past it
  defaults.layers = {1, 3};
  status = CheckEditDefaults(defaults, model);
  EXPECT_EQ(status.message(), "edit.layers: [1, 3] must be strictly ascending within [0, hook_layer 2]");
}

}  // namespace
}  // namespace muke::server
