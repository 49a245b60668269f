// One log line, as logfmt or JSON: the format every Warden log line uses, so that a line is
// machine-readable whichever format the operator chose ([DEFAULT] log_format).
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/clock.h"

namespace warden {

enum class LogFormat { kLogfmt, kJson };

// The process-wide format, set once at start-up (default logfmt).
void SetLogFormat(LogFormat format);
LogFormat CurrentLogFormat();

using LogField = std::pair<std::string_view, std::string_view>;

// `ts=2026-11-22T10:00:00.000000Z level=info msg=request k=v ...` (values quoted when they
// hold spaces, quotes or '='), or `{"ts":"...","level":"info","msg":"request","k":"v"}`.
std::string FormatLogLine(LogFormat format, WallMicros ts, std::string_view level,
                          std::string_view msg, std::initializer_list<LogField> fields);
std::string FormatLogLine(LogFormat format, WallMicros ts, std::string_view level,
                          std::string_view msg, std::span<const LogField> fields);

}  // namespace warden
