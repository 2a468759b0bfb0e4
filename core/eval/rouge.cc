#include "core/eval/rouge.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/tokenizer/unicode.h"
#include "core/tokenizer/utf8.h"

namespace muke {
namespace {

using Words = std::vector<std::u32string>;

// Python's str.isspace(), which str.split() splits on.
bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// pltrdy's preprocessing and _split_into_words per sentence: [" ".join(s.split()) for s in text.split(".") if
// len(s) > 0], each then split on " ". A whitespace-only sentence becomes the single empty word.
std::vector<Words> SplitSentences(std::string_view text) {
  const std::u32string code_points = DecodeUtf8(Utf8Lossy(text));
  std::vector<Words> sentences;
  size_t start = 0;
  while (start <= code_points.size()) {
    size_t end = code_points.find(U'.', start);
    if (end == std::u32string::npos) end = code_points.size();
    if (end > start) {
      Words words;
      std::u32string word;
      for (size_t i = start; i <= end; ++i) {
        if (i < end && !IsPythonSpace(code_points[i])) {
          word.push_back(code_points[i]);
        } else if (!word.empty()) {
          words.push_back(std::move(word));
          word.clear();
        }
      }
      if (words.empty()) words.emplace_back();
      sentences.push_back(std::move(words));
    }
    start = end + 1;
  }
  return sentences;
}

// The set of word n-grams of all sentences concatenated (pltrdy's _get_word_ngrams), each n-gram as its words
// joined by ' ' — unambiguous since words hold no space.
std::unordered_set<std::u32string> NgramSet(const std::vector<Words>& sentences, size_t n) {
  Words words;
  for (const Words& sentence : sentences) words.insert(words.end(), sentence.begin(), sentence.end());
  std::unordered_set<std::u32string> ngrams;
  for (size_t i = 0; i + n <= words.size(); ++i) {
    std::u32string ngram = words[i];
    for (size_t k = 1; k < n; ++k) ngram += U' ' + words[i + k];
    ngrams.insert(std::move(ngram));
  }
  return ngrams;
}

double RougeNRecall(const std::vector<Words>& hypothesis, const std::vector<Words>& reference, size_t n) {
  const auto reference_ngrams = NgramSet(reference, n);
  if (reference_ngrams.empty()) return 0.0;
  size_t overlap = 0;
  for (const std::u32string& ngram : NgramSet(hypothesis, n)) overlap += reference_ngrams.count(ngram);
  return static_cast<double>(overlap) / static_cast<double>(reference_ngrams.size());
}

// Adds to `out` the words of the LCS of `x` (reference) and `y` (hypothesis) that pltrdy's _recon_lcs
// reconstructs: backtracking takes a match, else steps in x when that keeps a strictly longer LCS, else in y.
void AddLcsWords(const Words& x, const Words& y, std::unordered_set<std::u32string>* out) {
  const size_t cols = y.size() + 1;
  std::vector<size_t> table((x.size() + 1) * cols, 0);
  for (size_t i = 1; i <= x.size(); ++i) {
    for (size_t j = 1; j <= y.size(); ++j) {
      table[i * cols + j] = x[i - 1] == y[j - 1] ? table[(i - 1) * cols + j - 1] + 1
                                                 : std::max(table[(i - 1) * cols + j], table[i * cols + j - 1]);
    }
  }
  size_t i = x.size();
  size_t j = y.size();
  while (i > 0 && j > 0) {
    if (x[i - 1] == y[j - 1]) {
      out->insert(x[i - 1]);
      --i;
      --j;
    } else if (table[(i - 1) * cols + j] > table[i * cols + j - 1]) {
      --i;
    } else {
      --j;
    }
  }
}

double RougeLRecall(const std::vector<Words>& hypothesis, const std::vector<Words>& reference) {
  std::unordered_set<std::u32string> reference_words;
  for (const Words& sentence : reference) reference_words.insert(sentence.begin(), sentence.end());
  std::unordered_set<std::u32string> lcs_union;
  for (const Words& reference_sentence : reference) {
    for (const Words& sentence : hypothesis) AddLcsWords(reference_sentence, sentence, &lcs_union);
  }
  return static_cast<double>(lcs_union.size()) / static_cast<double>(reference_words.size());
}

}  // namespace

RougeScores RougeRecall(std::string_view prediction, std::string_view answer) {
  const std::vector<Words> hypothesis = SplitSentences(prediction);
  const std::vector<Words> reference = SplitSentences(answer);
  if (hypothesis.empty() || reference.empty()) return {};
  return {RougeNRecall(hypothesis, reference, 1), RougeNRecall(hypothesis, reference, 2),
          RougeLRecall(hypothesis, reference)};
}

}  // namespace muke
