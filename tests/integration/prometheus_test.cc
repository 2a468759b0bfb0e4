// The observability deliverables against real servers: a real muke-server (metrics on a free loopback port) and
// a real Prometheus (Debian's /usr/bin/prometheus) scraping it every second with the repository's alert rules
// loaded. After an edit and some generations, Prometheus' HTTP API shows the edit in muke_edits_total, every
// PromQL expression of deploy/grafana/muke-dashboard.json and deploy/prometheus/alerts.yml evaluates without
// error (the dashboard's per-stage latency panels with data), and Prometheus itself evaluates every alert rule
// without error. Skipped when Prometheus is not installed (scripts/install-deps.sh installs it).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "muke/v1/knowledge_editor.grpc.pb.h"
#include "tests/integration/prometheus_scrape.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace muke::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
const std::string kSource = MUKE_SOURCE_DIR;

// A free TCP port on 127.0.0.1 (bound and released; the kernel does not hand it out again at once).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string UrlEncode(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct HttpResponse {
  int status = 0;  // 0: no connection
  std::string body;
};

// GET http://127.0.0.1:`port``target` (HTTP/1.0: the server closes the connection after the answer).
HttpResponse Get(int port, const std::string& target) {
  HttpResponse response;
  const int probe = Connect(port);
  if (probe < 0) return response;
  close(probe);
  const std::string raw = Exchange(port, "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  const size_t space = raw.find(' ');
  const size_t body = raw.find("\r\n\r\n");
  if (space == std::string::npos || body == std::string::npos) return response;
  response.status = std::atoi(raw.c_str() + space + 1);
  response.body = raw.substr(body + 4);
  return response;
}

// A Prometheus server on 127.0.0.1:<free port> scraping `target` (HOST:PORT) every second as job muke-server,
// with `rule_file` loaded; its TSDB and log in `dir`.
class PrometheusProcess {
 public:
  PrometheusProcess(const std::string& dir, const std::string& target, const std::string& rule_file)
      : port_(FreePort()), log_(dir + "/prometheus.log") {
    const std::string config = dir + "/prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n"
                          << "rule_files:\n  - " << rule_file << "\n"
                          << "scrape_configs:\n  - job_name: muke-server\n    static_configs:\n"
                          << "      - targets: ['" << target << "']\n";
    std::vector<std::string> argv = {kPrometheus,
                                     "--config.file=" + config,
                                     "--storage.tsdb.path=" + dir + "/tsdb",
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                     "--log.level=warn"};
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const int log_fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls here: the test process has threads.
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    close(log_fd);
    EXPECT_GT(pid_, 0) << "fork failed";
  }

  ~PrometheusProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  int port() const { return port_; }
  std::string Log() const {
    std::ifstream in(log_);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
  }

  // Waits up to 30 s for /-/ready.
  bool WaitReady() const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Get(port_, "/-/ready").status == 200) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // GET /api/v1/query?query=...; the parsed answer (null when it is not JSON).
  json Query(const std::string& expr) const {
    const HttpResponse response = Get(port_, "/api/v1/query?query=" + UrlEncode(expr));
    return json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  }

  // The single value of an instant query's vector answer, or NaN when the vector is empty.
  double Value(const std::string& expr) const {
    const json answer = Query(expr);
    if (answer.is_discarded() || answer.value("status", "") != "success" || answer["data"]["result"].empty()) {
      return std::nan("");
    }
    return std::stod(answer["data"]["result"][0]["value"][1].get<std::string>());
  }

 private:
  int port_;
  std::string log_;
  pid_t pid_ = -1;
};

// Polls `condition` every 200 ms for up to `seconds`.
template <typename F>
bool WaitFor(F condition, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return condition();
}

// Every `expr` of the dashboard's panels (rows' nested panels included), with its panel title.
void CollectDashboardExprs(const json& panels, std::vector<std::pair<std::string, std::string>>* out) {
  for (const json& panel : panels) {
    if (panel.contains("targets")) {
      for (const json& target : panel["targets"]) {
        if (target.contains("expr")) out->emplace_back(panel.value("title", "?"), target["expr"].get<std::string>());
      }
    }
    if (panel.contains("panels")) CollectDashboardExprs(panel["panels"], out);
  }
}

// Replaces Grafana's variables the way Grafana would before sending the query: the dashboard's own (custom and
// interval variables by their current value, query variables by "All", i.e. their allValue or .*) and the
// built-in intervals ($__rate_interval and $__interval → 1m, $__range → 1h).
std::string ExpandGrafanaVariables(std::string expr, const json& templating) {
  std::vector<std::pair<std::string, std::string>> values = {
      {"__rate_interval", "1m"}, {"__interval", "1m"}, {"__range", "1h"}, {"__range_s", "3600"}};
  for (const json& variable : templating["list"]) {
    const std::string type = variable.value("type", "");
    std::string value;
    if (type == "custom" || type == "interval" || type == "constant" || type == "textbox") {
      const json& current = variable["current"]["value"];
      value = current.is_array() ? current[0].get<std::string>() : current.get<std::string>();
    } else if (type == "query") {
      value = variable.value("allValue", ".*");
    } else {
      continue;  // the data source
    }
    values.emplace_back(variable["name"].get<std::string>(), value);
  }
  // Longest names first, so $__range does not eat $__range_s.
  std::sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [name, value] : values) {
    for (const std::string& pattern : {"${" + name + "}", "[[" + name + "]]", "$" + name}) {
      for (size_t at; (at = expr.find(pattern)) != std::string::npos;) expr.replace(at, pattern.size(), value);
    }
  }
  return expr;
}

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MUKE_REQUIRE_SHARED();
    if (!fs::exists(kPrometheus)) {
      GTEST_SKIP() << kPrometheus << " not found: install Debian's prometheus package (scripts/install-deps.sh does)";
    }
  }
};

TEST_F(PrometheusTest, ScrapesTheServerAndEvaluatesEveryDashboardAndAlertExpression) {
  const std::string dir = MakeTempDir("prometheus");
  ServerProcess server(ImportedStories260K(),
                       {"--data-dir", dir + "/data", "--statistics-dir", MUKE_TEST_STATISTICS_DIR});
  ASSERT_FALSE(server.address().empty());
  ASSERT_FALSE(server.metrics_address().empty());
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  ASSERT_NO_FATAL_FAILURE(WaitServing(channel));
  auto stub = muke::v1::KnowledgeEditor::NewStub(channel);

  const std::string alerts_file = kSource + "/deploy/prometheus/alerts.yml";
  PrometheusProcess prometheus(dir, server.metrics_address(), alerts_file);
  ASSERT_TRUE(prometheus.WaitReady()) << "Prometheus did not start:\n" << prometheus.Log();
  // Scraped once before the edit, so that rate() over the counters sees them rise.
  ASSERT_TRUE(WaitFor([&] { return prometheus.Value("up{job=\"muke-server\"}") == 1; }, 30))
      << "Prometheus does not scrape " << server.metrics_address() << ":\n"
      << prometheus.Log();

  // An edit, committed.
  muke::v1::EditKnowledgeRequest request;
  request.set_prompt("What is the name of Lily's dog?");
  request.set_target("Lily's dog is called Biscuit. Biscuit is a small brown dog.");
  muke::v1::Edit edit;
  {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(30)));
    const grpc::Status status = stub->EditKnowledge(&context, request, &edit);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext context;
        muke::v1::GetEditRequest get;
        get.set_id(edit.id());
        return stub->GetEdit(&context, get, &edit).ok() && edit.state() != muke::v1::EDIT_STATE_QUEUED &&
               edit.state() != muke::v1::EDIT_STATE_RUNNING && edit.state() != muke::v1::EDIT_STATE_APPLYING &&
               edit.state() != muke::v1::EDIT_STATE_VERIFYING;
      },
      240));
  ASSERT_EQ(edit.state(), muke::v1::EDIT_STATE_COMMITTED) << edit.error();

  // Generations, unary and streamed.
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    muke::v1::GenerateRequest generate;
    generate.set_prompt(i == 0 ? request.prompt() : "Once upon a time");
    generate.set_max_new_tokens(24);
    muke::v1::GenerateResponse response;
    const grpc::Status status = stub->Generate(&context, generate, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  {
    grpc::ClientContext context;
    muke::v1::GenerateRequest generate;
    generate.set_prompt("Once upon a time");
    generate.set_max_new_tokens(24);
    auto reader = stub->GenerateStream(&context, generate);
    for (muke::v1::GenerateStreamResponse chunk; reader->Read(&chunk);) {
    }
    ASSERT_TRUE(reader->Finish().ok());
  }

  // Prometheus has the edit and the generations, in at least two scrapes since.
  ASSERT_TRUE(WaitFor(
      [&] {
        return prometheus.Value("muke_edits_total{job=\"muke-server\", status=\"committed\"}") >= 1 &&
               prometheus.Value("sum(muke_generate_requests_total{code=\"OK\"})") >= 4 &&
               prometheus.Value("count_over_time(muke_generate_requests_total{method=\"generate_stream\", "
                                "code=\"OK\"}[1m])") >= 2;
      },
      30))
      << "Prometheus never saw the edit and the generations:\n"
      << prometheus.Log();
  EXPECT_GE(prometheus.Value("muke_edits_total{status=\"committed\"}"), 1);
  EXPECT_EQ(prometheus.Value("muke_edits_total{status=\"failed\"}"), 0);
  EXPECT_GE(prometheus.Value("muke_journal_bytes"), 1);

  // Every expression of the dashboard evaluates; the per-stage latency panels show each stage the edit went
  // through, with a finite value.
  std::ifstream dashboard_file(kSource + "/deploy/grafana/muke-dashboard.json");
  ASSERT_TRUE(dashboard_file);
  const json dashboard = json::parse(dashboard_file);
  std::vector<std::pair<std::string, std::string>> exprs;
  CollectDashboardExprs(dashboard["panels"], &exprs);
  EXPECT_GE(exprs.size(), 20u);
  int empty = 0, stage_panels = 0;
  for (const auto& [title, raw] : exprs) {
    const std::string expr = ExpandGrafanaVariables(raw, dashboard["templating"]);
    EXPECT_EQ(std::regex_search(expr, std::regex(R"(\$\{?\w|\[\[)")), false)
        << "panel '" << title << "': a Grafana variable the test does not know: " << expr;
    const json answer = prometheus.Query(expr);
    ASSERT_FALSE(answer.is_discarded()) << "panel '" << title << "': no JSON answer to " << expr;
    EXPECT_EQ(answer.value("status", ""), "success")
        << "panel '" << title << "': " << expr << "\n" << answer.dump();
    if (answer.value("status", "") != "success") continue;
    if (answer["data"]["result"].empty()) ++empty;
    if (raw.find("muke_edit_stage_duration_seconds_bucket") != std::string::npos) {
      ++stage_panels;
      std::set<std::string> stages;
      for (const json& series : answer["data"]["result"]) {
        const double value = std::stod(series["value"][1].get<std::string>());
        if (std::isfinite(value)) stages.insert(series["metric"].value("stage", ""));
      }
      for (const char* stage : {"optimise", "update", "verify", "apply"}) {
        EXPECT_TRUE(stages.count(stage)) << "panel '" << title << "' shows no " << stage << " stage: " << answer.dump();
      }
    }
  }
  EXPECT_EQ(stage_panels, 2) << "the dashboard's p50 and p95 per-stage panels";
  std::cout << exprs.size() << " dashboard expressions evaluated, " << empty << " with an empty result\n";

  // Every alert rule's expression evaluates as a query (none fires: the server is healthy) …
  const YAML::Node rules = YAML::LoadFile(alerts_file);
  int alert_count = 0;
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      const std::string expr = rule["expr"].as<std::string>();
      const json answer = prometheus.Query(expr);
      ASSERT_FALSE(answer.is_discarded()) << expr;
      EXPECT_EQ(answer.value("status", ""), "success") << rule["alert"].as<std::string>() << ": " << answer.dump();
      if (rule["alert"]) {
        ++alert_count;
        EXPECT_TRUE(answer["data"]["result"].empty())
            << rule["alert"].as<std::string>() << " would fire on a healthy server: " << answer.dump();
      }
    }
  }
  EXPECT_GE(alert_count, 5);

  // … and Prometheus, which loaded the same file, evaluates every rule without error.
  ASSERT_TRUE(WaitFor(
      [&] {
        const json answer = json::parse(Get(prometheus.port(), "/api/v1/rules").body, nullptr, false);
        if (answer.is_discarded() || answer.value("status", "") != "success") return false;
        int ok = 0;
        for (const json& group : answer["data"]["groups"]) {
          for (const json& rule : group["rules"]) ok += rule.value("health", "") == "ok";
        }
        return ok == alert_count;
      },
      20))
      << Get(prometheus.port(), "/api/v1/rules").body;
}

TEST(GrafanaVariables, ExpandLikeGrafana) {
  const json templating = json::parse(R"({"list": [
      {"name": "datasource", "type": "datasource"},
      {"name": "instance", "type": "query", "allValue": ".*"},
      {"name": "edit_window", "type": "custom", "current": {"value": "6h"}}]})");
  EXPECT_EQ(ExpandGrafanaVariables(
                "rate(x{instance=~\"$instance\"}[$__rate_interval]) + rate(y[${edit_window}]) + z[$__range]",
                templating),
            "rate(x{instance=~\".*\"}[1m]) + rate(y[6h]) + z[1h]");
  EXPECT_EQ(UrlEncode("a{b=\"c d\"}[1m]+%"), "a%7Bb%3D%22c%20d%22%7D%5B1m%5D%2B%25");
}

}  // namespace
}  // namespace muke::testing
