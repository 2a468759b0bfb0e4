// Jinja2's builtin filters (`value | name(args)`), with transformers' `tojson` (ensure_ascii=False, indent,
// separators, sort_keys).
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "core/tokenizer/jinja/value.h"

namespace muke::jinja {

bool IsKnownFilter(std::string_view name);
// Applies filter `name` (which must be known) to `operand`.
absl::StatusOr<Value> RunFilter(std::string_view name, const Value& operand, const CallArgs& args);

}  // namespace muke::jinja
