#include "store/db_url.h"

#include <charconv>

#include "core/strings.h"

namespace warden::store {
namespace {

Result<int> Number(std::string_view what, std::string_view v, int lo, int hi) {
  int n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) {
    return InvalidArgument(std::string(what) + " must be a number from " + std::to_string(lo) +
                           " to " + std::to_string(hi));
  }
  return n;
}

Result<bool> Flag(std::string_view what, std::string_view v) {
  if (v == "true" || v == "True" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "False" || v == "0" || v == "no") return false;
  return InvalidArgument(std::string(what) + " must be true or false");
}

Result<std::string> Decoded(std::string_view what, std::string_view v) {
  auto d = PercentDecode(v);
  if (!d) return InvalidArgument(std::string(what) + " has a bad %-escape");
  return *d;
}

Result<void> Parameter(DatabaseUrl& u, std::string_view key, const std::string& value) {
  const std::string what = "parameter '" + std::string(key) + "'";
  auto text = [&](std::string* out) -> Result<void> {
    if (value.empty()) return InvalidArgument(what + " is empty");
    *out = value;
    return {};
  };
  auto number = [&](int* out) -> Result<void> {
    auto n = Number(what, value, 1, 3600);
    if (!n) return std::unexpected(n.error());
    *out = *n;
    return {};
  };
  auto flag = [&](bool* out) -> Result<void> {
    auto b = Flag(what, value);
    if (!b) return std::unexpected(b.error());
    *out = *b;
    return {};
  };
  if (key == "charset") return text(&u.charset);
  if (key == "unix_socket") return text(&u.unix_socket);
  if (key == "ssl_ca") return text(&u.ssl_ca);
  if (key == "ssl_cert") return text(&u.ssl_cert);
  if (key == "ssl_key") return text(&u.ssl_key);
  if (key == "ssl_verify_cert") return flag(&u.ssl_verify_cert);
  if (key == "ssl_verify_identity") return flag(&u.ssl_verify_identity);
  if (key == "connect_timeout") return number(&u.connect_timeout);
  if (key == "read_timeout") return number(&u.read_timeout);
  if (key == "write_timeout") return number(&u.write_timeout);
  return InvalidArgument("unknown " + what + " (charset, unix_socket, ssl_ca, ssl_cert, ssl_key, "
                         "ssl_verify_cert, ssl_verify_identity, connect_timeout, read_timeout, "
                         "write_timeout)");
}

Result<DatabaseUrl> ParseMysql(std::string_view scheme, std::string_view rest) {
  DatabaseUrl u;
  u.kind = DatabaseUrl::Kind::kMysql;
  // rest: [USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?QUERY]
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return InvalidArgument("the URL names no database (…/DATABASE at its end)");
  }
  std::string_view authority = rest.substr(0, slash);
  auto db = Decoded("the database name", rest.substr(slash + 1));
  if (!db) return std::unexpected(db.error());
  if (db->find('/') != std::string::npos) {
    return InvalidArgument("the database name may not contain '/'");
  }
  u.database = *db;

  std::string redacted_authority(authority);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = authority.substr(0, at);
    authority = authority.substr(at + 1);
    std::string_view user = credentials;
    if (size_t colon = credentials.find(':'); colon != std::string_view::npos) {
      user = credentials.substr(0, colon);
      auto password = Decoded("the password", credentials.substr(colon + 1));
      if (!password) return std::unexpected(password.error());
      u.password = *password;
      redacted_authority = std::string(user) + ":***@" + std::string(authority);
    }
    auto decoded_user = Decoded("the user name", user);
    if (!decoded_user) return std::unexpected(decoded_user.error());
    u.user = *decoded_user;
  }
  u.redacted = std::string(scheme) + "://" + redacted_authority + std::string(rest.substr(slash)) +
               (query.empty() ? "" : "?" + std::string(query));

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:PORT
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("the host's '[' is not closed");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgument("unexpected text after the host's ']'");
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    u.host = std::string(authority.substr(0, colon));
    port = authority.substr(colon + 1);
  } else if (!authority.empty()) {
    u.host = std::string(authority);
  }
  if (u.host.empty()) u.host = "localhost";
  if (!port.empty() || authority.ends_with(':')) {
    auto p = Number("the port", port, 1, 65535);
    if (!p) return std::unexpected(p.error());
    u.port = *p;
  }

  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    auto key = Decoded("a parameter name", item.substr(0, eq));
    if (!key) return std::unexpected(key.error());
    auto value = Decoded("parameter '" + *key + "'",
                         eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    if (!value) return std::unexpected(value.error());
    if (auto r = Parameter(u, *key, *value); !r) return std::unexpected(r.error());
  }
  return u;
}

}  // namespace

Result<DatabaseUrl> ParseDatabaseUrl(std::string_view url) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return InvalidArgument(
        "not a database URL (sqlite:///PATH, or mysql+pymysql://USER:PASSWORD@HOST/DATABASE)");
  }
  const std::string_view scheme = url.substr(0, sep);
  const std::string_view rest = url.substr(sep + 3);
  if (scheme == "sqlite") {
    // SQLAlchemy: sqlite:////absolute, sqlite:///relative; nothing between "//" and the path.
    if (rest.size() < 2 || rest.front() != '/') {
      return InvalidArgument("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path");
    }
    DatabaseUrl u;
    u.sqlite_path = std::string(rest.substr(1));
    u.redacted = std::string(url);
    return u;
  }
  if (scheme == "mysql" || scheme == "mysql+pymysql" || scheme == "mysql+mysqldb") {
    return ParseMysql(scheme, rest);
  }
  if (scheme.starts_with("postgresql") || scheme == "postgres") {
    return InvalidArgument("PostgreSQL is not supported; use sqlite:///PATH or a MariaDB "
                           "mysql+pymysql:// URL");
  }
  return InvalidArgument("unknown database scheme '" + std::string(scheme) +
                         "' (sqlite, mysql, mysql+pymysql, mysql+mysqldb)");
}

}  // namespace warden::store
