// Character-level BLEU-4 as the μKE papers compute it: nltk 3.8 `sentence_bleu([answer], prediction)` on raw
// Python strings, so the tokens are Unicode code points; default weights (0.25 each), no smoothing.
#pragma once

#include <string>
#include <string_view>

namespace muke {

// The papers' harness appends one space to a prediction that contains no ' ' (U+0020) before computing any
// metric, BLEU and ROUGE alike; the reference scores are CharBleu(PadPrediction(p), a) and
// RougeRecall(PadPrediction(p), a). Returns `prediction` itself otherwise.
std::string PadPrediction(std::string_view prediction);

// nltk 3.8 sentence_bleu([answer], prediction), reproducing its floating-point result: clipped n-gram
// precisions (n = 1..4) against the single reference, brevity penalty exp(1 - |answer| / |prediction|) when the
// prediction is not longer, 0 when no character of the prediction occurs in the answer (this includes an empty
// prediction), and an order n > 1 without any match counted as precision DBL_MIN (nltk's method0), which makes
// the score tiny but not zero. Lengths count code points; invalid UTF-8 is read with U+FFFD replacement.
double CharBleu(std::string_view prediction, std::string_view answer);

}  // namespace muke
