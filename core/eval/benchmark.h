// The benchmark runner behind `muke-tool eval`: edits each case (on the pristine model, or cumulatively), then
// generates greedily from the question and its paraphrase with the new weights and scores the answers the way
// the papers do (ALGORITHM.md §5): char-BLEU, ROUGE-1/2/L recall, a locality probe and the target NLLs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/edit/editor.h"
#include "core/eval/locality.h"

namespace muke {

struct EvalCase {
  std::string id;
  std::string question, para_question, answer;  // para_question may be empty
};

// Cases from a JSON-lines file or a JSON array (UnKEBench / EditEverything style): `id` (number or string),
// `question`, `answer`, optional `para_question`. Errors name the file, line or index and the field.
absl::StatusOr<std::vector<EvalCase>> LoadEvalCases(const std::string& path);

// Unrelated prompts for the locality probe: generic openings a story or chat model continues.
const std::vector<std::string>& DefaultLocalityPrompts();

struct EvalOptions {
  EditOptions edit;
  int64_t limit = 0;                // first N cases; 0 = all
  int64_t max_target_tokens = 0;    // > 0: targets cut to this many tokens (the case is marked truncated)
  int64_t margin_tokens = 16;       // generation budget = target tokens + margin
  bool sequential = false;          // keep every edit (apply) instead of editing the pristine model each time
  int64_t locality_new_tokens = 32;
};

struct CaseReport {
  EvalCase source;
  std::string answer;  // the scored answer: the target text, cut like the target when truncated
  bool truncated = false;
  int64_t target_tokens = 0;
  std::string prediction, para_prediction;
  double bleu_char = 0, rouge1_r = 0, rouge2_r = 0, rougeL_r = 0;
  double para_bleu_char = 0, para_rouge1_r = 0, para_rouge2_r = 0, para_rougeL_r = 0;
  double locality = 1, locality_kl = 0, locality_top1 = 1;
  double seconds = 0;  // the edit itself (Editor::Edit), not the evaluation around it
  std::map<std::string, double> stage_seconds;
  double nll_before = 0, nll_hooked = 0, nll_after = 0;
};

struct EvalReport {
  std::vector<CaseReport> cases;
  CaseReport mean;  // every numeric field averaged over the cases
  int64_t truncated = 0;
};

using EvalProgressFn = std::function<void(int done, int total, const CaseReport&)>;

absl::StatusOr<EvalReport> RunEvaluation(Editor& editor, const Tokenizer& tokenizer, const std::vector<EvalCase>& cases,
                                         const EvalOptions& options, const EvalProgressFn& progress = {});

}  // namespace muke
