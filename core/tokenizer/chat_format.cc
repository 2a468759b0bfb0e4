#include "core/tokenizer/chat_format.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/util/status.h"

namespace muke {
namespace {

using nlohmann::json;

// The template source from tokenizer_config.json's `chat_template` value.
absl::StatusOr<std::string> TemplateSource(const json& value, const std::string& path) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    for (const json& entry : value) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry.at("template").is_string()) {
        return entry.at("template").get<std::string>();
      }
    }
    return absl::NotFoundError(absl::StrCat(path, ": chat_template has no template named 'default'"));
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ": chat_template must be a string or a list"));
}

}  // namespace

absl::StatusOr<ChatFormat> ChatFormat::Load(const std::string& dir) {
  const std::string config_path = dir + "/tokenizer_config.json";
  json config = json::object();
  if (std::ifstream in(config_path); in) {
    config = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path, ": not a JSON object"));
    }
  }
  std::string source;
  if (std::ifstream file(dir + "/chat_template.jinja"); file) {
    std::stringstream buffer;
    buffer << file.rdbuf();
    source = buffer.str();
  } else if (config.contains("chat_template") && !config.at("chat_template").is_null()) {
    MUKE_ASSIGN_OR_RETURN(source, TemplateSource(config.at("chat_template"), config_path));
  } else {
    return absl::NotFoundError(absl::StrCat(dir, ": the model has no chat template"));
  }
  auto parsed = ChatTemplate::Parse(source);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(), absl::StrCat(dir, " chat template: ", parsed.status().message()));
  }
  // Special tokens are strings or AddedToken objects {"content": ...}; transformers passes them all.
  std::map<std::string, std::string> special;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    if (!config.contains(key)) continue;
    const json& v = config.at(key);
    if (v.is_string()) special[key] = v.get<std::string>();
    if (v.is_object() && v.contains("content") && v.at("content").is_string()) special[key] = v.at("content");
  }
  return ChatFormat(std::move(parsed).value(), std::move(special));
}

absl::StatusOr<std::string> ChatFormat::Render(const std::vector<ChatMessage>& messages,
                                               bool add_generation_prompt) const {
  return template_.Render(messages, add_generation_prompt, special_tokens_);
}

}  // namespace muke
