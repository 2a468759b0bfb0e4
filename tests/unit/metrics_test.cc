// The papers' evaluation metrics: character BLEU-4 and ROUGE-1/2/L recall. The golden values in
// ../shared/eval/metric_golden.json come from nltk 3.8 sentence_bleu and pltrdy rouge 1.0.1 (with the harness's
// space padding); the unit cases are computed by hand from the definitions.
#include <cfloat>
#include <cmath>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/eval/bleu.h"
#include "core/eval/rouge.h"

namespace muke {
namespace {

TEST(MetricGolden, EveryPairMatchesTheLibraries) {
  std::ifstream in(std::string(MUKE_SHARED_DIR) + "/eval/metric_golden.json");
  ASSERT_TRUE(in) << "missing metric_golden.json";
  const nlohmann::json golden = nlohmann::json::parse(in);
  ASSERT_FALSE(golden["pairs"].empty());
  for (const auto& pair : golden["pairs"]) {
    const std::string prediction = PadPrediction(pair["prediction"].get<std::string>());
    const std::string answer = pair["answer"].get<std::string>();
    SCOPED_TRACE(prediction + " | " + answer);
    EXPECT_NEAR(CharBleu(prediction, answer), pair["bleu_char"].get<double>(), 1e-6);
    const RougeScores rouge = RougeRecall(prediction, answer);
    EXPECT_NEAR(rouge.rouge1_r, pair["rouge1_r"].get<double>(), 1e-6);
    EXPECT_NEAR(rouge.rouge2_r, pair["rouge2_r"].get<double>(), 1e-6);
    EXPECT_NEAR(rouge.rougeL_r, pair["rougeL_r"].get<double>(), 1e-6);
  }
}

TEST(PadPrediction, AppendsASpaceOnlyWhenThereIsNone) {
  EXPECT_EQ(PadPrediction("Biscuit"), "Biscuit ");
  EXPECT_EQ(PadPrediction(""), " ");
  EXPECT_EQ(PadPrediction("a\nb"), "a\nb ");
  EXPECT_EQ(PadPrediction("a b"), "a b");
}

TEST(CharBleu, IdenticalStringsScoreOne) {
  EXPECT_EQ(CharBleu("The cat sat.", "The cat sat."), 1.0);
  EXPECT_EQ(CharBleu("abcd", "abcd"), 1.0);
}

TEST(CharBleu, NoMatchingCharacterScoresZero) {
  EXPECT_EQ(CharBleu("", "abc"), 0.0);
  EXPECT_EQ(CharBleu("xyz", "abc"), 0.0);
  EXPECT_EQ(CharBleu("abc", ""), 0.0);
}

TEST(CharBleu, MissingHigherOrdersCountAsDblMin) {
  // "ab" vs "abc": p1 = 2/2, p2 = 1/1, no 3- or 4-gram -> DBL_MIN each; brevity exp(1 - 3/2).
  const double tiny = std::exp(0.5 * std::log(DBL_MIN));
  EXPECT_NEAR(CharBleu("ab", "abc"), std::exp(-0.5) * tiny, 1e-12 * tiny);
  EXPECT_GT(CharBleu("ab", "abc"), 0.0);
  // A padded empty prediction: " " matches one unigram; brevity exp(1 - 7/1).
  const double tinier = std::exp(0.75 * std::log(DBL_MIN));
  EXPECT_NEAR(CharBleu(PadPrediction(""), "a b c d"), std::exp(-6.0) * tinier, 1e-12 * std::exp(-6.0) * tinier);
}

TEST(CharBleu, BrevityPenaltyAndClipping) {
  // Every n-gram of the prefix matches; brevity exp(1 - 9/6).
  EXPECT_NEAR(CharBleu("abcdef", "abcdefghi"), std::exp(-0.5), 1e-15);
  // Longer than the answer: no penalty; clipped precisions 4/6, 3/5, 2/4, 1/3.
  EXPECT_NEAR(CharBleu("aaaaaa", "aaaa"), std::pow(1.0 / 15.0, 0.25), 1e-15);
}

TEST(CharBleu, MultiByteCharactersCountAsOne) {
  // 4 of 8 code points (8 of 16 bytes): all precisions 1, brevity exp(1 - 8/4).
  EXPECT_NEAR(CharBleu("αβγδ", "αβγδεζηθ"), std::exp(-1.0), 1e-15);
  EXPECT_EQ(CharBleu("café ü", "café ü"), 1.0);
}

TEST(RougeRecall, IdenticalTextsScoreOne) {
  const RougeScores scores = RougeRecall("The cat sat. It slept.", "The cat sat. It slept.");
  EXPECT_EQ(scores.rouge1_r, 1.0);
  EXPECT_EQ(scores.rouge2_r, 1.0);
  EXPECT_EQ(scores.rougeL_r, 1.0);
}

TEST(RougeRecall, SentencesWordSetsAndUnionLcs) {
  // Prediction words [a b | c], answer [a b c d]; bigrams cross the sentence end: {ab, bc} of {ab, bc, cd}.
  // Union LCS of "a b c d" with "a b" and with "c" is {a, b, c}.
  const RougeScores scores = RougeRecall("a  b. c", "a b c d.");
  EXPECT_DOUBLE_EQ(scores.rouge1_r, 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(scores.rouge2_r, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(scores.rougeL_r, 3.0 / 4.0);
  // Words are case-sensitive and any whitespace separates them; repeated words count once.
  EXPECT_EQ(RougeRecall("A", "a").rouge1_r, 0.0);
  EXPECT_DOUBLE_EQ(RougeRecall("x\ty\nx", "x y x y").rouge1_r, 1.0);
}

TEST(RougeRecall, NoSentenceScoresZero) {
  for (const auto& [prediction, answer] : {std::pair{"", "a b"}, {"...", "a b"}, {"a b", ""}, {"a b", ". ."}}) {
    const RougeScores scores = RougeRecall(prediction, answer);
    EXPECT_EQ(scores.rouge1_r, 0.0) << prediction << " | " << answer;
    EXPECT_EQ(scores.rouge2_r, 0.0);
    EXPECT_EQ(scores.rougeL_r, 0.0);
  }
  // A padded empty prediction is one empty word: nothing in common with the answer.
  EXPECT_EQ(RougeRecall(PadPrediction(""), "a b").rougeL_r, 0.0);
}

}  // namespace
}  // namespace muke
