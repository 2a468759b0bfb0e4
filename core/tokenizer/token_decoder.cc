#include "core/tokenizer/token_decoder.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pattern.h"
#include "core/tokenizer/unicode.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status.h"

namespace muke {
namespace {

using nlohmann::json;
using Pieces = std::vector<std::string>;
constexpr char kReplacementChar[] = "\xEF\xBF\xBD";  // U+FFFD

absl::Status AppendSteps(const json& j, std::vector<std::function<Pieces(Pieces)>>* steps) {
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    for (const json& d : j.value("decoders", json::array())) MUKE_RETURN_IF_ERROR(AppendSteps(d, steps));
  } else if (type == "ByteLevel") {
    steps->push_back([](Pieces pieces) {
      std::string bytes;
      for (const std::string& p : pieces) {
        const size_t before = bytes.size();
        if (!ByteLevelToBytes(p, &bytes)) {
          bytes.resize(before);
          bytes += p;  // characters outside the byte alphabet pass through as their UTF-8
        }
      }
      return Pieces{Utf8Lossy(bytes)};
    });
  } else if (type == "Metaspace") {
    const std::string replacement = j.value("replacement", "\xE2\x96\x81");
    std::string scheme = j.value("prepend_scheme", "");
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    steps->push_back([replacement, scheme](Pieces pieces) {
      for (size_t i = 0; i < pieces.size(); ++i) {
        // The first piece loses its replacement characters (the prepended space), later ones become spaces.
        const std::string with = (i == 0 && scheme != "never") ? "" : " ";
        pieces[i] = Pattern::Literal(replacement).ReplaceAll(pieces[i], with);
      }
      return pieces;
    });
  } else if (type == "ByteFallback") {
    steps->push_back([](Pieces pieces) {
      Pieces out;
      std::string pending;
      size_t pending_count = 0;
      auto flush = [&] {
        if (pending_count == 0) return;
        if (IsValidUtf8(pending)) {
          out.push_back(pending);
        } else {
          for (size_t k = 0; k < pending_count; ++k) out.push_back(kReplacementChar);
        }
        pending.clear();
        pending_count = 0;
      };
      for (std::string& p : pieces) {
        unsigned value;
        if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' && std::isxdigit(p[3]) &&
            std::isxdigit(p[4]) && std::sscanf(p.c_str() + 3, "%2x", &value) == 1) {
          pending.push_back(static_cast<char>(value));
          ++pending_count;
        } else {
          flush();
          out.push_back(std::move(p));
        }
      }
      flush();
      return out;
    });
  } else if (type == "Fuse") {
    steps->push_back([](Pieces pieces) { return Pieces{absl::StrJoin(pieces, "")}; });
  } else if (type == "Strip") {
    MUKE_ASSIGN_OR_RETURN(std::string content_utf8, [&]() -> absl::StatusOr<std::string> {
      if (!j.contains("content") || !j.at("content").is_string()) {
        return absl::InvalidArgumentError("tokenizer.json: Strip decoder needs a content character");
      }
      return j.at("content").get<std::string>();
    }());
    const std::u32string content = DecodeUtf8(content_utf8);
    if (content.size() != 1) return absl::InvalidArgumentError("tokenizer.json: Strip content must be one character");
    const size_t start = j.value("start", 0), stop = j.value("stop", 0);
    steps->push_back([c = content[0], start, stop](Pieces pieces) {
      for (std::string& p : pieces) {
        const std::u32string cps = DecodeUtf8(p);
        size_t start_cut = 0, stop_cut = 0;
        while (start_cut < start && start_cut < cps.size() && cps[start_cut] == c) ++start_cut;
        while (stop_cut < stop && stop_cut < cps.size() && cps[cps.size() - 1 - stop_cut] == c) ++stop_cut;
        // As in the crate: keep (byte length - cuts) characters after the start cut.
        const size_t keep = p.size() >= start_cut + stop_cut ? p.size() - start_cut - stop_cut : 0;
        std::string out;
        for (size_t k = start_cut; k < cps.size() && k - start_cut < keep; ++k) AppendUtf8(cps[k], &out);
        p = std::move(out);
      }
      return pieces;
    });
  } else if (type == "Replace") {
    MUKE_ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(j.value("pattern", json())));
    const std::string content = j.value("content", "");
    steps->push_back([pattern, content](Pieces pieces) {
      for (std::string& p : pieces) p = pattern.ReplaceAll(p, content);
      return pieces;
    });
  } else {
    return absl::UnimplementedError(absl::StrCat("tokenizer.json: decoder type '", type, "' is not supported"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenDecoder> TokenDecoder::FromJson(const json& j) {
  TokenDecoder d;
  if (j.is_null()) return d;
  d.has_decoder_ = true;
  MUKE_RETURN_IF_ERROR(AppendSteps(j, &d.steps_));
  return d;
}

std::string TokenDecoder::Decode(std::vector<std::string> pieces) const {
  if (!has_decoder_) return absl::StrJoin(pieces, " ");
  for (const Step& step : steps_) pieces = step(std::move(pieces));
  return absl::StrJoin(pieces, "");
}

}  // namespace muke
