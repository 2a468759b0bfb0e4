// The Editor facade on the real stories260K model: an edit is computed on copies (the model is bit-identical
// until Apply), lowers the target NLL for every update kind, Apply/Restore round-trip exactly, a batch of
// requests of different lengths shares one update, a NaN injected mid-optimisation is an error that leaves every
// tensor bit-identical, and bad requests are INVALID_ARGUMENT naming the field and the limit.
#include <gtest/gtest.h>
#include <torch/types.h>

#include "core/edit/editor.h"
#include "core/model/generate.h"
#include "tests/test_util.h"

namespace muke {
namespace {

struct Fixture {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Editor> editor;
};

Fixture Load() {
  Fixture f;
  auto model = Model::Load(testing::ImportedStories260K());
  auto tokenizer = LoadTokenizer(testing::ImportedStories260K());
  EXPECT_TRUE(model.ok() && tokenizer.ok());
  f.model = std::move(*model);
  f.tokenizer = std::move(*tokenizer);
  EditorConfig config;
  config.statistics.num_samples = 32;
  config.statistics.sample_tokens = 64;
  config.statistics.cache_dir = testing::MakeTempDir("editor-stats");
  f.editor = std::make_unique<Editor>(*f.model, *f.tokenizer, nullptr, config);
  return f;
}

bool SameTensors(const TensorMap& a, const TensorMap& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a) {
    if (!b.count(name) || !torch::equal(t, b.at(name))) return false;
  }
  return true;
}

const EditRequest kDog{"What is the name of Lily's dog?", "Lily's dog is called Biscuit. He likes carrots."};
const EditRequest kTom{"Where does Tom live?", "Tom lives in a blue house next to the river."};

TEST(EditorTest, EveryUpdateLowersTheTargetNllOnCopies) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load();
  auto tokens = f.editor->Tokenize(kDog);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  const TensorMap pristine = f.model->StateDict();
  for (UpdateKind update : {UpdateKind::kMemit, UpdateKind::kAlphaEdit, UpdateKind::kUnke}) {
    EditOptions o = DefaultEditOptions(f.model->config(), update);
    std::vector<EditProgress::Stage> stages;
    auto result = f.editor->Edit({*tokens}, o, [&](const EditProgress& p) { stages.push_back(p.stage); });
    ASSERT_TRUE(result.ok()) << UpdateName(update) << ": " << result.status();
    const EditCaseResult& c = result->cases[0];
    EXPECT_EQ(c.shifts.traces.size(), tokens->target.size());  // 1-token windows
    EXPECT_LT(c.nll_hooked, c.nll_before) << UpdateName(update);
    EXPECT_LT(c.nll_after, c.nll_before) << UpdateName(update);
    for (const auto& [name, t] : result->new_weights) {
      const std::string prefix = update == UpdateKind::kUnke ? "model.layers.4." : "model.layers.";
      EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
      if (update != UpdateKind::kUnke) EXPECT_NE(name.find("mlp.down_proj"), std::string::npos) << name;
    }
    EXPECT_TRUE(SameTensors(f.model->StateDict(), pristine)) << "Edit modified the model";
    EXPECT_EQ(stages.back(), EditProgress::Stage::kMeasure);
    EXPECT_GT(std::count(stages.begin(), stages.end(), EditProgress::Stage::kShift), 10);
    EXPECT_GT(result->stage_seconds.at("optimise"), 0);
  }
}

TEST(EditorTest, ApplyChangesGenerationAndRestoreIsExact) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load();
  auto tokens = f.editor->Tokenize(kDog);
  ASSERT_TRUE(tokens.ok());
  const TensorMap pristine = f.model->StateDict();
  EditOptions o = DefaultEditOptions(f.model->config(), UpdateKind::kUnke);
  auto result = f.editor->Edit({*tokens}, o);
  ASSERT_TRUE(result.ok()) << result.status();
  GenerateOptions g;
  g.max_new_tokens = static_cast<int64_t>(tokens->target.size());
  auto before = Generate(*f.model, tokens->prompt, g);
  auto previous = f.editor->Apply(result->new_weights);
  ASSERT_TRUE(previous.ok()) << previous.status();
  EXPECT_FALSE(SameTensors(f.model->StateDict(), pristine));
  auto after = Generate(*f.model, tokens->prompt, g);
  ASSERT_TRUE(before.ok() && after.ok());
  // The edited model's greedy answer agrees with the target on more leading tokens than before.
  auto agree = [&](const std::vector<int64_t>& ids) {
    size_t n = 0;
    while (n < ids.size() && n < tokens->target.size() && ids[n] == tokens->target[n]) ++n;
    return n;
  };
  EXPECT_GT(agree(after->ids), agree(before->ids));
  ASSERT_TRUE(f.editor->Restore(*previous).ok());
  EXPECT_TRUE(SameTensors(f.model->StateDict(), pristine));
}

TEST(EditorTest, BatchOfDifferentLengthsSharesOneUpdate) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load();
  auto dog = f.editor->Tokenize(kDog);
  auto tom = f.editor->Tokenize(kTom);
  ASSERT_TRUE(dog.ok() && tom.ok());
  ASSERT_NE(dog->prompt.size() + dog->target.size(), tom->prompt.size() + tom->target.size());
  EditOptions o = DefaultEditOptions(f.model->config());
  auto result = f.editor->Edit({*dog, *tom}, o);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->cases.size(), 2u);
  for (const EditCaseResult& c : result->cases) EXPECT_LT(c.nll_after, c.nll_before);
  EXPECT_EQ(result->new_weights.size(), o.layers.size());
}

TEST(EditorTest, NanMidOptimisationLeavesEveryTensorBitIdentical) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load();
  auto tokens = f.editor->Tokenize(kTom);
  ASSERT_TRUE(tokens.ok());
  const TensorMap pristine = f.model->StateDict();
  for (UpdateKind update : {UpdateKind::kMemit, UpdateKind::kUnke}) {
    EditOptions o = DefaultEditOptions(f.model->config(), update);
    o.shift.inject_nan_after_steps = 30;
    auto result = f.editor->Edit({*tokens}, o);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal) << result.status();
    EXPECT_NE(result.status().message().find("non-finite"), std::string::npos) << result.status();
    for (const auto& [name, t] : f.model->StateDict()) {
      EXPECT_TRUE(torch::equal(t, pristine.at(name))) << name;
      EXPECT_TRUE(t.is_same(pristine.at(name))) << name << " was replaced";
    }
  }
}

TEST(EditorTest, ShouldStopCancelsEveryUpdateWithoutTouchingTheModel) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load();
  auto tokens = f.editor->Tokenize(kTom);
  ASSERT_TRUE(tokens.ok());
  const TensorMap pristine = f.model->StateDict();
  // Stop during the shift optimisation, and (UnKE, 200 steps) during the weight update.
  for (int polls : {5, 20}) {
    for (UpdateKind update : {UpdateKind::kMemit, UpdateKind::kUnke}) {
      EditOptions o = DefaultEditOptions(f.model->config(), update);
      int calls = 0;
      o.should_stop = [&] { return ++calls > polls + (update == UpdateKind::kUnke && polls == 20 ? 600 : 0); };
      auto result = f.editor->Edit({*tokens}, o);
      EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << UpdateName(update) << " " << result.status();
      EXPECT_TRUE(SameTensors(f.model->StateDict(), pristine));
    }
  }
}

TEST(EditorTest, BadRequestsNameTheFieldAndLimit) {
  MUKE_REQUIRE_SHARED();
  Fixture f = Load();
  EXPECT_EQ(f.editor->Tokenize({"", "x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.editor->Tokenize({"x", ""}).status().code(), absl::StatusCode::kInvalidArgument);
  auto tokens = f.editor->Tokenize(kTom);
  ASSERT_TRUE(tokens.ok());
  EditTokens too_long = *tokens;
  too_long.target.resize(600, too_long.target.back());
  auto status = f.editor->Edit({too_long}, DefaultEditOptions(f.model->config())).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("context is 512"), std::string::npos) << status;
  EditOptions o = DefaultEditOptions(f.model->config());
  o.layers = {2, 5};
  status = f.editor->Edit({*tokens}, o).status();
  EXPECT_NE(status.message().find("layers [2, 5]"), std::string::npos) << status;
  o = DefaultEditOptions(f.model->config());
  o.shift.hook_layer = 7;
  EXPECT_NE(f.editor->Edit({*tokens}, o).status().message().find("hook_layer 7"), std::string::npos);
  EditTokens bad_id = *tokens;
  bad_id.target[0] = 100000;
  EXPECT_NE(f.editor->Edit({bad_id}, DefaultEditOptions(f.model->config())).status().message().find("token id 100000"),
            std::string::npos);
  EXPECT_EQ(ParseUpdate("rome").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace muke
