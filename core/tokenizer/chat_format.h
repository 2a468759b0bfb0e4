// A model directory's chat template together with the special-token strings it is rendered with, as
// transformers' apply_chat_template does.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer/chat_template.h"

namespace muke {

class ChatFormat {
 public:
  // Reads `chat_template.jinja` when present, else tokenizer_config.json's `chat_template` (a string, or a list
  // of named templates of which "default" is used), and the bos/eos/unk/pad token strings. NOT_FOUND when the
  // model has no chat template.
  static absl::StatusOr<ChatFormat> Load(const std::string& dir);

  // The prompt string for `messages`; encode it without adding special tokens (the template writes them).
  absl::StatusOr<std::string> Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  ChatFormat(ChatTemplate chat_template, std::map<std::string, std::string> special_tokens)
      : template_(std::move(chat_template)), special_tokens_(std::move(special_tokens)) {}

  ChatTemplate template_;
  std::map<std::string, std::string> special_tokens_;
};

}  // namespace muke
