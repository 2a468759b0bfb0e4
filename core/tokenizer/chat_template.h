// Chat templates rendered exactly as Hugging Face transformers renders `chat_template` from
// tokenizer_config.json (Jinja2 with trim_blocks and lstrip_blocks, raise_exception, strftime_now, tojson).
// The Jinja subset lives in core/tokenizer/jinja/.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"
#include "core/tokenizer/jinja/interpreter.h"

namespace muke {

struct ChatMessage {
  std::string role;
  std::string content;
};

// A parsed chat template. Immutable after Parse: copies share the syntax tree and may render concurrently.
class ChatTemplate {
 public:
  using RenderOptions = jinja::RenderOptions;

  // Parses a Jinja chat template once; errors name the line/column and problem (including unknown filters and
  // tests, as Jinja2 reports them when compiling).
  static absl::StatusOr<ChatTemplate> Parse(const std::string& source);

  // Renders with transformers' variables: `messages`, `add_generation_prompt`, `tools` and `documents` (none),
  // and each entry of `special_tokens` (bos_token, eos_token, ...) as a string variable. A template's
  // raise_exception(msg) fails with INVALID_ARGUMENT and exactly `msg`.
  absl::StatusOr<std::string> Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                     const std::map<std::string, std::string>& special_tokens,
                                     const RenderOptions& options = {}) const;

  // Renders with an arbitrary context: each key of the JSON object `context` becomes a template variable
  // (messages with tool calls, tools, date_string, enable_thinking, ...); add_generation_prompt defaults to
  // false, tools and documents to none, as in transformers. Object key order is kept (tojson shows it).
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::Program> program) : program_(std::move(program)) {}
  absl::StatusOr<std::string> RenderVariables(jinja::Dict variables, const RenderOptions& options) const;

  std::shared_ptr<const jinja::Program> program_;
};

}  // namespace muke
