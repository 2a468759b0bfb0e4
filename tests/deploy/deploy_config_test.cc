// The deployment's configuration agrees with the server and with itself: the container images' and the
// Kubernetes ConfigMap's muke-server.yaml load with the server's own config reader (LoadServerConfig) and
// listen on every interface at the ports the images EXPOSE and the pod declares; the GPU variants differ from
// the CPU ones only in device and dtype; every path of the Kubernetes config lies on the volume meant for it
// (model on the models claim, read-only; journal on the data claim; TLS and token from their Secrets); the
// Service, ServiceMonitor and probes point at the right ports; the operator's PrometheusRule carries exactly
// the rules of deploy/prometheus/alerts.yml.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <yaml-cpp/yaml.h>

#include "client/tool/args.h"
#include "core/util/status.h"
#include "server/server_config.h"
#include "tests/server_config_expect.h"
#include "tests/test_util.h"

namespace muke::server {
namespace {

namespace fs = std::filesystem;

const std::string kSource = MUKE_SOURCE_DIR;

absl::StatusOr<ServerConfig> LoadConfig(const std::string& path, bool absolute = false) {
  std::vector<std::string> flags = {"muke-server", "--config", absolute ? path : kSource + "/" + path};
  std::vector<char*> argv;
  for (std::string& flag : flags) argv.push_back(flag.data());
  MUKE_ASSIGN_OR_RETURN(Args args, Args::Parse(static_cast<int>(argv.size()), argv.data(), 1, ServerConfigFlags(), {}));
  return LoadServerConfig(args);
}

ServerConfig MustLoad(const std::string& relative) {
  const absl::StatusOr<ServerConfig> config = LoadConfig(relative);
  EXPECT_TRUE(config.ok()) << relative << ": " << config.status();
  return config.ok() ? *config : ServerConfig{};
}

// A GPU config: its device must be cuda and its dtype bfloat16. The config reader rejects `device: cuda` in a
// build without CUDA, so there the rest is read from a copy without the device key (the paths are absolute).
ServerConfig MustLoadGpu(const std::string& relative) {
  const YAML::Node file = YAML::LoadFile(kSource + "/" + relative);
  EXPECT_EQ(file["device"].as<std::string>(""), "cuda") << relative;
  EXPECT_EQ(file["dtype"].as<std::string>(""), "bfloat16") << relative;
  if (torch::cuda::is_available()) return MustLoad(relative);
  YAML::Node copy = YAML::Clone(file);
  copy.remove("device");
  const std::string dir = ::muke::testing::MakeTempDir("gpu-config");
  std::ofstream(dir + "/muke-server.yaml") << YAML::Dump(copy) << "\n";
  const absl::StatusOr<ServerConfig> config = LoadConfig(dir + "/muke-server.yaml", /*absolute=*/true);
  EXPECT_TRUE(config.ok()) << relative << " (without its device): " << config.status();
  return config.ok() ? *config : ServerConfig{};
}

int Port(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

void ExpectListensEverywhere(const ServerConfig& c) {
  EXPECT_EQ(c.listen, "0.0.0.0:50051");
  EXPECT_EQ(c.metrics_listen, "0.0.0.0:9090");
}

// Equal in every field but the device and dtype.
void ExpectSameButDevice(const ServerConfig& a, ServerConfig b) {
  b.model_load.device = a.model_load.device;
  b.model_load.dtype = a.model_load.dtype;
  ExpectSameConfig(a, b);
}

TEST(ContainerConfig, ImagesConfigsLoadAndListenOnTheExposedPorts) {
  const ServerConfig cpu = MustLoad("docker/muke-server.yaml");
  ExpectListensEverywhere(cpu);
  // The image's volumes: /models (the model), /data (journal, statistics), /exports.
  EXPECT_EQ(cpu.model, "/models/model");
  EXPECT_EQ(cpu.model_load.device, torch::Device(torch::kCPU));
  EXPECT_EQ(cpu.data_dir, "/data");
  EXPECT_EQ(cpu.journal_dir, "/data/journal");
  EXPECT_EQ(cpu.statistics_dir, "/data/statistics");
  EXPECT_EQ(cpu.export_dir, "/exports");

  const ServerConfig cuda = MustLoadGpu("docker/muke-server-cuda.yaml");
  ASSERT_TRUE(cuda.model_load.dtype.has_value());
  EXPECT_EQ(*cuda.model_load.dtype, torch::kBFloat16);
  ExpectSameButDevice(cpu, cuda);
}

// A YAML sequence of maps as {item[key] → item}.
std::map<std::string, YAML::Node> ByName(const YAML::Node& sequence, const std::string& key = "name") {
  std::map<std::string, YAML::Node> out;
  for (const YAML::Node& item : sequence) out.emplace(item[key].as<std::string>(), item);
  return out;
}

YAML::Node Load(const std::string& relative) { return YAML::LoadFile(kSource + "/" + relative); }

struct K8s {
  YAML::Node deployment = Load("deploy/k8s/base/deployment.yaml");
  YAML::Node service = Load("deploy/k8s/base/service.yaml");
  YAML::Node monitor = Load("deploy/k8s/base/servicemonitor.yaml");
  YAML::Node pod = deployment["spec"]["template"]["spec"];
  YAML::Node container = ByName(pod["containers"])["muke-server"];
  std::map<std::string, YAML::Node> volumes = ByName(pod["volumes"]);
  std::map<std::string, YAML::Node> mounts = ByName(container["volumeMounts"]);

  // The volume mount holding `path` (the longest mountPath that is a prefix of it), or null.
  YAML::Node MountOf(const std::string& path) const {
    YAML::Node best;
    size_t best_length = 0;
    for (const auto& [name, mount] : mounts) {
      const std::string dir = mount["mountPath"].as<std::string>();
      if ((path == dir || path.rfind(dir + "/", 0) == 0) && dir.size() > best_length) {
        best = mount;
        best_length = dir.size();
      }
    }
    return best;
  }
  // The volume behind `path`: its kind (persistentVolumeClaim, secret, configMap, emptyDir) and name.
  std::pair<std::string, std::string> VolumeOf(const std::string& path) const {
    const YAML::Node mount = MountOf(path);
    if (!mount) return {"", ""};
    const YAML::Node volume = volumes.at(mount["name"].as<std::string>());
    for (const char* kind : {"persistentVolumeClaim", "secret", "configMap", "emptyDir"}) {
      if (!volume[kind]) continue;
      const YAML::Node v = volume[kind];
      const char* name_key = std::string(kind) == "persistentVolumeClaim" ? "claimName"
                             : std::string(kind) == "secret"              ? "secretName"
                                                                          : "name";
      return {kind, v[name_key] ? v[name_key].as<std::string>() : ""};
    }
    return {"?", ""};
  }
  bool ReadOnly(const std::string& path) const {
    const YAML::Node mount = MountOf(path);
    return mount && mount["readOnly"] && mount["readOnly"].as<bool>();
  }
};

TEST(KubernetesConfig, ConfigMapConfigLoadsAndItsPathsLieOnTheirVolumes) {
  const ServerConfig config = MustLoad("deploy/k8s/base/muke-server.yaml");
  ExpectListensEverywhere(config);
  const K8s k8s;

  // The config file itself comes from the generated ConfigMap muke-config.
  const std::vector<std::string> args = k8s.container["args"].as<std::vector<std::string>>();
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], "--config");
  EXPECT_EQ(k8s.VolumeOf(args[1]), (std::pair<std::string, std::string>{"configMap", "muke-config"}));
  EXPECT_EQ(fs::path(args[1]).filename(), "muke-server.yaml") << "the configMapGenerator's key is the file name";

  using Volume = std::pair<std::string, std::string>;
  EXPECT_EQ(k8s.VolumeOf(config.model), (Volume{"persistentVolumeClaim", "muke-models"}));
  EXPECT_TRUE(k8s.ReadOnly(config.model));
  for (const std::string& dir : {config.journal_dir, config.export_dir, config.statistics_dir}) {
    EXPECT_EQ(k8s.VolumeOf(dir), (Volume{"persistentVolumeClaim", "muke-data"})) << dir;
    EXPECT_FALSE(k8s.ReadOnly(dir)) << dir;
  }
  EXPECT_EQ(k8s.VolumeOf(config.tls_cert_file), (Volume{"secret", "muke-tls"}));
  EXPECT_EQ(k8s.VolumeOf(config.tls_key_file), (Volume{"secret", "muke-tls"}));
  EXPECT_EQ(k8s.VolumeOf(config.auth_token_file), (Volume{"secret", "muke-auth"}));
  // The in-pod client (the probes) trusts the CA of the same Secret.
  const auto env = ByName(k8s.container["env"]);
  EXPECT_EQ(k8s.VolumeOf(env.at("MUKE_TLS_CA")["value"].as<std::string>()), (Volume{"secret", "muke-tls"}));
  EXPECT_EQ(Port(env.at("MUKE_SERVER")["value"].as<std::string>()), Port(config.listen));

  // Both claims exist.
  std::set<std::string> claims;
  for (const YAML::Node& doc : YAML::LoadAllFromFile(kSource + "/deploy/k8s/base/pvc.yaml")) {
    EXPECT_EQ(doc["kind"].as<std::string>(), "PersistentVolumeClaim");
    claims.insert(doc["metadata"]["name"].as<std::string>());
  }
  EXPECT_EQ(claims, (std::set<std::string>{"muke-models", "muke-data"}));

  // The GPU overlay's config: the same but for the device and dtype.
  const ServerConfig gpu = MustLoadGpu("deploy/k8s/overlays/gpu/muke-server.yaml");
  ASSERT_TRUE(gpu.model_load.dtype.has_value());
  EXPECT_EQ(*gpu.model_load.dtype, torch::kBFloat16);
  ExpectSameButDevice(config, gpu);
}

TEST(KubernetesConfig, OneEditorWithProbesAndPortsThatMatchTheServer) {
  const ServerConfig config = MustLoad("deploy/k8s/base/muke-server.yaml");
  const K8s k8s;
  const YAML::Node spec = k8s.deployment["spec"];
  EXPECT_EQ(spec["replicas"].as<int>(), 1) << "one editor owns the journal";
  EXPECT_EQ(spec["strategy"]["type"].as<std::string>(), "Recreate");
  EXPECT_GE(k8s.pod["terminationGracePeriodSeconds"].as<int>(), 300);
  EXPECT_EQ(k8s.pod["securityContext"]["runAsUser"].as<int>(), 10001) << "docker/Dockerfile's USER";
  EXPECT_TRUE(k8s.pod["securityContext"]["runAsNonRoot"].as<bool>());

  const auto ports = ByName(k8s.container["ports"]);
  EXPECT_EQ(ports.at("grpc")["containerPort"].as<int>(), Port(config.listen));
  EXPECT_EQ(ports.at("metrics")["containerPort"].as<int>(), Port(config.metrics_listen));

  for (const char* probe : {"startupProbe", "readinessProbe", "livenessProbe"}) {
    const auto command = k8s.container[probe]["exec"]["command"].as<std::vector<std::string>>();
    ASSERT_FALSE(command.empty()) << probe;
    EXPECT_EQ(command.front(), "muke") << probe;
    EXPECT_EQ(command.back(), "health") << probe;
    EXPECT_LT(k8s.container[probe]["timeoutSeconds"].as<int>(), k8s.container[probe]["periodSeconds"].as<int>() + 1);
  }
  const YAML::Node startup = k8s.container["startupProbe"];
  EXPECT_GE(startup["periodSeconds"].as<int>() * startup["failureThreshold"].as<int>(), 600)
      << "at least 10 min for the model load and the journal replay";

  // The Service selects the pod and forwards to its named ports; the ServiceMonitor scrapes the metrics port.
  const YAML::Node pod_labels = k8s.deployment["spec"]["template"]["metadata"]["labels"];
  for (const auto& selector : k8s.service["spec"]["selector"]) {
    EXPECT_EQ(pod_labels[selector.first.as<std::string>()].as<std::string>(), selector.second.as<std::string>());
  }
  const auto service_ports = ByName(k8s.service["spec"]["ports"]);
  EXPECT_EQ(service_ports.at("grpc")["targetPort"].as<std::string>(), "grpc");
  EXPECT_EQ(service_ports.at("metrics")["targetPort"].as<std::string>(), "metrics");
  const YAML::Node service_labels = k8s.service["metadata"]["labels"];
  for (const auto& selector : k8s.monitor["spec"]["selector"]["matchLabels"]) {
    EXPECT_EQ(service_labels[selector.first.as<std::string>()].as<std::string>(), selector.second.as<std::string>());
  }
  const YAML::Node endpoint = k8s.monitor["spec"]["endpoints"][0];
  EXPECT_EQ(endpoint["port"].as<std::string>(), "metrics");
  EXPECT_EQ(endpoint["path"].as<std::string>(), "/metrics");
}

// Structural equality of two YAML trees (scalars compared as text).
bool Same(const YAML::Node& a, const YAML::Node& b, const std::string& where, std::string* diff) {
  if (a.Type() != b.Type()) {
    *diff = where + ": different kinds of node";
    return false;
  }
  switch (a.Type()) {
    case YAML::NodeType::Scalar:
      if (a.Scalar() != b.Scalar()) *diff = where + ": '" + a.Scalar() + "' vs '" + b.Scalar() + "'";
      return a.Scalar() == b.Scalar();
    case YAML::NodeType::Sequence:
      if (a.size() != b.size()) {
        *diff = where + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " items";
        return false;
      }
      for (size_t i = 0; i < a.size(); ++i) {
        if (!Same(a[i], b[i], where + "[" + std::to_string(i) + "]", diff)) return false;
      }
      return true;
    case YAML::NodeType::Map:
      if (a.size() != b.size()) {
        *diff = where + ": different keys";
        return false;
      }
      for (const auto& entry : a) {
        const std::string key = entry.first.Scalar();
        if (!b[key]) {
          *diff = where + "." + key + ": missing";
          return false;
        }
        if (!Same(entry.second, b[key], where + "." + key, diff)) return false;
      }
      return true;
    default:
      return true;
  }
}

TEST(KubernetesConfig, PrometheusRuleCarriesTheAlertRules) {
  const YAML::Node rules = Load("deploy/prometheus/alerts.yml");
  const YAML::Node rule = Load("deploy/k8s/base/prometheusrule.yaml");
  EXPECT_EQ(rule["kind"].as<std::string>(), "PrometheusRule");
  std::string diff;
  EXPECT_TRUE(Same(rules["groups"], rule["spec"]["groups"], "groups", &diff))
      << "deploy/k8s/base/prometheusrule.yaml differs from deploy/prometheus/alerts.yml at " << diff;
  EXPECT_GE(rules["groups"][0]["rules"].size(), 5u);
}

}  // namespace
}  // namespace muke::server
