#include "server/config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

extern char** environ;

namespace warden::server {
namespace {

struct Key {
  std::string section;
  std::string name;
  // Sets the value; returns an error message (without the key's name) or "".
  std::function<std::string(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> show;
};

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

Key IntKey(std::string section, std::string name, int64_t Config::*field, int64_t min,
           int64_t max) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               int64_t n = 0;
               auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
               if (ec != std::errc() || p != v.data() + v.size()) {
                 return "'" + v + "' is not an integer";
               }
               if (n < min || n > max) {
                 return "'" + v + "' is out of range [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]";
               }
               c.*field = n;
               return "";
             },
             [=](const Config& c) { return std::to_string(c.*field); }};
}

Key ChoiceKey(std::string section, std::string name, std::string Config::*field,
              std::vector<std::string> choices) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
                 std::string list;
                 for (auto& ch : choices) list += (list.empty() ? "" : ", ") + ch;
                 return "'" + v + "' is not one of: " + list;
               }
               c.*field = v;
               return "";
             },
             [=](const Config& c) { return c.*field; }};
}

Key BoolKey(std::string section, std::string name, bool Config::*field) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               std::string l = v;
               std::transform(l.begin(), l.end(), l.begin(), ::tolower);
               if (l == "true" || l == "yes" || l == "on" || l == "1") {
                 c.*field = true;
               } else if (l == "false" || l == "no" || l == "off" || l == "0") {
                 c.*field = false;
               } else {
                 return "'" + v + "' is not a boolean (true/false)";
               }
               return "";
             },
             [=](const Config& c) { return std::string(c.*field ? "true" : "false"); }};
}

std::string SetListen(Config& c, const std::string& v) {
  std::string host;
  std::string port;
  if (!v.empty() && v[0] == '[') {
    size_t close = v.find(']');
    if (close == std::string::npos || close + 1 >= v.size() || v[close + 1] != ':') {
      return "'" + v + "' is not host:port";
    }
    host = v.substr(1, close - 1);
    port = v.substr(close + 2);
  } else {
    size_t colon = v.rfind(':');
    if (colon == std::string::npos || colon == 0) return "'" + v + "' is not host:port";
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
  }
  int p = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p < 0 || p > 65535) {
    return "'" + v + "' has no valid port (0-65535)";
  }
  if (host == "localhost") host = "127.0.0.1";
  c.listen = v;
  c.listen_host = host;
  c.listen_port = uint16_t(p);
  return "";
}

std::string SetConnection(Config& c, const std::string& v) {
  const std::string prefix = "sqlite:///";
  if (v.rfind(prefix, 0) == 0 && v.size() > prefix.size()) {
    c.connection = v;
    c.sqlite_path = v.substr(prefix.size());  // SQLAlchemy: sqlite:////abs, sqlite:///rel
    return "";
  }
  if (v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0) {
    return "PostgreSQL is not supported by this build yet; use sqlite:///PATH";
  }
  return "'" + v + "' is not a database URL (sqlite:///relative/path or sqlite:////absolute/path)";
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      ChoiceKey("DEFAULT", "log_level", &Config::log_level, {"debug", "info", "warning", "error"}),
      ChoiceKey("DEFAULT", "log_format", &Config::log_format, {"logfmt", "json"}),
      IntKey("DEFAULT", "osapi_max_limit", &Config::osapi_max_limit, 1, 100000),
      IntKey("DEFAULT", "duplicate_notification_detection_interval",
             &Config::duplicate_notification_detection_interval, 0, 86400 * 7),
      Key{"api", "listen", SetListen, [](const Config& c) { return c.listen; }},
      ChoiceKey("api", "auth_strategy", &Config::auth_strategy, {"token", "noauth"}),
      Key{"api", "token_file",
          [](Config& c, const std::string& v) -> std::string {
            c.token_file = v;
            return "";
          },
          [](const Config& c) { return c.token_file; }},
      IntKey("api", "workers", &Config::workers, 1, 512),
      IntKey("api", "io_threads", &Config::io_threads, 1, 64),
      IntKey("api", "max_body_bytes", &Config::max_body_bytes, 1024, 64 << 20),
      IntKey("api", "max_header_bytes", &Config::max_header_bytes, 1024, 1 << 20),
      IntKey("api", "max_connections", &Config::max_connections, 1, 1 << 20),
      IntKey("api", "request_timeout", &Config::request_timeout, 1, 3600),
      IntKey("api", "idle_timeout", &Config::idle_timeout, 1, 86400),
      BoolKey("api", "access_log", &Config::access_log),
      IntKey("api", "response_cache_entries", &Config::response_cache_entries, 0, 100000),
      Key{"database", "connection", SetConnection, [](const Config& c) { return c.connection; }},
  };
  return keys;
}

const Key* FindKey(const std::string& section, const std::string& name) {
  for (const Key& k : Keys()) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

bool KnownSection(const std::string& s) {
  return std::any_of(Keys().begin(), Keys().end(), [&](const Key& k) { return k.section == s; });
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s;
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  return host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

Result<Config> ParseConfig(const std::string& ini_text, const std::string& source,
                           const std::map<std::string, std::string>& env) {
  Config c;
  std::istringstream in(ini_text);
  std::string line;
  std::string section;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    const std::string where = source + ":" + std::to_string(lineno) + ": ";
    if (t[0] == '[') {
      if (t.back() != ']') return InvalidArgument(where + "malformed section header " + t);
      section = Trim(std::string_view(t).substr(1, t.size() - 2));
      if (!KnownSection(section))
        return InvalidArgument(where + "unknown section [" + section + "]");
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument(where + "expected 'key = value', got '" + t + "'");
    }
    if (section.empty()) return InvalidArgument(where + "key outside of any [section]");
    std::string key = Trim(std::string_view(t).substr(0, eq));
    std::string value = Trim(std::string_view(t).substr(eq + 1));
    const Key* k = FindKey(section, key);
    if (k == nullptr) return InvalidArgument(where + "unknown key [" + section + "] " + key);
    if (std::string err = k->set(c, value); !err.empty()) {
      return InvalidArgument(where + "[" + section + "] " + key + ": " + err);
    }
  }
  // Environment overrides, applied after the file.
  for (const auto& [var, value] : env) {
    if (var.rfind("WARDEN_", 0) != 0) continue;
    for (const std::string sec : {"DEFAULT", "api", "database"}) {
      const std::string prefix = "WARDEN_" + Upper(sec) + "_";
      if (var.rfind(prefix, 0) != 0) continue;
      std::string key = var.substr(prefix.size());
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      const Key* k = FindKey(sec, key);
      if (k == nullptr) {
        return InvalidArgument("environment " + var + ": unknown key [" + sec + "] " + key);
      }
      if (std::string err = k->set(c, value); !err.empty()) {
        return InvalidArgument("environment " + var + " ([" + sec + "] " + key + "): " + err);
      }
    }
  }
  // Cross-key rules.
  if (c.auth_strategy == "noauth" && !IsLoopbackHost(c.listen_host)) {
    return InvalidArgument(
        "[api] auth_strategy: noauth is refused unless [api] listen is a "
        "loopback address (it is " +
        c.listen + ")");
  }
  if (c.auth_strategy == "token" && c.token_file.empty()) {
    return InvalidArgument(
        "[api] token_file: required when [api] auth_strategy = token "
        "(create one with `warden token create`)");
  }
  return c;
}

Result<Config> LoadConfig(const std::string& path) {
  std::string text;
  if (!path.empty()) {
    std::ifstream f(path);
    if (!f) return InvalidArgument("cannot read config file " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return ParseConfig(text, path.empty() ? "(defaults)" : path, env);
}

std::vector<std::string> DescribeConfig(const Config& config) {
  std::vector<std::string> out;
  for (const Key& k : Keys()) {
    out.push_back("[" + k.section + "] " + k.name + " = " + k.show(config) + "   (env " +
                  "WARDEN_" + Upper(k.section) + "_" + Upper(k.name) + ")");
  }
  return out;
}

}  // namespace warden::server
