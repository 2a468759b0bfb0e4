#include "core/tokenizer/jinja/json_dump.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/jinja/py_string.h"

namespace muke::jinja {
namespace {

void AppendQuoted(std::string_view text, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  for (char32_t c : py::Decode(text)) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
          if (c > 0xFFFF) {
            const char32_t v = c - 0x10000;
            py::AppendHexEscape('u', 0xD800 + (v >> 10), 4, out);
            py::AppendHexEscape('u', 0xDC00 + (v & 0x3FF), 4, out);
          } else {
            py::AppendHexEscape('u', c, 4, out);
          }
        } else {
          py::AppendCodePoint(c, out);
        }
    }
  }
  out->push_back('"');
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonFormat& format) : format_(format) {}

  absl::Status Write(const Value& value, int level, std::string* out) {
    switch (value.kind()) {
      case Value::Kind::kNone:
        *out += "null";
        return absl::OkStatus();
      case Value::Kind::kBool:
        *out += value.bool_value() ? "true" : "false";
        return absl::OkStatus();
      case Value::Kind::kInt:
        absl::StrAppend(out, value.int_value());
        return absl::OkStatus();
      case Value::Kind::kFloat: {
        const double d = value.float_value();
        *out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : FormatFloat(d);
        return absl::OkStatus();
      }
      case Value::Kind::kString:
        AppendQuoted(value.string_value(), format_.ensure_ascii, out);
        return absl::OkStatus();
      case Value::Kind::kList: {
        const auto& items = value.list().items;
        if (items.empty()) {
          *out += "[]";
          return absl::OkStatus();
        }
        out->push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) *out += format_.item_separator;
          NewLine(level + 1, out);
          absl::Status status = Write(items[i], level + 1, out);
          if (!status.ok()) return status;
        }
        NewLine(level, out);
        out->push_back(']');
        return absl::OkStatus();
      }
      case Value::Kind::kDict: {
        std::vector<const Dict::Entry*> entries;
        for (const Dict::Entry& entry : value.dict().entries()) entries.push_back(&entry);
        if (entries.empty()) {
          *out += "{}";
          return absl::OkStatus();
        }
        if (format_.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const Dict::Entry* a, const Dict::Entry* b) { return a->first < b->first; });
        }
        out->push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i > 0) *out += format_.item_separator;
          NewLine(level + 1, out);
          AppendQuoted(entries[i]->first, format_.ensure_ascii, out);
          *out += format_.key_separator;
          absl::Status status = Write(entries[i]->second, level + 1, out);
          if (!status.ok()) return status;
        }
        NewLine(level, out);
        out->push_back('}');
        return absl::OkStatus();
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("Object of type ", TypeName(value), " is not JSON serializable"));
    }
  }

 private:
  void NewLine(int level, std::string* out) const {
    if (!format_.indent) return;
    out->push_back('\n');
    for (int i = 0; i < level; ++i) *out += *format_.indent;
  }

  const JsonFormat& format_;
};

}  // namespace

absl::StatusOr<std::string> DumpJson(const Value& value, const JsonFormat& format) {
  std::string out;
  absl::Status status = JsonWriter(format).Write(value, 0, &out);
  if (!status.ok()) return status;
  return out;
}

}  // namespace muke::jinja
