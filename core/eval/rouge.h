// ROUGE-1/2/L recall as the μKE papers compute it: pltrdy `rouge` 1.0.1, Rouge().get_scores(prediction,
// answer)[0][metric]["r"]. Apply PadPrediction (bleu.h) first to reproduce the papers' harness.
#pragma once

#include <string_view>

namespace muke {

struct RougeScores {
  double rouge1_r = 0.0;
  double rouge2_r = 0.0;
  double rougeL_r = 0.0;
};

// pltrdy's pipeline: split both texts into sentences on '.', drop empty pieces, collapse each sentence's
// whitespace runs (Python str.split()) and split it on ' ' into case-sensitive words. ROUGE-N recall is
// |hyp n-grams ∩ ref n-grams| / |ref n-grams| over the *sets* of word n-grams of all sentences joined (n-grams
// cross sentence ends; 0 when the answer has no n-gram). ROUGE-L recall is summary-level union-LCS: the set
// union of the words of one LCS (pltrdy's backtracking) per (answer sentence, prediction sentence) pair, over
// the number of distinct answer words. Where pltrdy raises ValueError (no sentence in the prediction or in the
// answer, e.g. "" or "..."), all scores are 0; a padded prediction always has a sentence. Invalid UTF-8 is read
// with U+FFFD replacement.
RougeScores RougeRecall(std::string_view prediction, std::string_view answer);

}  // namespace muke
