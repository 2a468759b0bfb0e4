// Renders a parsed template with Jinja2 semantics: scoping (loop bodies and macros get their own scope, `if`
// does not), jinja2's default Undefined, Python str() of values, loop controls, and the globals transformers
// provides (raise_exception, strftime_now) next to Jinja2's (range, namespace, dict).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/tokenizer/jinja/ast.h"
#include "core/tokenizer/jinja/value.h"

namespace muke::jinja {

struct RenderOptions {
  // The clock strftime_now() reads (local time zone); unset: the system clock.
  std::optional<std::chrono::system_clock::time_point> now;
  // Output (and any string or list built on the way) larger than this fails with RESOURCE_EXHAUSTED.
  size_t max_output_bytes = size_t{64} << 20;
  // Nested macro calls beyond this fail with RESOURCE_EXHAUSTED.
  int max_call_depth = 20;
  // Loop iterations in one render beyond this fail with RESOURCE_EXHAUSTED.
  int64_t max_loop_iterations = 10'000'000;
};

// Renders `program` with `variables` as the template context. raise_exception(msg) fails with
// INVALID_ARGUMENT and exactly `msg`; other render errors start with "line L, column C: ".
absl::StatusOr<std::string> Render(const Program& program, const Dict& variables, const RenderOptions& options);

}  // namespace muke::jinja
