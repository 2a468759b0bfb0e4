#include "core/tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status.h"
#include "core/util/string_view.h"

namespace muke {
namespace {

using nlohmann::json;

std::optional<std::string> OptionalString(const json& model, const char* key) {
  if (!model.contains(key) || !model.at(key).is_string()) return std::nullopt;
  return model.at(key).get<std::string>();
}

absl::StatusOr<bool> Flag(const json& model, const char* key) {
  if (!model.contains(key) || model.at(key).is_null()) return false;
  if (!model.at(key).is_boolean()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: model.", key, " must be true or false"));
  }
  return model.at(key).get<bool>();
}

// A merge candidate in the priority queue: lowest rank first, then leftmost position.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const json& model) {
  if (!model.is_object() || model.value("type", "BPE") != "BPE") {
    return absl::UnimplementedError("tokenizer.json: only the BPE model type is supported");
  }
  if (!model.contains("vocab") || !model.at("vocab").is_object()) {
    return absl::InvalidArgumentError("tokenizer.json: model.vocab must be an object");
  }
  std::unique_ptr<BpeModel> m(new BpeModel());
  for (const auto& [token, id] : model.at("vocab").items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 26)) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: vocab entry '", token, "' has a bad id"));
    }
    const int64_t i = id.get<int64_t>();
    m->vocab_[token] = i;
    if (static_cast<size_t>(i) >= m->id_to_token_.size()) m->id_to_token_.resize(i + 1);
    m->id_to_token_[i] = token;
  }
  m->continuing_subword_prefix_ = OptionalString(model, "continuing_subword_prefix").value_or("");
  m->end_of_word_suffix_ = OptionalString(model, "end_of_word_suffix").value_or("");
  MUKE_ASSIGN_OR_RETURN(m->byte_fallback_, Flag(model, "byte_fallback"));
  MUKE_ASSIGN_OR_RETURN(m->fuse_unk_, Flag(model, "fuse_unk"));
  MUKE_ASSIGN_OR_RETURN(m->ignore_merges_, Flag(model, "ignore_merges"));
  if (auto unk = OptionalString(model, "unk_token")) {
    m->unk_id_ = m->TokenToId(*unk);
    if (!m->unk_id_) return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: unk_token '", *unk, "' not in vocab"));
  }
  m->byte_ids_.resize(256);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m->byte_ids_[b] = m->TokenToId(name);
  }

  const json merges = model.value("merges", json::array());
  if (!merges.is_array()) return absl::InvalidArgumentError("tokenizer.json: model.merges must be a list");
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& entry = merges[rank];
    std::string a, b;
    if (entry.is_string()) {
      const std::string s = entry.get<std::string>();
      const auto space = s.find(' ');
      if (space == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge ", rank, " '", s, "' is not 'a b'"));
      }
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge ", rank, " is neither 'a b' nor [a, b]"));
    }
    // The merged token drops the right part's continuing-subword prefix.
    const std::string& prefix = m->continuing_subword_prefix_;
    const std::string merged = a + (b.compare(0, prefix.size(), prefix) == 0 ? b.substr(prefix.size()) : b);
    auto ia = m->TokenToId(a), ib = m->TokenToId(b), im = m->TokenToId(merged);
    if (!ia || !ib || !im) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: merge ", rank, " ('", a, "', '", b,
                                                     "') uses a token missing from the vocab"));
    }
    const uint64_t key = (static_cast<uint64_t>(*ia) << 32) | static_cast<uint64_t>(*ib);
    m->merges_.try_emplace(key, Merge{static_cast<int32_t>(rank), static_cast<int32_t>(*im)});
  }
  return m;
}

std::optional<int64_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(AbslView(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string& BpeModel::IdToToken(int64_t id) const {
  static const std::string kEmpty;
  return id >= 0 && id < vocab_size() ? id_to_token_[id] : kEmpty;
}

std::vector<int64_t> BpeModel::MergeWord(std::string_view word) const {
  // Initial symbols: one per character (with prefix/suffix), byte fallback or unk for unknown characters.
  std::vector<int64_t> symbols;
  std::optional<int64_t> pending_unk;
  size_t i = 0;
  while (i < word.size()) {
    const size_t len = Utf8SequenceLength(static_cast<unsigned char>(word[i]));
    std::string piece(word.substr(i, len));
    if (i > 0) piece = continuing_subword_prefix_ + piece;
    if (i + len >= word.size()) piece += end_of_word_suffix_;
    i += len;
    if (auto id = TokenToId(piece)) {
      if (pending_unk) symbols.push_back(*pending_unk), pending_unk.reset();
      symbols.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : piece) all = all && byte_ids_[b].has_value();
      if (all) {
        for (unsigned char b : piece) symbols.push_back(*byte_ids_[b]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && !fuse_unk_) symbols.push_back(*pending_unk);
      pending_unk = unk_id_;
    }
  }
  if (pending_unk) symbols.push_back(*pending_unk);

  // Merge pairs in rank order over a linked list of symbols.
  const int32_t n = static_cast<int32_t>(symbols.size());
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> removed(n, false);
  for (int32_t k = 0; k < n; ++k) prev[k] = k - 1, next[k] = k + 1 < n ? k + 1 : -1;
  auto lookup = [&](int64_t a, int64_t b) -> const Merge* {
    auto it = merges_.find((static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  std::priority_queue<Candidate> queue;
  for (int32_t k = 0; k + 1 < n; ++k) {
    if (const Merge* m = lookup(symbols[k], symbols[k + 1])) queue.push({m->rank, k, m->new_id});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    if (removed[top.pos] || next[top.pos] == -1) continue;
    const int32_t right = next[top.pos];
    const Merge* current = lookup(symbols[top.pos], symbols[right]);
    if (!current || current->new_id != top.new_id) continue;  // stale entry
    symbols[top.pos] = top.new_id;
    removed[right] = true;
    next[top.pos] = next[right];
    if (next[right] != -1) prev[next[right]] = top.pos;
    if (prev[top.pos] != -1) {
      if (const Merge* m = lookup(symbols[prev[top.pos]], symbols[top.pos])) {
        queue.push({m->rank, prev[top.pos], m->new_id});
      }
    }
    if (next[top.pos] != -1) {
      if (const Merge* m = lookup(symbols[top.pos], symbols[next[top.pos]])) queue.push({m->rank, top.pos, m->new_id});
    }
  }
  std::vector<int64_t> out;
  for (int32_t k = 0; k < n; ++k) {
    if (!removed[k]) out.push_back(symbols[k]);
  }
  return out;
}

void BpeModel::Tokenize(std::string_view word, std::vector<int64_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto id = TokenToId(word)) {
      ids->push_back(*id);
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(AbslView(word));
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int64_t> merged = MergeWord(word);
  ids->insert(ids->end(), merged.begin(), merged.end());
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(merged));
}

}  // namespace muke
