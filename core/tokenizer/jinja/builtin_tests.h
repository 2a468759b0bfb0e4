// Jinja2's builtin tests: `value is name`, `value is name(args)`, `value is name arg`.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "core/tokenizer/jinja/value.h"

namespace muke::jinja {

bool IsKnownTest(std::string_view name);
// Runs test `name` (which must be known) on `operand`.
absl::StatusOr<bool> RunTest(std::string_view name, const Value& operand, const CallArgs& args);

}  // namespace muke::jinja
