#include "server/config.h"

#include <gtest/gtest.h>

namespace warden::server {
namespace {

const std::string kMinimal = "[api]\ntoken_file = /etc/warden/tokens\n";

TEST(Config, DefaultsMatchTheDocumentation) {
  auto c = ParseConfig(kMinimal, "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 15868);
  EXPECT_EQ(c->auth_strategy, "token");
  EXPECT_EQ(c->osapi_max_limit, 1000);
  EXPECT_EQ(c->duplicate_notification_detection_interval, 180);
}

TEST(Config, ReadsSectionsCommentsAndSqliteUrls) {
  auto c = ParseConfig(
      "# comment\n[DEFAULT]\nlog_level = debug\n; another\n[api]\nlisten = 0.0.0.0:8080\n"
      "token_file=/t\nworkers = 4\n[database]\nconnection = sqlite:////var/lib/warden/w.db\n",
      "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 8080);
  EXPECT_EQ(c->workers, 4);
  EXPECT_EQ(c->sqlite_path, "/var/lib/warden/w.db");
}

TEST(Config, EnvironmentOverridesTheFile) {
  auto c = ParseConfig(kMinimal + "listen = 127.0.0.1:1\n", "t.conf",
                       {{"WARDEN_API_LISTEN", "127.0.0.1:0"},
                        {"WARDEN_DEFAULT_LOG_FORMAT", "json"},
                        {"WARDEN_URL", "http://ignored: client variable"}});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_EQ(c->log_format, "json");
}

struct BadCase {
  std::string text;
  std::map<std::string, std::string> env;
  std::string must_mention;
};

TEST(Config, BadInputStopsStartUpNamingTheKey) {
  const std::vector<BadCase> cases = {
      {kMinimal + "lisen = 1.2.3.4:5\n", {}, "[api] lisen"},
      {kMinimal + "listen = nowhere\n", {}, "[api] listen"},
      {kMinimal + "listen = 127.0.0.1:99999\n", {}, "[api] listen"},
      {kMinimal + "workers = many\n", {}, "[api] workers"},
      {kMinimal + "workers = 0\n", {}, "[api] workers"},
      {kMinimal + "auth_strategy = keystone\n", {}, "[api] auth_strategy"},
      {kMinimal + "access_log = sometimes\n", {}, "[api] access_log"},
      {kMinimal + "[nova]\nx = 1\n", {}, "[nova]"},
      {kMinimal + "[DEFAULT]\nlog_level = loud\n", {}, "[DEFAULT] log_level"},
      {kMinimal + "[database]\nconnection = mysql://x\n", {}, "[database] connection"},
      {kMinimal + "just text\n", {}, "t.conf:3"},
      {kMinimal, {{"WARDEN_API_LISTN", "x"}}, "WARDEN_API_LISTN"},
      {kMinimal, {{"WARDEN_API_WORKERS", "-3"}}, "[api] workers"},
      {"[api]\nauth_strategy = token\n", {}, "[api] token_file"},
      {"[api]\nauth_strategy = noauth\nlisten = 0.0.0.0:15868\n", {}, "noauth"},
  };
  for (const auto& bad : cases) {
    auto c = ParseConfig(bad.text, "t.conf", bad.env);
    ASSERT_FALSE(c.has_value()) << bad.text;
    EXPECT_NE(c.error().message().find(bad.must_mention), std::string::npos)
        << c.error().message() << " should mention " << bad.must_mention;
  }
}

TEST(Config, NoAuthIsAllowedOnLoopback) {
  for (std::string listen : {"127.0.0.1:1", "localhost:1", "[::1]:1", "127.0.0.5:1"}) {
    auto c = ParseConfig("[api]\nauth_strategy = noauth\nlisten = " + listen + "\n", "t", {});
    EXPECT_TRUE(c.has_value()) << listen << ": " << c.error().message();
  }
}

}  // namespace
}  // namespace warden::server
