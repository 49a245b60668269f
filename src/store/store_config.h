// The store's part of warden.conf: [database] connection, a SQLAlchemy-style URL as in
// masakari.conf (db_url.h).
#pragma once

#include <string>
#include <vector>

#include "core/config_keys.h"
#include "store/db_url.h"

namespace warden::store {

struct DatabaseConfig {
  std::string connection = "sqlite:///warden.db";  // printed redacted (no password)
  std::string sqlite_path = "warden.db";           // derived from connection
  DatabaseUrl url;                                 // derived from connection
};

inline const std::vector<config::Key<DatabaseConfig>>& DatabaseConfigKeys() {
  static const std::vector<config::Key<DatabaseConfig>> keys = {
      {"database", "connection",
       [](DatabaseConfig& c, const std::string& v) -> std::string {
         // Errors never repeat the URL: it may hold a password.
         auto url = ParseDatabaseUrl(v);
         if (!url) return url.error().message();
         if (url->kind == DatabaseUrl::Kind::kMysql) {
           return "a MariaDB/MySQL URL is valid here but this build stores in SQLite only "
                  "(sqlite:///PATH); MariaDB and Galera come with the replicas work";
         }
         c.connection = url->redacted;
         c.sqlite_path = url->sqlite_path;
         c.url = std::move(*url);
         return "";
       },
       [](const DatabaseConfig& c) { return c.connection; }},
  };
  return keys;
}

}  // namespace warden::store
