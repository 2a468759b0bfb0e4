// Structured, quiet-by-default logging: one line per event, `ts=... level=... event=... key=value ...`,
// on stderr. The threshold comes from MUKE_LOG_LEVEL (debug, info, warn, error; default warn) or SetLogLevel.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace muke {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
// Parses "debug", "info", "warn" or "error"; false for anything else.
bool ParseLogLevel(const std::string& name, LogLevel* level);
bool LogEnabled(LogLevel level);

// Emits `event` with its fields when `level` passes the threshold. Values with spaces or quotes are quoted.
void Log(LogLevel level, const std::string& event, const std::vector<std::pair<std::string, std::string>>& fields = {});

}  // namespace muke
