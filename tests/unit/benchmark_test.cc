// Loading evaluation cases: JSON lines (stories_edits_dev.jsonl) and JSON arrays (UnKEBench, EditEverything),
// numeric or string ids, optional paraphrases, and errors that name the file, the line or item, and the field.
#include <fstream>

#include <gtest/gtest.h>

#include "core/eval/benchmark.h"
#include "tests/test_util.h"

namespace muke {
namespace {

std::string Write(const std::string& text) {
  const std::string path = testing::MakeTempDir("cases") + "/cases";
  std::ofstream(path) << text;
  return path;
}

TEST(BenchmarkTest, LoadsJsonLinesAndArrays) {
  auto lines = LoadEvalCases(Write("{\"id\": \"a\", \"question\": \"Q1\", \"answer\": \"A1\", \"para_question\": \"P1\"}\n"
                                   "\n{\"question\": \"Q2\", \"answer\": \"A2\"}\n"));
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].id, "a");
  EXPECT_EQ((*lines)[0].para_question, "P1");
  EXPECT_EQ((*lines)[1].id, "1");  // no id: its index
  EXPECT_TRUE((*lines)[1].para_question.empty());
  auto array = LoadEvalCases(Write(" [{\"id\": 7, \"question\": \"Q\", \"answer\": \"A\", \"category\": \"code\"}]"));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ((*array)[0].id, "7");
  EXPECT_EQ((*array)[0].answer, "A");
}

TEST(BenchmarkTest, ReadsTheSharedBenchmarks) {
  MUKE_REQUIRE_SHARED();
  auto dev = LoadEvalCases(testing::SharedDir() + "/eval/stories_edits_dev.jsonl");
  auto unke = LoadEvalCases(testing::SharedDir() + "/benchmarks/unkebench_v2_dev.json");
  auto every = LoadEvalCases(testing::SharedDir() + "/benchmarks/editevery.json");
  ASSERT_TRUE(dev.ok() && unke.ok() && every.ok());
  EXPECT_EQ(dev->size(), 24u);
  EXPECT_EQ(unke->size(), 300u);
  EXPECT_EQ(every->size(), 552u);
  EXPECT_FALSE((*unke)[0].para_question.empty());
}

TEST(BenchmarkTest, ErrorsNameTheFileLineAndField) {
  auto missing = LoadEvalCases(Write("{\"question\": \"Q\", \"answer\": \"A\"}\n{\"question\": \"Q\"}\n"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find(":2: 'answer' must be a non-empty string"), std::string::npos)
      << missing.status();
  auto broken = LoadEvalCases(Write("{\"question\": \"Q\", \"answer\": \n"));
  EXPECT_NE(broken.status().message().find(":1: invalid JSON"), std::string::npos) << broken.status();
  auto item = LoadEvalCases(Write("[{\"question\": \"Q\", \"answer\": \"A\"}, {\"question\": 3, \"answer\": \"A\"}]"));
  EXPECT_NE(item.status().message().find("item 1: 'question'"), std::string::npos) << item.status();
  EXPECT_EQ(LoadEvalCases(Write("")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadEvalCases("/nonexistent/cases.jsonl").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace muke
