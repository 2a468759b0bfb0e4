#include "core/tokenizer/jinja/py_string.h"

#include <locale.h>
#include <wctype.h>

#include "core/tokenizer/unicode.h"

namespace muke::jinja::py {
namespace {

constexpr char32_t kEscapeBase = 0xDC00;  // invalid byte b decodes to U+DC00 + b (b >= 0x80)

// glibc's C.UTF-8 locale carries the Unicode case tables; without it case mapping is ASCII-only.
locale_t CaseLocale() {
  static const locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return locale;
}

char32_t ToUpper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t locale = CaseLocale();
  return locale ? static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), locale)) : c;
}

char32_t ToLower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t locale = CaseLocale();
  return locale ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), locale)) : c;
}

bool IsCased(char32_t c) { return ToUpper(c) != c || ToLower(c) != c; }

bool IsLineBreak(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
         c == 0x2028 || c == 0x2029;
}

// Approximates str.isprintable() for repr(): control, format, separator (other than ' ') and private-use
// characters are escaped.
bool IsPrintable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  if (c <= 0xA0 || c == 0xAD) return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) ||
      c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) {
    return false;
  }
  if ((c >= 0xD800 && c <= 0xF8FF) || c >= 0xF0000) return false;  // surrogates, private use
  return true;
}

bool ContainsChar(std::u32string_view set, char32_t c) { return set.find(c) != std::u32string_view::npos; }

}  // namespace

std::u32string Decode(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) {
    const auto lead = static_cast<unsigned char>(utf8[i]);
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    }
    int extra = lead >= 0xF0 && lead <= 0xF4   ? 3
                : lead >= 0xE0 && lead <= 0xEF ? 2
                : lead >= 0xC2 && lead <= 0xDF ? 1
                                               : -1;
    char32_t c = extra == 3 ? lead & 0x07 : extra == 2 ? lead & 0x0F : lead & 0x1F;
    bool valid = extra > 0;
    for (int k = 1; valid && k <= extra; ++k) {
      if (i + k >= utf8.size()) {
        valid = false;
        break;
      }
      const auto cont = static_cast<unsigned char>(utf8[i + k]);
      if ((cont & 0xC0) != 0x80) valid = false;
      c = (c << 6) | (cont & 0x3F);
    }
    if (valid) {
      const char32_t min = extra == 1 ? 0x80 : extra == 2 ? 0x800 : 0x10000;
      valid = c >= min && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    }
    if (valid) {
      out.push_back(c);
      i += extra + 1;
    } else {
      out.push_back(kEscapeBase + lead);
      ++i;
    }
  }
  return out;
}

void AppendCodePoint(char32_t c, std::string* out) {
  if (c >= kEscapeBase + 0x80 && c <= kEscapeBase + 0xFF) {
    out->push_back(static_cast<char>(c - kEscapeBase));
  } else {
    AppendUtf8(c, out);
  }
}

std::string Encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) AppendCodePoint(c, &out);
  return out;
}

int64_t Length(std::string_view s) { return static_cast<int64_t>(Decode(s).size()); }

bool IsSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  const std::u32string text = Decode(s);
  const std::u32string set = chars ? Decode(*chars) : std::u32string();
  auto strippable = [&](char32_t c) { return chars ? ContainsChar(set, c) : IsSpace(c); };
  size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end && strippable(text[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strippable(text[end - 1])) --end;
  }
  return Encode(std::u32string_view(text).substr(begin, end - begin));
}

std::vector<std::string> Split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      const size_t hit = s.find(*sep, start);
      if (hit == std::string_view::npos) break;
      parts.emplace_back(s.substr(start, hit - start));
      start = hit + sep->size();
    }
    parts.emplace_back(s.substr(start));
    return parts;
  }
  const std::u32string text = Decode(s);
  size_t i = 0;
  while (true) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i == text.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      size_t end = text.size();
      while (end > i && IsSpace(text[end - 1])) --end;
      parts.push_back(Encode(std::u32string_view(text).substr(i, end - i)));
      break;
    }
    const size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    parts.push_back(Encode(std::u32string_view(text).substr(start, i - start)));
  }
  return parts;
}

std::vector<std::string> RSplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == std::string_view::npos) break;
      parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    parts.emplace_back(s.substr(0, end));
  } else {
    const std::u32string text = Decode(s);
    size_t i = text.size();
    while (true) {
      while (i > 0 && IsSpace(text[i - 1])) --i;
      if (i == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t begin = 0;
        while (begin < i && IsSpace(text[begin])) ++begin;
        parts.push_back(Encode(std::u32string_view(text).substr(begin, i - begin)));
        break;
      }
      const size_t end = i;
      while (i > 0 && !IsSpace(text[i - 1])) --i;
      parts.push_back(Encode(std::u32string_view(text).substr(i, end - i)));
    }
  }
  return std::vector<std::string>(parts.rbegin(), parts.rend());
}

std::vector<std::string> SplitLines(std::string_view s) {
  const std::u32string text = Decode(s);
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    if (!IsLineBreak(text[i])) {
      ++i;
      continue;
    }
    lines.push_back(Encode(std::u32string_view(text).substr(start, i - start)));
    i += (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
    start = i;
  }
  if (start < text.size()) lines.push_back(Encode(std::u32string_view(text).substr(start)));
  return lines;
}

std::string Replace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new_text` before every code point and at the end.
    const std::u32string text = Decode(s);
    int64_t done = 0;
    for (char32_t c : text) {
      if (count < 0 || done < count) {
        out.append(new_text);
        ++done;
      }
      AppendCodePoint(c, &out);
    }
    if (count < 0 || done < count) out.append(new_text);
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(old_text, start);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(start, hit - start));
    out.append(new_text);
    start = hit + old_text.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

int64_t Find(std::string_view s, std::string_view sub) {
  const size_t hit = s.find(sub);
  return hit == std::string_view::npos ? -1 : Length(s.substr(0, hit));
}

int64_t Count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return Length(s) + 1;
  int64_t n = 0;
  for (size_t hit = s.find(sub); hit != std::string_view::npos; hit = s.find(sub, hit + sub.size())) ++n;
  return n;
}

std::string Upper(std::string_view s) {
  std::u32string text = Decode(s);
  for (char32_t& c : text) c = ToUpper(c);
  return Encode(text);
}

std::string Lower(std::string_view s) {
  std::u32string text = Decode(s);
  for (char32_t& c : text) c = ToLower(c);
  return Encode(text);
}

std::string Title(std::string_view s) {
  std::u32string text = Decode(s);
  bool previous_cased = false;
  for (char32_t& c : text) {
    c = previous_cased ? ToLower(c) : ToUpper(c);
    previous_cased = IsCased(c);
  }
  return Encode(text);
}

std::string Capitalize(std::string_view s) {
  std::u32string text = Decode(s);
  for (size_t i = 0; i < text.size(); ++i) text[i] = i == 0 ? ToUpper(text[i]) : ToLower(text[i]);
  return Encode(text);
}

void AppendHexEscape(char letter, uint32_t value, int digits, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('\\');
  out->push_back(letter);
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out->push_back(kHex[(value >> shift) & 0xF]);
}

std::string Repr(std::string_view s) {
  const std::u32string text = Decode(s);
  const bool has_single = text.find(U'\'') != std::u32string::npos;
  const bool has_double = text.find(U'"') != std::u32string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : text) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= kEscapeBase + 0x80 && c <= kEscapeBase + 0xFF) {
      AppendHexEscape('u', c, 4, &out);
    } else if (IsPrintable(c)) {
      AppendCodePoint(c, &out);
    } else if (c <= 0xFF) {
      AppendHexEscape('x', c, 2, &out);
    } else if (c <= 0xFFFF) {
      AppendHexEscape('u', c, 4, &out);
    } else {
      AppendHexEscape('U', c, 8, &out);
    }
  }
  out.push_back(quote);
  return out;
}

}  // namespace muke::jinja::py
