// `muke-tool eval` end to end on the real stories260K model and ../shared/eval/stories_edits_dev.jsonl, as a user
// runs it: the printed table, results.json with the documented schema and metrics in range, the UnKEBench JSON
// array format with truncated targets, and usage errors that name the flag.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace muke {
namespace {

using nlohmann::json;

std::string Tool() { return MUKE_TOOL_PATH; }

json RunEval(const std::string& cases, const std::string& flags, std::string* table) {
  const std::string out = testing::MakeTempDir("eval") + "/results.json";
  const auto r = testing::RunCommand(Tool() + " eval --model " + testing::ImportedStories260K() + " --cases " + cases +
                                     " --statistics-samples 32 --out " + out + " " + flags + " 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  *table = r.out;
  std::ifstream in(out);
  return json::parse(in, nullptr, false);
}

TEST(EvalToolTest, DevCasesGiveTheDocumentedResultsJson) {
  MUKE_REQUIRE_SHARED();
  std::string table;
  const json j = RunEval(testing::SharedDir() + "/eval/stories_edits_dev.jsonl",
                         "--limit 2 --strategy window_by_window --update memit --steps 20", &table);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_NE(table.find("char-BLEU"), std::string::npos) << table;
  EXPECT_NE(table.find("seconds/edit"), std::string::npos) << table;
  EXPECT_EQ(j["config"]["strategy"], "window_by_window");
  EXPECT_EQ(j["config"]["update"], "memit");
  EXPECT_EQ(j["config"]["steps"], 20);
  for (const char* key : {"bleu_char", "rouge1_r", "rouge2_r", "rougeL_r", "para_bleu_char", "para_rougeL_r",
                          "locality", "seconds_per_edit", "nll_before", "nll_hooked", "nll_after"}) {
    ASSERT_TRUE(j["summary"].contains(key)) << key;
  }
  ASSERT_EQ(j["cases"].size(), 2u);
  EXPECT_EQ(j["cases"][0]["id"], "dev-00");
  for (const json& c : j["cases"]) {
    for (const char* key : {"bleu_char", "rougeL_r", "para_bleu_char", "locality"}) {
      EXPECT_GE(c[key].get<double>(), 0.0) << key;
      EXPECT_LE(c[key].get<double>(), 1.0) << key;
    }
    EXPECT_FALSE(c["prediction"].get<std::string>().empty());
    EXPECT_FALSE(c["para_prediction"].get<std::string>().empty());
    EXPECT_GT(c["seconds"].get<double>(), 0.0);
    // The shifts lower the target NLL, and the update keeps most of that.
    EXPECT_LT(c["nll_hooked"].get<double>(), c["nll_before"].get<double>());
    EXPECT_LT(c["nll_after"].get<double>(), c["nll_before"].get<double>());
  }
  EXPECT_GT(j["summary"]["bleu_char"].get<double>(), 0.5);  // 1-token windows at the last block edit strongly
}

TEST(EvalToolTest, UnkeBenchArrayWithTruncatedTargets) {
  MUKE_REQUIRE_SHARED();
  std::string table;
  const json j = RunEval(testing::SharedDir() + "/benchmarks/unkebench_v2_dev.json",
                         "--limit 1 --max-target-tokens 24 --strategy window_by_window --update memit --steps 10",
                         &table);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_NE(table.find("truncated"), std::string::npos) << table;
  ASSERT_EQ(j["cases"].size(), 1u);
  EXPECT_EQ(j["cases"][0]["id"], "0");
  EXPECT_TRUE(j["cases"][0]["truncated"].get<bool>());
  EXPECT_EQ(j["cases"][0]["target_tokens"], 24);
}

TEST(EvalToolTest, UsageErrorsNameTheProblem) {
  MUKE_REQUIRE_SHARED();
  const std::string base = Tool() + " eval --model " + testing::ImportedStories260K() + " --cases " +
                           testing::SharedDir() + "/eval/stories_edits_dev.jsonl ";
  auto r = testing::RunCommand(base + "--strategy rome 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("rome"), std::string::npos) << r.out;
  r = testing::RunCommand(base + "--layers 2,9 --limit 1 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("layers [2, 9]"), std::string::npos) << r.out;
  r = testing::RunCommand(Tool() + " eval --model " + testing::ImportedStories260K() + " --cases /nonexistent 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("/nonexistent"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace muke
