// Python `str` semantics over UTF-8 std::strings: lengths, indices and slices count code points, whitespace is
// str.isspace(), and the string methods chat templates call behave like CPython's. Bytes that are not valid
// UTF-8 survive a decode/encode round trip unchanged (as lone surrogates U+DC80..U+DCFF, like surrogateescape).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace muke::jinja::py {

std::u32string Decode(std::string_view utf8);
std::string Encode(std::u32string_view text);
void AppendCodePoint(char32_t c, std::string* out);

// Number of code points.
int64_t Length(std::string_view s);
// str.isspace() for one code point.
bool IsSpace(char32_t c);

// str.strip/lstrip/rstrip: `chars` nullopt strips whitespace, otherwise any of its code points.
std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / str.rsplit; `sep` nullopt splits on whitespace runs. `maxsplit` < 0 means no limit. An empty
// separator is the caller's error to report.
std::vector<std::string> Split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> RSplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
// str.splitlines() (without keepends).
std::vector<std::string> SplitLines(std::string_view s);
// str.replace; `count` < 0 replaces all.
std::string Replace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count);
// str.find (code point index or -1) and str.count.
int64_t Find(std::string_view s, std::string_view sub);
int64_t Count(std::string_view s, std::string_view sub);

std::string Upper(std::string_view s);
std::string Lower(std::string_view s);
std::string Title(std::string_view s);
std::string Capitalize(std::string_view s);

// Appends a backslash, `letter` and `value` as `digits` lowercase hex digits: \x0a, \u00e9, \U0001f600.
void AppendHexEscape(char letter, uint32_t value, int digits, std::string* out);

// repr(s): quoted and escaped the way CPython prints a str inside a list or dict.
std::string Repr(std::string_view s);

}  // namespace muke::jinja::py
