#include "core/log_line.h"

#include <atomic>

#include "core/time.h"

namespace warden {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kLogfmt};

void AppendQuoted(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += char(c);
    }
  }
  out += '"';
}

void AppendLogfmtValue(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\') plain = false;
  }
  if (plain) {
    out += v;
  } else {
    AppendQuoted(out, v);
  }
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format = format; }
LogFormat CurrentLogFormat() { return g_format.load(); }

std::string FormatLogLine(LogFormat format, WallMicros ts, std::string_view level,
                          std::string_view msg, std::span<const LogField> fields) {
  std::string out;
  out.reserve(160);
  const std::string time = FormatIsoTime(ts) + "Z";
  if (format == LogFormat::kJson) {
    out += "{\"ts\":\"" + time + "\",\"level\":";
    AppendQuoted(out, level);
    out += ",\"msg\":";
    AppendQuoted(out, msg);
    for (const auto& [k, v] : fields) {
      out += ',';
      AppendQuoted(out, k);
      out += ':';
      AppendQuoted(out, v);
    }
    out += '}';
  } else {
    out += "ts=" + time + " level=";
    out += level;
    out += " msg=";
    AppendLogfmtValue(out, msg);
    for (const auto& [k, v] : fields) {
      out += ' ';
      out += k;
      out += '=';
      AppendLogfmtValue(out, v);
    }
  }
  return out;
}

}  // namespace warden

namespace warden {
std::string FormatLogLine(LogFormat format, WallMicros ts, std::string_view level,
                          std::string_view msg, std::initializer_list<LogField> fields) {
  return FormatLogLine(format, ts, level, msg, std::span<const LogField>(fields.begin(), fields.size()));
}
}  // namespace warden
