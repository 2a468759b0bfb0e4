#include "core/tokenizer/post_processor.h"

#include "absl/strings/str_cat.h"
#include "core/util/status.h"

namespace muke {

using nlohmann::json;

absl::Status PostProcessor::Append(const json& j, PostProcessor* p) {
  if (j.is_null()) return absl::OkStatus();
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    for (const json& s : j.value("processors", json::array())) MUKE_RETURN_IF_ERROR(Append(s, p));
    return absl::OkStatus();
  }
  if (type == "ByteLevel") return absl::OkStatus();  // only adjusts offsets
  if (type != "TemplateProcessing") {
    return absl::UnimplementedError(absl::StrCat("tokenizer.json: post_processor type '", type, "' is not supported"));
  }
  const json special = j.value("special_tokens", json::object());
  bool seen_sequence = false;
  for (const json& item : j.value("single", json::array())) {
    if (item.contains("Sequence")) {
      if (item.at("Sequence").value("id", "A") != "A") {
        return absl::InvalidArgumentError("tokenizer.json: single template may only use sequence $A");
      }
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      const std::string name = item.at("SpecialToken").value("id", "");
      if (!special.contains(name) || !special.at(name).contains("ids")) {
        return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: template token '", name, "' has no ids"));
      }
      std::vector<int64_t>& target = seen_sequence ? p->suffix_ : p->prefix_;
      for (const json& id : special.at(name).at("ids")) target.push_back(id.get<int64_t>());
    } else {
      return absl::InvalidArgumentError("tokenizer.json: unknown template piece");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PostProcessor> PostProcessor::FromJson(const json& j) {
  PostProcessor p;
  MUKE_RETURN_IF_ERROR(Append(j, &p));
  return p;
}

std::vector<int64_t> PostProcessor::Process(std::vector<int64_t> ids) const {
  std::vector<int64_t> out = prefix_;
  out.insert(out.end(), ids.begin(), ids.end());
  out.insert(out.end(), suffix_.begin(), suffix_.end());
  return out;
}

}  // namespace muke
