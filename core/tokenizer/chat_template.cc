#include "core/tokenizer/chat_template.h"

#include <nlohmann/json.hpp>

#include "core/tokenizer/jinja/lexer.h"
#include "core/tokenizer/jinja/parser.h"
#include "core/util/status.h"

namespace muke {

absl::StatusOr<ChatTemplate> ChatTemplate::Parse(const std::string& source) {
  MUKE_ASSIGN_OR_RETURN(std::vector<jinja::Token> tokens, jinja::Tokenize(source));
  MUKE_ASSIGN_OR_RETURN(jinja::Program program, jinja::Parse(tokens));
  return ChatTemplate(std::make_shared<const jinja::Program>(std::move(program)));
}

absl::StatusOr<std::string> ChatTemplate::Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                                 const std::map<std::string, std::string>& special_tokens,
                                                 const RenderOptions& options) const {
  std::vector<jinja::Value> message_values;
  message_values.reserve(messages.size());
  for (const ChatMessage& message : messages) {
    jinja::Dict dict;
    dict.Set("role", jinja::Value::String(message.role));
    dict.Set("content", jinja::Value::String(message.content));
    message_values.push_back(jinja::Value::MakeDict(std::move(dict)));
  }
  jinja::Dict variables;
  variables.Set("messages", jinja::Value::MakeList(std::move(message_values)));
  variables.Set("add_generation_prompt", jinja::Value::Bool(add_generation_prompt));
  for (const auto& [name, token] : special_tokens) variables.Set(name, jinja::Value::String(token));
  return RenderVariables(std::move(variables), options);
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context,
                                                 const RenderOptions& options) const {
  if (!context.is_object()) return absl::InvalidArgumentError("chat template context must be a JSON object");
  jinja::Dict variables;
  for (const auto& [name, json] : context.items()) {
    MUKE_ASSIGN_OR_RETURN(jinja::Value value, jinja::FromJson(json));
    variables.Set(name, std::move(value));
  }
  return RenderVariables(std::move(variables), options);
}

absl::StatusOr<std::string> ChatTemplate::RenderVariables(jinja::Dict variables, const RenderOptions& options) const {
  if (variables.Find("add_generation_prompt") == nullptr)
    variables.Set("add_generation_prompt", jinja::Value::Bool(false));
  for (const char* name : {"tools", "documents"}) {
    if (variables.Find(name) == nullptr) variables.Set(name, jinja::Value::None());
  }
  return jinja::Render(*program_, variables, options);
}

}  // namespace muke
