#include "core/strings.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

extern char** environ;

namespace warden {

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t at) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = byte(at);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte (RFC 3629, section 4)
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - at < n) return 0;
  if (byte(at + 1) < lo || byte(at + 1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
  }
  return n;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int hi = i + 1 < s.size() ? HexValue(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      out += char(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Result<HostPort> ParseHostPort(std::string_view v) {
  const std::string quoted = "'" + std::string(v) + "'";
  std::string_view host, port;
  if (!v.empty() && v[0] == '[') {
    const size_t close = v.find(']');
    if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != ':') {
      return InvalidArgument(quoted + " is not host:port");
    }
    host = v.substr(1, close - 1);
    port = v.substr(close + 2);
  } else {
    const size_t colon = v.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return InvalidArgument(quoted + " is not host:port");
    }
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
  }
  int p = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p < 0 || p > 65535) {
    return InvalidArgument(quoted + " has no valid port (0-65535)");
  }
  return HostPort{.host = host == "localhost" ? "127.0.0.1" : std::string(host),
                  .port = uint16_t(p)};
}

Result<HostPort> ParseListenAddress(std::string_view text) {
  auto hp = ParseHostPort(text);
  if (!hp) return hp;
  in_addr v4;
  in6_addr v6;
  // An IPv6 address may carry its interface (fe80::1%eth0); inet_pton takes the address alone.
  const std::string v6_part = hp->host.substr(0, hp->host.find('%'));
  if (inet_pton(AF_INET, hp->host.c_str(), &v4) != 1 &&
      inet_pton(AF_INET6, v6_part.c_str(), &v6) != 1) {
    return InvalidArgument("'" + std::string(text) +
                           "': the host must be an IP address such as 127.0.0.1, 0.0.0.0 or "
                           "[::1] (or localhost), not a name");
  }
  return hp;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, h.c_str(), &v6) == 1 &&
         std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
}

std::map<std::string, std::string> EnvironmentMap() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  return env;
}

Result<std::vector<IniLine>> ReadIniLines(std::string_view text, const std::string& source) {
  std::vector<IniLine> lines;
  std::string section;
  int lineno = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string t = Trim(text.substr(start, end - start));
    start = end + 1;
    ++lineno;
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    IniLine line;
    line.where = source + ":" + std::to_string(lineno) + ": ";
    if (t[0] == '[') {
      if (t.back() != ']') return InvalidArgument(line.where + "malformed section header " + t);
      section = Trim(std::string_view(t).substr(1, t.size() - 2));
      line.is_section = true;
      line.section = section;
      lines.push_back(std::move(line));
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument(line.where + "expected 'key = value', got '" + t + "'");
    }
    if (section.empty()) return InvalidArgument(line.where + "key outside of any [section]");
    line.section = section;
    line.key = Trim(std::string_view(t).substr(0, eq));
    line.value = Trim(std::string_view(t).substr(eq + 1));
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace warden
