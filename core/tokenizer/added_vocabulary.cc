#include "core/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/unicode.h"
#include "core/tokenizer/utf8.h"
#include "core/util/string_view.h"

namespace muke {
namespace {

// Rust's char::is_alphanumeric || '_' — a "word" character for single_word tokens.
bool IsWordChar(char32_t c) { return c == U'_' || IsLetter(c) || IsNumber(c); }

char32_t LastChar(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  return i > 0 ? DecodeUtf8(s.substr(i - 1))[0] : 0;
}

}  // namespace

absl::StatusOr<AddedVocabulary> AddedVocabulary::FromJson(const nlohmann::json& tokens) {
  AddedVocabulary v;
  if (tokens.is_null()) return v;
  if (!tokens.is_array()) return absl::InvalidArgumentError("tokenizer.json: added_tokens must be a list");
  for (const nlohmann::json& t : tokens) {
    if (!t.is_object() || !t.contains("id") || !t.at("id").is_number_integer() || !t.contains("content") ||
        !t.at("content").is_string()) {
      return absl::InvalidArgumentError("tokenizer.json: each added token needs an integer id and a content");
    }
    AddedToken a;
    a.id = t.at("id").get<int64_t>();
    a.content = t.at("content").get<std::string>();
    a.single_word = t.value("single_word", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.normalized = t.value("normalized", false);
    a.special = t.value("special", false);
    if (a.content.empty()) return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: added token ", a.id, " is empty"));
    v.by_id_[a.id] = v.tokens_.size();
    v.by_content_[a.content] = v.tokens_.size();
    v.first_byte_[static_cast<unsigned char>(a.content[0])] = true;
    v.max_length_ = std::max(v.max_length_, a.content.size());
    v.tokens_.push_back(std::move(a));
  }
  return v;
}

const AddedToken* AddedVocabulary::Find(int64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int64_t> AddedVocabulary::FindByContent(std::string_view content) const {
  auto it = by_content_.find(AbslView(content));
  if (it == by_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

std::optional<std::pair<size_t, const AddedToken*>> AddedVocabulary::LongestMatchAt(std::string_view text, size_t pos,
                                                                                    bool normalized) const {
  if (!first_byte_[static_cast<unsigned char>(text[pos])]) return std::nullopt;
  const size_t longest = std::min(max_length_, text.size() - pos);
  for (size_t len = longest; len > 0; --len) {
    auto it = by_content_.find(AbslView(text.substr(pos, len)));
    if (it != by_content_.end() && tokens_[it->second].normalized == normalized) {
      return std::make_pair(len, &tokens_[it->second]);
    }
  }
  return std::nullopt;
}

std::vector<TextSegment> AddedVocabulary::Split(std::string_view text, bool normalized) const {
  std::vector<TextSegment> out;
  size_t done = 0;  // end of the last emitted segment
  size_t pos = 0;
  while (pos < text.size()) {
    auto match = tokens_.empty() ? std::nullopt : LongestMatchAt(text, pos, normalized);
    if (!match) {
      pos += Utf8SequenceLength(static_cast<unsigned char>(text[pos]));
      continue;
    }
    const AddedToken& token = *match->second;
    size_t start = pos, stop = pos + match->first;
    pos = stop;
    if (token.single_word) {
      const bool word_before = start > 0 && IsWordChar(LastChar(text.substr(0, start)));
      const bool word_after =
          stop < text.size() &&
          IsWordChar(DecodeUtf8(text.substr(stop, Utf8SequenceLength(static_cast<unsigned char>(text[stop]))))[0]);
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > done && IsWhitespace(LastChar(text.substr(0, s)))) {
        do --s;
        while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80);
      }
      start = s;
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        const size_t len = Utf8SequenceLength(static_cast<unsigned char>(text[stop]));
        if (!IsWhitespace(DecodeUtf8(text.substr(stop, len))[0])) break;
        stop += len;
      }
    }
    if (done < start) out.push_back({done, start, std::nullopt});
    out.push_back({start, stop, token.id});
    done = stop;
  }
  if (done < text.size()) out.push_back({done, text.size(), std::nullopt});
  return out;
}

}  // namespace muke
