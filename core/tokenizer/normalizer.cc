#include "core/tokenizer/normalizer.h"

#include "absl/strings/str_cat.h"
#include "core/tokenizer/pattern.h"
#include "core/tokenizer/unicode.h"
#include "core/util/status.h"

namespace muke {
namespace {

using nlohmann::json;
using Step = std::function<void(std::string&)>;

absl::Status AppendSteps(const json& j, std::vector<Step>* steps) {
  if (j.is_null()) return absl::OkStatus();
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    for (const json& n : j.value("normalizers", json::array())) MUKE_RETURN_IF_ERROR(AppendSteps(n, steps));
  } else if (type == "NFC") {
    steps->push_back([](std::string& s) { s = NormalizeNfc(s); });
  } else if (type == "NFD") {
    steps->push_back([](std::string& s) { s = NormalizeNfd(s); });
  } else if (type == "NFKC") {
    steps->push_back([](std::string& s) { s = NormalizeNfkc(s); });
  } else if (type == "NFKD") {
    steps->push_back([](std::string& s) { s = NormalizeNfkd(s); });
  } else if (type == "Lowercase") {
    steps->push_back([](std::string& s) { s = ToLowercase(s); });
  } else if (type == "Strip") {
    const bool left = j.value("strip_left", true), right = j.value("strip_right", true);
    steps->push_back([left, right](std::string& s) {
      std::u32string cps = DecodeUtf8(s);
      size_t b = 0, e = cps.size();
      while (left && b < e && IsWhitespace(cps[b])) ++b;
      while (right && e > b && IsWhitespace(cps[e - 1])) --e;
      std::string out;
      for (size_t i = b; i < e; ++i) AppendUtf8(cps[i], &out);
      s = std::move(out);
    });
  } else if (type == "Replace") {
    MUKE_ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(j.value("pattern", json())));
    const std::string content = j.value("content", "");
    steps->push_back([pattern, content](std::string& s) { s = pattern.ReplaceAll(s, content); });
  } else if (type == "Prepend") {
    const std::string prepend = j.value("prepend", "");
    steps->push_back([prepend](std::string& s) {
      if (!s.empty()) s = prepend + s;
    });
  } else {
    return absl::UnimplementedError(absl::StrCat("tokenizer.json: normalizer type '", type, "' is not supported"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Normalizer> Normalizer::FromJson(const json& j) {
  Normalizer n;
  MUKE_RETURN_IF_ERROR(AppendSteps(j, &n.steps_));
  return n;
}

std::string Normalizer::Normalize(std::string text) const {
  for (const Step& step : steps_) step(text);
  return text;
}

}  // namespace muke
