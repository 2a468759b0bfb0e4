// Python's json.dumps over interpreter values, as transformers' `tojson` filter calls it.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/tokenizer/jinja/value.h"

namespace muke::jinja {

struct JsonFormat {
  std::optional<std::string> indent;  // nullopt: one line; otherwise the per-level indent string
  std::string item_separator = ", ";  // json.dumps uses "," when indenting
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};

// Fails like json.dumps on undefined values, namespaces and functions ("... is not JSON serializable").
absl::StatusOr<std::string> DumpJson(const Value& value, const JsonFormat& format);

}  // namespace muke::jinja
