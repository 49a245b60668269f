// The store's part of warden.conf: [database] connection, a SQLAlchemy-style URL as in
// masakari.conf (sqlite:///relative/path or sqlite:////absolute/path).
#pragma once

#include <string>
#include <vector>

#include "core/config_keys.h"

namespace warden::store {

struct DatabaseConfig {
  std::string connection = "sqlite:///warden.db";
  std::string sqlite_path = "warden.db";  // derived from connection
};

inline const std::vector<config::Key<DatabaseConfig>>& DatabaseConfigKeys() {
  static const std::vector<config::Key<DatabaseConfig>> keys = {
      {"database", "connection",
       [](DatabaseConfig& c, const std::string& v) -> std::string {
         const std::string prefix = "sqlite:///";
         if (v.rfind(prefix, 0) == 0 && v.size() > prefix.size()) {
           c.connection = v;
           c.sqlite_path = v.substr(prefix.size());  // SQLAlchemy: sqlite:////abs, sqlite:///rel
           return "";
         }
         if (v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0) {
           return "PostgreSQL is not supported by this build yet; use sqlite:///PATH";
         }
         return "'" + v +
                "' is not a database URL (sqlite:///relative/path or sqlite:////absolute/path)";
       },
       [](const DatabaseConfig& c) { return c.connection; }},
  };
  return keys;
}

}  // namespace warden::store
