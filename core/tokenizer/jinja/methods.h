// Python methods templates call on values: str.strip(), str.split(), dict.get(), dict.items(), ...
// Only non-mutating methods exist, as in transformers' ImmutableSandboxedEnvironment.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "core/tokenizer/jinja/value.h"

namespace muke::jinja {

// True when `object.name` names one of the supported methods of object's type.
bool HasMethod(const Value& object, std::string_view name);
// Calls method `name` (HasMethod must hold) of `object`.
absl::StatusOr<Value> CallMethod(const Value& object, std::string_view name, const CallArgs& args);

}  // namespace muke::jinja
