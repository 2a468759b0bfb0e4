// Error-propagation macros over absl::Status / absl::StatusOr, and a bridge from libtorch exceptions.
#pragma once

#include <exception>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MUKE_CONCAT_INNER(a, b) a##b
#define MUKE_CONCAT(a, b) MUKE_CONCAT_INNER(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define MUKE_RETURN_IF_ERROR(expr)           \
  do {                                       \
    ::absl::Status muke_status_ = (expr);    \
    if (!muke_status_.ok()) return muke_status_; \
  } while (0)

// `MUKE_ASSIGN_OR_RETURN(auto x, StatusOrExpr())` unwraps a StatusOr or returns its error.
#define MUKE_ASSIGN_OR_RETURN(lhs, expr) \
  MUKE_ASSIGN_OR_RETURN_IMPL(MUKE_CONCAT(muke_statusor_, __LINE__), lhs, expr)
#define MUKE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

namespace muke {

// Runs `fn` and turns any exception (libtorch's c10::Error, nlohmann-json's type errors) into an INTERNAL
// status prefixed by `what`. Used at module boundaries so that no exception escapes core.
template <typename Fn>
auto CatchExceptions(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    // c10::Error messages carry a long backtrace after the first line; keep the first line only.
    auto nl = msg.find('\n');
    if (nl != std::string::npos) msg.resize(nl);
    return absl::InternalError(what + ": " + msg);
  }
}

}  // namespace muke
