#include "core/strings.h"

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
