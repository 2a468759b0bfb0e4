// muke-tool eval --model DIR --cases FILE [--strategy S] [--update U] [--limit N] [--max-target-tokens N]
//                [--sequential] [--out results.json] [hyperparameter overrides] — edits every case, scores the
// answers (char-BLEU, ROUGE recall, locality, NLL) and prints a table; results.json holds config, summary, cases.
#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/tool/commands.h"
#include "client/tool/model_flags.h"
#include "core/eval/benchmark.h"
#include "core/util/status.h"

namespace muke {
namespace {

absl::StatusOr<std::vector<int>> ParseLayers(const std::string& text) {
  std::vector<int> layers;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int l;
    if (!absl::SimpleAtoi(part, &l)) return absl::InvalidArgumentError(absl::StrCat("--layers: bad layer '", part, "'"));
    layers.push_back(l);
  }
  return layers;
}

// Applies the hyperparameter flags on top of the model's defaults for the chosen update.
absl::StatusOr<EvalOptions> OptionsFromFlags(const Args& args, const ModelConfig& config) {
  EvalOptions e;
  MUKE_ASSIGN_OR_RETURN(UpdateKind update, ParseUpdate(args.Get("update", "memit")));
  e.edit = DefaultEditOptions(config, update);
  EditOptions& o = e.edit;
  MUKE_ASSIGN_OR_RETURN(o.strategy, ParseStrategy(args.Get("strategy", "muke")));
  const std::string order = args.Get("coefficient-order", "intended");
  if (order != "intended" && order != "reference") {
    return absl::InvalidArgumentError("--coefficient-order must be intended or reference");
  }
  o.shift.coefficient_order = order == "reference" ? CoefficientOrder::kReference : CoefficientOrder::kIntended;
  o.strategy_options.fp16_coefficient_sums = args.Has("fp16-coefficients");
  o.shift.full_recompute = args.Has("full-recompute");
  MUKE_ASSIGN_OR_RETURN(o.window_size, args.GetInt("window", o.window_size));
  MUKE_ASSIGN_OR_RETURN(int64_t hook, args.GetInt("hook-layer", o.shift.hook_layer));
  o.shift.hook_layer = static_cast<int>(hook);
  if (args.Has("layers")) {
    MUKE_ASSIGN_OR_RETURN(o.layers, ParseLayers(args.Get("layers")));
  }
  MUKE_ASSIGN_OR_RETURN(int64_t steps, args.GetInt("steps", o.shift.steps));
  o.shift.steps = static_cast<int>(steps);
  MUKE_ASSIGN_OR_RETURN(o.shift.learning_rate, args.GetDouble("lr", o.shift.learning_rate));
  MUKE_ASSIGN_OR_RETURN(o.shift.max_norm_ratio, args.GetDouble("clamp", o.shift.max_norm_ratio));
  MUKE_ASSIGN_OR_RETURN(o.shift.regulariser, args.GetDouble("regulariser", o.shift.regulariser));
  MUKE_ASSIGN_OR_RETURN(o.shift.early_stop_loss, args.GetDouble("early-stop", o.shift.early_stop_loss));
  MUKE_ASSIGN_OR_RETURN(o.lambda, args.GetDouble("lambda", o.lambda));
  MUKE_ASSIGN_OR_RETURN(o.null_space_threshold, args.GetDouble("null-space-threshold", o.null_space_threshold));
  MUKE_ASSIGN_OR_RETURN(o.unke.learning_rate, args.GetDouble("unke-lr", o.unke.learning_rate));
  MUKE_ASSIGN_OR_RETURN(int64_t unke_steps, args.GetInt("unke-steps", o.unke.steps));
  o.unke.steps = static_cast<int>(unke_steps);
  MUKE_ASSIGN_OR_RETURN(o.preservation_sequences, args.GetInt("preservation", o.preservation_sequences));
  MUKE_ASSIGN_OR_RETURN(o.unke.preservation_weight, args.GetDouble("preservation-weight", o.unke.preservation_weight));
  MUKE_ASSIGN_OR_RETURN(e.limit, args.GetInt("limit", 0));
  MUKE_ASSIGN_OR_RETURN(e.max_target_tokens, args.GetInt("max-target-tokens", 0));
  MUKE_ASSIGN_OR_RETURN(e.margin_tokens, args.GetInt("margin", e.margin_tokens));
  e.sequential = args.Has("sequential");
  return e;
}

nlohmann::json ConfigJson(const Args& args, const EvalOptions& e, const std::string& command) {
  const EditOptions& o = e.edit;
  return {{"command", command},
          {"model", args.Get("model")},
          {"cases", args.Get("cases")},
          {"strategy", std::string(StrategyName(o.strategy))},
          {"update", std::string(UpdateName(o.update))},
          {"coefficient_order", o.shift.coefficient_order == CoefficientOrder::kReference ? "reference" : "intended"},
          {"window_size", o.window_size},
          {"hook_layer", o.shift.hook_layer},
          {"layers", o.layers},
          {"steps", o.shift.steps},
          {"lr", o.shift.learning_rate},
          {"clamp", o.shift.max_norm_ratio},
          {"regulariser", o.shift.regulariser},
          {"early_stop", o.shift.early_stop_loss},
          {"lambda", o.lambda},
          {"null_space_threshold", o.null_space_threshold},
          {"unke_lr", o.unke.learning_rate},
          {"unke_steps", o.unke.steps},
          {"preservation_sequences", o.preservation_sequences},
          {"preservation_weight", o.unke.preservation_weight},
          {"limit", e.limit},
          {"max_target_tokens", e.max_target_tokens},
          {"margin_tokens", e.margin_tokens},
          {"sequential", e.sequential}};
}

nlohmann::json CaseJson(const CaseReport& c) {
  return {{"id", c.source.id},
          {"prediction", c.prediction},
          {"para_prediction", c.para_prediction},
          {"answer", c.answer},
          {"truncated", c.truncated},
          {"target_tokens", c.target_tokens},
          {"bleu_char", c.bleu_char},
          {"rouge1_r", c.rouge1_r},
          {"rouge2_r", c.rouge2_r},
          {"rougeL_r", c.rougeL_r},
          {"para_bleu_char", c.para_bleu_char},
          {"para_rouge1_r", c.para_rouge1_r},
          {"para_rouge2_r", c.para_rouge2_r},
          {"para_rougeL_r", c.para_rougeL_r},
          {"locality", c.locality},
          {"locality_kl", c.locality_kl},
          {"locality_top1", c.locality_top1},
          {"seconds", c.seconds},
          {"stage_seconds", c.stage_seconds},
          {"nll_before", c.nll_before},
          {"nll_hooked", c.nll_hooked},
          {"nll_after", c.nll_after}};
}

nlohmann::json SummaryJson(const EvalReport& r) {
  const CaseReport& m = r.mean;
  return {{"cases", r.cases.size()},         {"truncated", r.truncated},
          {"bleu_char", m.bleu_char},        {"rouge1_r", m.rouge1_r},
          {"rouge2_r", m.rouge2_r},          {"rougeL_r", m.rougeL_r},
          {"para_bleu_char", m.para_bleu_char}, {"para_rouge1_r", m.para_rouge1_r},
          {"para_rouge2_r", m.para_rouge2_r}, {"para_rougeL_r", m.para_rougeL_r},
          {"locality", m.locality},          {"locality_kl", m.locality_kl},
          {"locality_top1", m.locality_top1},
          {"seconds_per_edit", m.seconds},   {"stage_seconds", m.stage_seconds},
          {"nll_before", m.nll_before},      {"nll_hooked", m.nll_hooked},
          {"nll_after", m.nll_after},        {"mean_target_tokens", m.target_tokens}};
}

void PrintTable(const EvalReport& r, const EvalOptions& e) {
  const CaseReport& m = r.mean;
  const EditOptions& o = e.edit;
  std::printf("%s + %s · %zu cases%s · window %lld · hook %d · layers [%s] · steps %d · lambda %g\n",
              std::string(StrategyName(o.strategy)).c_str(), std::string(UpdateName(o.update)).c_str(),
              r.cases.size(), e.sequential ? " (sequential)" : "", static_cast<long long>(o.window_size),
              o.shift.hook_layer, absl::StrJoin(o.layers, ",").c_str(), o.shift.steps, o.lambda);
  if (r.truncated) {
    std::printf("targets truncated to fit the context%s: %lld of %zu cases\n",
                e.max_target_tokens > 0 ? absl::StrCat(" / ", e.max_target_tokens, " tokens").c_str() : "",
                static_cast<long long>(r.truncated), r.cases.size());
  }
  std::printf("%-12s %10s %10s %10s %10s\n", "question", "char-BLEU", "ROUGE-1 r", "ROUGE-2 r", "ROUGE-L r");
  std::printf("%-12s %10.4f %10.4f %10.4f %10.4f\n", "original", m.bleu_char, m.rouge1_r, m.rouge2_r, m.rougeL_r);
  std::printf("%-12s %10.4f %10.4f %10.4f %10.4f\n", "paraphrase", m.para_bleu_char, m.para_rouge1_r, m.para_rouge2_r,
              m.para_rougeL_r);
  std::printf("locality     %.4f of probe tokens unchanged (free-running greedy), %.4f top-1 unchanged (teacher-forced), "
              "mean KL %.4f nats\n", m.locality, m.locality_top1, m.locality_kl);
  std::printf("target NLL   before %.3f · all shifts applied %.3f · after update %.3f (nats/token, %lld tokens mean)\n",
              m.nll_before, m.nll_hooked, m.nll_after, static_cast<long long>(m.target_tokens));
  std::string stages;
  for (const auto& [stage, s] : m.stage_seconds) absl::StrAppend(&stages, stages.empty() ? "" : ", ", stage, " ", s);
  std::printf("seconds/edit %.3f (%s)\n", m.seconds, stages.c_str());
}

absl::Status Eval(const Args& args, const std::string& command) {
  if (!args.Has("cases")) return absl::InvalidArgumentError("--cases FILE is required");
  MUKE_ASSIGN_OR_RETURN(std::vector<EvalCase> cases, LoadEvalCases(args.Get("cases")));
  MUKE_ASSIGN_OR_RETURN(auto model, LoadModelFromFlags(args));
  MUKE_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(args.Get("model")));
  auto chat = ChatFormat::Load(args.Get("model"));
  if (!chat.ok() && !absl::IsNotFound(chat.status())) return chat.status();
  MUKE_ASSIGN_OR_RETURN(EvalOptions options, OptionsFromFlags(args, model->config()));
  EditorConfig config;
  config.statistics.cache_dir = args.Get("statistics-dir");
  MUKE_ASSIGN_OR_RETURN(config.statistics.num_samples, args.GetInt("statistics-samples", 512));
  Editor editor(*model, *tokenizer, chat.ok() ? &*chat : nullptr, config);

  const bool verbose = args.Has("verbose");
  auto progress = [&](int done, int total, const CaseReport& c) {
    std::fprintf(stderr, "[%d/%d] %s: char-BLEU %.3f, ROUGE-L %.3f, locality %.3f (top-1 %.3f), NLL %.2f → %.2f → %.2f, %.2f s\n",
                 done, total, c.source.id.c_str(), c.bleu_char, c.rougeL_r, c.locality, c.locality_top1, c.nll_before, c.nll_hooked,
                 c.nll_after, c.seconds);
    if (verbose) std::fprintf(stderr, "  answer:     %s\n  prediction: %s\n", c.answer.c_str(), c.prediction.c_str());
  };
  MUKE_ASSIGN_OR_RETURN(EvalReport report, RunEvaluation(editor, *tokenizer, cases, options, progress));
  PrintTable(report, options);
  if (args.Has("out")) {
    nlohmann::json j = {{"config", ConfigJson(args, options, command)}, {"summary", SummaryJson(report)}};
    j["cases"] = nlohmann::json::array();
    for (const CaseReport& c : report.cases) j["cases"].push_back(CaseJson(c));
    std::ofstream out(args.Get("out"));
    out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!out) return absl::InternalError(absl::StrCat(args.Get("out"), ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace

int RunEval(int argc, char** argv, int first) {
  std::set<std::string> value_flags = kModelFlags;
  value_flags.insert({"cases", "strategy", "update", "limit", "max-target-tokens", "margin", "out", "window",
                      "hook-layer", "layers", "steps", "lr", "clamp", "regulariser", "early-stop", "lambda",
                      "null-space-threshold", "unke-lr", "unke-steps", "preservation", "preservation-weight", "coefficient-order",
                      "statistics-dir", "statistics-samples"});
  auto args = Args::Parse(argc, argv, first, value_flags,
                          {"sequential", "full-recompute", "fp16-coefficients", "verbose"});
  std::vector<std::string> words(argv, argv + argc);
  absl::Status status = args.ok() ? Eval(*args, absl::StrJoin(words, " ")) : args.status();
  if (!status.ok()) {
    std::cerr << "eval: " << status.message() << "\n";
    return absl::IsInvalidArgument(status) ? kExitUsage : kExitFailure;
  }
  return 0;
}

}  // namespace muke
