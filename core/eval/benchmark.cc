#include "core/eval/benchmark.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/eval/bleu.h"
#include "core/eval/rouge.h"
#include "core/model/generate.h"
#include "core/util/status.h"

namespace muke {
namespace {

absl::StatusOr<EvalCase> ParseCase(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
  EvalCase c;
  for (const char* field : {"question", "answer"}) {
    if (!j.contains(field) || !j[field].is_string() || j[field].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": '", field, "' must be a non-empty string"));
    }
  }
  c.question = j["question"];
  c.answer = j["answer"];
  if (j.contains("para_question")) {
    if (!j["para_question"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'para_question' must be a string"));
    }
    c.para_question = j["para_question"];
  }
  if (j.contains("id")) c.id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
  return c;
}

// Mean of `field` over the cases, for every numeric field of the report.
CaseReport Mean(const std::vector<CaseReport>& cases) {
  CaseReport m;
  m.locality = m.locality_top1 = 0;
  if (cases.empty()) return m;
  const double n = static_cast<double>(cases.size());
  for (const CaseReport& c : cases) {
    for (auto [sum, value] : std::initializer_list<std::pair<double*, double>>{
             {&m.bleu_char, c.bleu_char}, {&m.rouge1_r, c.rouge1_r}, {&m.rouge2_r, c.rouge2_r},
             {&m.rougeL_r, c.rougeL_r}, {&m.para_bleu_char, c.para_bleu_char}, {&m.para_rouge1_r, c.para_rouge1_r},
             {&m.para_rouge2_r, c.para_rouge2_r}, {&m.para_rougeL_r, c.para_rougeL_r},
             {&m.locality, c.locality}, {&m.locality_kl, c.locality_kl}, {&m.locality_top1, c.locality_top1},
             {&m.seconds, c.seconds},
             {&m.nll_before, c.nll_before}, {&m.nll_hooked, c.nll_hooked}, {&m.nll_after, c.nll_after}}) {
      *sum += value / n;
    }
    m.target_tokens += c.target_tokens;
    for (const auto& [stage, s] : c.stage_seconds) m.stage_seconds[stage] += s / n;
  }
  m.target_tokens = static_cast<int64_t>(m.target_tokens / n);
  return m;
}

// Greedy answer to `prompt` with the edit's weights: new tokens only, special tokens removed (as the papers do).
absl::StatusOr<std::string> Answer(const Model& model, const Tokenizer& tokenizer, const std::vector<int64_t>& prompt,
                                   int64_t max_new_tokens, const TensorMap* overrides) {
  GenerateOptions g;
  g.max_new_tokens = max_new_tokens;
  g.stop_ids = tokenizer.eos_ids();
  g.weight_overrides = overrides;
  MUKE_ASSIGN_OR_RETURN(GenerateResult result, Generate(model, prompt, g));
  return tokenizer.Decode(result.ids, true);
}

}  // namespace

absl::StatusOr<std::vector<EvalCase>> LoadEvalCases(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<EvalCase> cases;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    const nlohmann::json array = nlohmann::json::parse(text, nullptr, false);
    if (array.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": invalid JSON"));
    for (size_t i = 0; i < array.size(); ++i) {
      MUKE_ASSIGN_OR_RETURN(EvalCase c, ParseCase(array[i], absl::StrCat(path, " item ", i)));
      if (c.id.empty()) c.id = std::to_string(i);
      cases.push_back(std::move(c));
    }
  } else {
    std::istringstream lines(text);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      const std::string where = absl::StrCat(path, ":", number);
      if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(where, ": invalid JSON"));
      MUKE_ASSIGN_OR_RETURN(EvalCase c, ParseCase(j, where));
      if (c.id.empty()) c.id = std::to_string(cases.size());
      cases.push_back(std::move(c));
    }
  }
  if (cases.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no cases"));
  return cases;
}

const std::vector<std::string>& DefaultLocalityPrompts() {
  static const std::vector<std::string> prompts = {
      "Once upon a time, there was a little girl named",
      "The sun was shining and the birds were singing. Tom went outside and",
      "One day, a big dog found a ball in the garden.",
      "Mom said it was time for bed, but",
      "The little boat sailed across the lake",
      "Sara wanted to bake a cake for her friend.",
      "In the forest, a small rabbit heard a loud noise.",
      "Grandpa told the children a story about",
  };
  return prompts;
}

absl::StatusOr<EvalReport> RunEvaluation(Editor& editor, const Tokenizer& tokenizer, const std::vector<EvalCase>& cases,
                                         const EvalOptions& o, const EvalProgressFn& progress) {
  const Model& model = editor.model();
  const int64_t context = model.config().max_position_embeddings;
  std::vector<std::vector<int64_t>> probes;
  for (const std::string& p : DefaultLocalityPrompts()) {
    MUKE_ASSIGN_OR_RETURN(std::vector<int64_t> ids, tokenizer.Encode(p, true));
    probes.push_back(std::move(ids));
  }
  MUKE_ASSIGN_OR_RETURN(LocalityBaseline baseline, RecordLocality(model, probes, o.locality_new_tokens));

  EvalReport report;
  const size_t n = o.limit > 0 ? std::min<size_t>(cases.size(), o.limit) : cases.size();
  for (size_t i = 0; i < n; ++i) {
    const EvalCase& c = cases[i];
    CaseReport r;
    r.source = c;
    r.answer = c.answer;
    MUKE_ASSIGN_OR_RETURN(EditTokens tokens, editor.Tokenize({c.question, c.answer}));
    std::vector<int64_t> para_prompt;
    if (!c.para_question.empty()) {
      MUKE_ASSIGN_OR_RETURN(EditTokens para, editor.Tokenize({c.para_question, c.answer}));
      para_prompt = para.prompt;
    }
    // Cut the target to the limit and so that the longer prompt, the target and the margin fit the context.
    int64_t limit = context - std::max<int64_t>(tokens.prompt.size(), para_prompt.size()) - o.margin_tokens;
    if (o.max_target_tokens > 0) limit = std::min(limit, o.max_target_tokens);
    if (limit < 1) return absl::InvalidArgumentError(absl::StrCat("case ", c.id, ": the prompt leaves no room"));
    if (static_cast<int64_t>(tokens.target.size()) > limit) {
      tokens.target.resize(limit);
      r.truncated = true;
      ++report.truncated;
      MUKE_ASSIGN_OR_RETURN(r.answer, tokenizer.Decode(tokens.target, true));
    }
    r.target_tokens = tokens.target.size();

    const auto t0 = std::chrono::steady_clock::now();
    MUKE_ASSIGN_OR_RETURN(EditResult edit, editor.Edit({tokens}, o.edit));
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.stage_seconds = edit.stage_seconds;
    r.nll_before = edit.cases[0].nll_before;
    r.nll_hooked = edit.cases[0].nll_hooked;
    r.nll_after = edit.cases[0].nll_after;

    // The greedy answer to `prompt` with the new weights, scored against the target.
    const int64_t budget = r.target_tokens + o.margin_tokens;
    auto score = [&](const std::vector<int64_t>& prompt, std::string* prediction, double* bleu_char,
                     double* rouge1_r, double* rouge2_r, double* rougeL_r) -> absl::Status {
      MUKE_ASSIGN_OR_RETURN(*prediction, Answer(model, tokenizer, prompt, budget, &edit.new_weights));
      const std::string padded = PadPrediction(*prediction);
      *bleu_char = CharBleu(padded, r.answer);
      const RougeScores rouge = RougeRecall(padded, r.answer);
      *rouge1_r = rouge.rouge1_r;
      *rouge2_r = rouge.rouge2_r;
      *rougeL_r = rouge.rougeL_r;
      return absl::OkStatus();
    };
    MUKE_RETURN_IF_ERROR(score(tokens.prompt, &r.prediction, &r.bleu_char, &r.rouge1_r, &r.rouge2_r, &r.rougeL_r));
    if (!para_prompt.empty()) {
      MUKE_RETURN_IF_ERROR(score(para_prompt, &r.para_prediction, &r.para_bleu_char, &r.para_rouge1_r,
                                 &r.para_rouge2_r, &r.para_rougeL_r));
    }
    MUKE_ASSIGN_OR_RETURN(LocalityScore locality, MeasureLocality(model, baseline, &edit.new_weights));
    r.locality = locality.unchanged;
    r.locality_kl = locality.mean_kl;
    r.locality_top1 = locality.top1_agreement;
    if (o.sequential) MUKE_RETURN_IF_ERROR(editor.Apply(edit.new_weights).status());
    report.cases.push_back(std::move(r));
    if (progress) progress(static_cast<int>(i) + 1, static_cast<int>(n), report.cases.back());
  }
  report.mean = Mean(report.cases);
  return report;
}

}  // namespace muke
