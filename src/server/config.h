// Warden's configuration: an INI file like Masakari's, every key overridable from the
// environment as WARDEN_<SECTION>_<KEY> (WARDEN_API_LISTEN, WARDEN_DEFAULT_LOG_LEVEL ...).
//
// Loading is strict: an unknown section or key, or a value of the wrong type or range, is an
// error naming the key (and the file line or environment variable it came from), so that a
// typo stops start-up instead of silently meaning a default.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace warden::server {

struct Config {
  // [DEFAULT]
  std::string log_level = "info";     // debug | info | warning | error
  std::string log_format = "logfmt";  // logfmt | json (application and access logs)
  int64_t osapi_max_limit = 1000;
  int64_t duplicate_notification_detection_interval = 180;  // seconds

  // [api]
  std::string listen = "127.0.0.1:15868";
  std::string listen_host = "127.0.0.1";  // derived from listen
  uint16_t listen_port = 15868;           // derived from listen
  std::string auth_strategy = "token";    // token | noauth
  std::string token_file;
  int64_t workers = 16;
  int64_t io_threads = 1;
  int64_t max_body_bytes = 114688;
  int64_t max_header_bytes = 16384;
  int64_t max_connections = 1024;
  int64_t request_timeout = 30;  // seconds
  int64_t idle_timeout = 60;     // seconds
  bool access_log = true;
  int64_t response_cache_entries = 256;  // 0 disables the GET response cache

  // [database]
  std::string connection = "sqlite:///warden.db";
  std::string sqlite_path = "warden.db";  // derived from connection
};

// Parses `ini_text` (from `source`, for messages), then applies `env` overrides.
Result<Config> ParseConfig(const std::string& ini_text, const std::string& source,
                           const std::map<std::string, std::string>& env);

// Reads the file at `path` (empty: defaults only) and the process environment.
Result<Config> LoadConfig(const std::string& path);

// "section.key = value" lines of the effective configuration, for --check-config.
std::vector<std::string> DescribeConfig(const Config& config);

// True for 127.0.0.0/8, ::1 and localhost.
bool IsLoopbackHost(const std::string& host);

}  // namespace warden::server
