#include "store/db_url.h"

#include <gtest/gtest.h>

#include "store/store_config.h"

namespace warden::store {
namespace {

TEST(DatabaseUrlTest, SqliteRelativeAndAbsolute) {
  auto rel = ParseDatabaseUrl("sqlite:///warden.db");
  ASSERT_TRUE(rel) << rel.error().ToString();
  EXPECT_EQ(rel->kind, DatabaseUrl::Kind::kSqlite);
  EXPECT_EQ(rel->sqlite_path, "warden.db");
  auto abs = ParseDatabaseUrl("sqlite:////var/lib/warden/warden.db");
  ASSERT_TRUE(abs);
  EXPECT_EQ(abs->sqlite_path, "/var/lib/warden/warden.db");
  EXPECT_FALSE(ParseDatabaseUrl("sqlite://warden.db"));  // no third slash: a host, not a path
  EXPECT_FALSE(ParseDatabaseUrl("sqlite:///"));
}

TEST(DatabaseUrlTest, MasakariConfsMysqlLineAsOsloDbReadsIt) {
  auto u = ParseDatabaseUrl(
      "mysql+pymysql://masakari:s%40cr%3At@10.0.0.5:3307/masakari?charset=utf8");
  ASSERT_TRUE(u) << u.error().ToString();
  EXPECT_EQ(u->kind, DatabaseUrl::Kind::kMysql);
  EXPECT_EQ(u->user, "masakari");
  EXPECT_EQ(u->password, "s@cr:t");  // percent-decoded
  EXPECT_EQ(u->host, "10.0.0.5");
  EXPECT_EQ(u->port, 3307);
  EXPECT_EQ(u->database, "masakari");
  EXPECT_EQ(u->charset, "utf8");
  EXPECT_FALSE(u->Tls());
  EXPECT_EQ(u->redacted, "mysql+pymysql://masakari:***@10.0.0.5:3307/masakari?charset=utf8");

  auto plain = ParseDatabaseUrl("mysql://warden@db.example/warden");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, 3306);
  EXPECT_EQ(plain->password, "");
  EXPECT_EQ(plain->charset, "utf8mb4");
  EXPECT_EQ(plain->redacted, "mysql://warden@db.example/warden");

  auto v6 = ParseDatabaseUrl("mysql+mysqldb://u:p@[fd00::5]:3306/w");
  ASSERT_TRUE(v6) << v6.error().ToString();
  EXPECT_EQ(v6->host, "fd00::5");

  auto sock = ParseDatabaseUrl("mysql+pymysql://u:p@/w?unix_socket=/run/mysqld/mysqld.sock");
  ASSERT_TRUE(sock) << sock.error().ToString();
  EXPECT_EQ(sock->host, "localhost");
  EXPECT_EQ(sock->unix_socket, "/run/mysqld/mysqld.sock");

  auto tls = ParseDatabaseUrl(
      "mysql+pymysql://u:p@h/w?ssl_ca=/etc/ssl/ca.pem&ssl_verify_cert=true&read_timeout=30");
  ASSERT_TRUE(tls) << tls.error().ToString();
  EXPECT_TRUE(tls->Tls());
  EXPECT_TRUE(tls->ssl_verify_cert);
  EXPECT_EQ(tls->read_timeout, 30);
}

TEST(DatabaseUrlTest, BadUrlsSayWhatIsWrongAndNeverThePassword) {
  const std::pair<const char*, const char*> bad[] = {
      {"mysql+pymysql://u:hunter2@h:99999/w", "the port must be a number from 1 to 65535"},
      {"mysql+pymysql://u:hunter2@h:abc/w", "the port must be a number from 1 to 65535"},
      {"mysql+pymysql://u:hunter2@h", "the URL names no database"},
      {"mysql+pymysql://u:hunter2@h/", "the URL names no database"},
      {"mysql+pymysql://u:hunter2@h/w?sslmode=require", "unknown parameter 'sslmode'"},
      {"mysql+pymysql://u:hunter2@h/w?read_timeout=-1", "parameter 'read_timeout' must be"},
      {"mysql+pymysql://u:hunter2@h/w?ssl_verify_cert=maybe", "must be true or false"},
      {"mysql+pymysql://u:hun%zzter2@h/w", "the password has a bad %-escape"},
      {"mysql+pymysql://u:hunter2@[::1/w", "the host's '[' is not closed"},
      {"postgresql://u:hunter2@h/w", "PostgreSQL is not supported"},
      {"oracle://u:hunter2@h/w", "unknown database scheme 'oracle'"},
      {"hunter2", "not a database URL"},
  };
  for (const auto& [url, want] : bad) {
    auto r = ParseDatabaseUrl(url);
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << url;
    EXPECT_NE(r.error().message().find(want), std::string::npos) << url << ": " << r.error().message();
    EXPECT_EQ(r.error().message().find("hunter2"), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find("hun%zzter2"), std::string::npos) << r.error().message();
  }
}

TEST(DatabaseUrlTest, TheConfigKeyTakesSqliteAndRefusesWhatThisBuildCannotStoreIn) {
  const auto& key = DatabaseConfigKeys().at(0);
  DatabaseConfig c;
  EXPECT_EQ(key.set(c, "sqlite:////tmp/w.db"), "");
  EXPECT_EQ(c.sqlite_path, "/tmp/w.db");
  const std::string refused = key.set(c, "mysql+pymysql://masakari:hunter2@h/masakari");
  EXPECT_NE(refused.find("SQLite only"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("hunter2"), std::string::npos) << refused;
  EXPECT_EQ(c.sqlite_path, "/tmp/w.db");  // unchanged
  EXPECT_NE(key.set(c, "nonsense").find("not a database URL"), std::string::npos);
}

}  // namespace
}  // namespace warden::store
