// Small text helpers shared by the configuration readers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace warden {

// `s` without leading and trailing spaces, tabs, CR and LF.
std::string Trim(std::string_view s);

// `s` with its %XX escapes decoded (and '+' as a space if `plus_is_space`, for query
// strings), or nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space = false);

// The length (1-4) of the well-formed UTF-8 sequence that starts s[at], or 0 where none does
// (a stray continuation byte, a truncated or overlong sequence, a surrogate, beyond U+10FFFF).
// REQUIRES: at < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t at);

struct HostPort {
  std::string host;  // without brackets; "localhost" becomes 127.0.0.1
  uint16_t port = 0;
};
// "HOST:PORT" or "[IPV6]:PORT" (port 0-65535). The error message does not name a key.
Result<HostPort> ParseHostPort(std::string_view text);

// ParseHostPort for an address to listen on: the host must be an IP address (or localhost),
// since a name could resolve to anything. The error message does not name a key.
Result<HostPort> ParseListenAddress(std::string_view text);

// An IP address in 127.0.0.0/8, ::1, or localhost.
bool IsLoopbackHost(std::string_view host);

// The process's environment as name → value.
std::map<std::string, std::string> EnvironmentMap();

// One meaningful line of an INI file (masakari.conf style): a `[section]` header, or a
// `key = value` inside the section before it.
struct IniLine {
  bool is_section = false;
  std::string section;  // the header's name, or the section the key belongs to
  std::string key;      // trimmed; empty for a header
  std::string value;    // trimmed
  std::string where;    // "SOURCE:LINE: ", to start error messages with
};

// The headers and keys of `text` in order; blank lines and comments (`#`, `;`) are skipped.
// Errors name source and line: a malformed header, a line without '=', a key before any
// section.
Result<std::vector<IniLine>> ReadIniLines(std::string_view text, const std::string& source);

}  // namespace warden
