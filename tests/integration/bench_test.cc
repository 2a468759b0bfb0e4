// `muke bench` end to end: the real client binary measuring the real muke-server (stories260K on a loopback
// port) with two generating clients while one edit runs, checked through its --json report.
#include <cstdio>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace muke::testing {
namespace {

using nlohmann::json;

TEST(BenchTest, TwoClientsAndOneEditGiveAConsistentReport) {
  MUKE_REQUIRE_SHARED();
  ServerProcess server(ImportedStories260K(), {"--statistics-dir", MUKE_TEST_STATISTICS_DIR});
  ASSERT_FALSE(server.address().empty());
  WaitServing(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));

  const CommandResult run = RunClient(
      {"--server", server.address(), "bench", "--clients", "2", "--duration", "2", "--edits", "1", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const json report = json::parse(run.out);
  std::printf("muke bench --clients 2 --duration 2 --edits 1: %s\n", report.dump().c_str());

  EXPECT_EQ(report["clients"], 2);
  EXPECT_GE(report["duration_seconds"].get<double>(), 2.0);
  const json& generate = report["generate"];
  EXPECT_GT(generate["requests"].get<int>(), 0);
  EXPECT_EQ(generate["failed"], 0);
  EXPECT_TRUE(generate["errors"].empty()) << generate["errors"];
  EXPECT_GT(generate["requests_per_second"].get<double>(), 0);
  EXPECT_GT(generate["tokens_per_second"].get<double>(), 0);
  const json& latency = generate["latency_ms"];
  EXPECT_GT(latency["p50"].get<double>(), 0);
  EXPECT_LE(latency["p50"].get<double>(), latency["p90"].get<double>());
  EXPECT_LE(latency["p90"].get<double>(), latency["p99"].get<double>());
  EXPECT_LE(latency["p99"].get<double>(), latency["max"].get<double>());

  const json& edits = report["edits"];
  EXPECT_EQ(edits["committed"], 1);
  EXPECT_EQ(edits["failed"], 0);
  EXPECT_GT(edits["per_minute"].get<double>(), 0);
  EXPECT_GT(edits["seconds"]["p50"].get<double>(), 0);
  EXPECT_LE(edits["seconds"]["p50"].get<double>(), edits["seconds"]["max"].get<double>());
  EXPECT_LE(edits["seconds"]["max"].get<double>(), report["duration_seconds"].get<double>());
}

TEST(BenchTest, UnreachableServerAndBadFlags) {
  EXPECT_EQ(RunClient({"--server", "127.0.0.1:1", "--timeout", "2", "bench", "--duration", "1"}).exit_code, 3);
  EXPECT_EQ(RunClient({"bench", "--clients", "0"}).exit_code, 2);
  EXPECT_EQ(RunClient({"bench", "--duration", "0"}).exit_code, 2);
}

}  // namespace
}  // namespace muke::testing
