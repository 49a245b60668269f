// `[database] connection` as oslo.db (SQLAlchemy) reads it in masakari.conf:
//   sqlite:///relative/path, sqlite:////absolute/path
//   mysql+pymysql://USER:PASSWORD@HOST[:PORT]/DATABASE[?charset=utf8&unix_socket=...&ssl_ca=...]
//   (also mysql:// and mysql+mysqldb://; an IPv6 host in brackets)
// User and password are percent-decoded, as SQLAlchemy does. A URL's password is never put in
// an error message: `redacted` is the form to print.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace warden::store {

struct DatabaseUrl {
  enum class Kind { kSqlite, kMysql };
  Kind kind = Kind::kSqlite;

  std::string sqlite_path;  // kSqlite

  // kMysql
  std::string user;
  std::string password;
  std::string host = "localhost";
  int port = 3306;
  std::string database;
  std::string unix_socket;  // set: connect through it instead of host:port
  std::string charset = "utf8mb4";
  // TLS, as PyMySQL's connect arguments: any of these asks for TLS.
  std::string ssl_ca;
  std::string ssl_cert;
  std::string ssl_key;
  bool ssl_verify_cert = false;
  bool ssl_verify_identity = false;
  // Seconds; 0: the defaults of the store.
  int connect_timeout = 0;
  int read_timeout = 0;
  int write_timeout = 0;

  // The URL as given, with the password (if any) replaced by "***": the form to print.
  std::string redacted;

  bool Tls() const { return !ssl_ca.empty() || !ssl_cert.empty() || !ssl_key.empty(); }
};

// InvalidArgument naming what is wrong (never the password) for anything else.
Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url);

}  // namespace warden::store
