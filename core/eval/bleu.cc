#include "core/eval/bleu.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/unicode.h"
#include "core/tokenizer/utf8.h"

namespace muke {
namespace {

constexpr size_t kMaxOrder = 4;

// Python's math.fsum (Shewchuk's exact partials, correctly rounded result) for finite terms.
double Fsum(const std::vector<double>& terms) {
  std::vector<double> partials;
  for (double x : terms) {
    size_t kept = 0;
    for (double y : partials) {
      if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
      const double hi = x + y;
      const double lo = y - (hi - x);
      if (lo != 0.0) partials[kept++] = lo;
      x = hi;
    }
    partials.resize(kept);
    partials.push_back(x);
  }
  size_t n = partials.size();
  if (n == 0) return 0.0;
  double hi = partials[--n];
  double lo = 0.0;
  while (n > 0) {
    const double x = hi;
    const double y = partials[--n];
    hi = x + y;
    lo = y - (hi - x);
    if (lo != 0.0) break;
  }
  // Half-way case: round-half-even on the partials must see the sign of the rest.
  if (n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0))) {
    const double y = lo * 2.0;
    const double x = hi + y;
    if (y == x - hi) hi = x;
  }
  return hi;
}

// Counts of the n-grams of `text`.
std::unordered_map<std::u32string_view, int64_t> NgramCounts(std::u32string_view text, size_t n) {
  std::unordered_map<std::u32string_view, int64_t> counts;
  for (size_t i = 0; i + n <= text.size(); ++i) ++counts[text.substr(i, n)];
  return counts;
}

// nltk's modified_precision as (numerator, denominator): hypothesis n-gram counts clipped by the reference's,
// over max(1, number of hypothesis n-grams).
std::pair<int64_t, int64_t> ModifiedPrecision(std::u32string_view hypothesis, std::u32string_view reference,
                                              size_t n) {
  const auto reference_counts = NgramCounts(reference, n);
  int64_t numerator = 0;
  int64_t total = 0;
  for (const auto& [ngram, count] : NgramCounts(hypothesis, n)) {
    const auto it = reference_counts.find(ngram);
    if (it != reference_counts.end()) numerator += std::min(count, it->second);
    total += count;
  }
  return {numerator, std::max<int64_t>(1, total)};
}

}  // namespace

std::string PadPrediction(std::string_view prediction) {
  std::string padded(prediction);
  if (padded.find(' ') == std::string::npos) padded.push_back(' ');
  return padded;
}

double CharBleu(std::string_view prediction, std::string_view answer) {
  const std::u32string hypothesis = DecodeUtf8(Utf8Lossy(prediction));
  const std::u32string reference = DecodeUtf8(Utf8Lossy(answer));
  std::vector<double> log_terms;
  for (size_t n = 1; n <= kMaxOrder; ++n) {
    const auto [numerator, denominator] = ModifiedPrecision(hypothesis, reference, n);
    if (n == 1 && numerator == 0) return 0.0;
    const double precision =
        numerator == 0 ? DBL_MIN : static_cast<double>(numerator) / static_cast<double>(denominator);
    log_terms.push_back(0.25 * std::log(precision));
  }
  // The hypothesis is not empty here (it has a matching unigram).
  const double hyp_len = static_cast<double>(hypothesis.size());
  const double ref_len = static_cast<double>(reference.size());
  const double brevity_penalty = hyp_len > ref_len ? 1.0 : std::exp(1.0 - ref_len / hyp_len);
  return brevity_penalty * std::exp(Fsum(log_terms));
}

}  // namespace muke
