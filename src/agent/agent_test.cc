#include "agent/agent.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/digest.h"
#include "core/test_temp_dir.h"

namespace warden::agent {
namespace {

using json = nlohmann::json;

std::string TempDir() {
  static std::atomic<int> n{0};
  auto dir = ProcessTempDir("warden-agent-test") / std::to_string(n++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// ---------------------------------------------------------------------------------- config

TEST(ParseAgentConfig, ReadsAgentAndProcessSections) {
  auto c = ParseAgentConfig(R"(
[agent]
listen = 0.0.0.0:16000
host = compute7
token_file = /etc/warden/agent-tokens

[process:nova-compute]
restart_command = systemctl restart nova-compute
check_command = systemctl is-active --quiet nova-compute
timeout = 2m
check_interval = 500ms
)",
                            "agent.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 16000);
  EXPECT_EQ(c->host, "compute7");
  ASSERT_EQ(c->processes.size(), 1u);
  EXPECT_EQ(c->processes[0].name, "nova-compute");
  EXPECT_EQ(c->processes[0].timeout_micros, 120'000'000);
  EXPECT_EQ(c->processes[0].check_interval_micros, 500'000);
}

TEST(ParseAgentConfig, TheEnvironmentOverridesAgentKeys) {
  auto c = ParseAgentConfig(
      "[agent]\ntoken_file = t\nlisten = 127.0.0.1:1\n", "a.conf",
      {{"WARDEN_AGENT_LISTEN", "127.0.0.1:0"}, {"WARDEN_AGENT_HOST", "envhost"}, {"OTHER", "x"}});
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_EQ(c->host, "envhost");
}

TEST(ParseAgentConfig, BadInputNamesTheKey) {
  struct Case {
    std::string ini;
    std::map<std::string, std::string> env;
    std::string expected;
  };
  const std::string ok = "[agent]\ntoken_file = t\n";
  const std::vector<Case> cases = {
      {ok + "listen = nowhere\n", {}, "[agent] listen"},
      {ok + "listen = 127.0.0.1:70000\n", {}, "[agent] listen"},
      {ok + "auth_strategy = keystone\n", {}, "[agent] auth_strategy"},
      {ok + "colour = blue\n", {}, "unknown key [agent] colour"},
      {ok + "[process:nova compute]\nrestart_command = x\n", {}, "plain name"},
      {ok + "[process:n]\ncheck_command = true\n", {}, "[process:n] restart_command is required"},
      {ok + "[process:n]\nrestart_command = x\ntimeout = soon\n", {}, "[process:n] timeout"},
      {ok + "[process:n]\nrestart_command = x\nretries = 3\n",
       {},
       "unknown key [process:n] retries"},
      {ok + "[process:n]\nrestart_command = x\n[process:n]\nrestart_command = y\n",
       {},
       "appears twice"},
      {ok + "[processes]\n", {}, "unknown section [processes]"},
      {ok + "token_file = u\n", {}, "token_file is set twice"},
      {"[agent]\nlisten = 127.0.0.1:1\n", {}, "[agent] token_file"},
      {"[agent]\nauth_strategy = noauth\nlisten = 0.0.0.0:1\n", {}, "[agent] auth_strategy"},
      {ok, {{"WARDEN_AGENT_COLOUR", "blue"}}, "WARDEN_AGENT_COLOUR"},
      {"listen = x\n", {}, "outside of any [section]"},
  };
  for (const Case& c : cases) {
    auto r = ParseAgentConfig(c.ini, "a.conf", c.env);
    ASSERT_FALSE(r.has_value()) << c.ini;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(c.expected), std::string::npos)
        << r.error().message() << " lacks " << c.expected;
  }
}

// ---------------------------------------------------------------------------------- handler

class AgentHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    auto admin = api::NewToken();
    auto reader = api::NewToken();
    ASSERT_TRUE(admin && reader);
    admin_ = *admin;
    reader_ = *reader;
    std::ofstream(dir_ + "/tokens") << Sha256Hex(admin_) << " server admin\n"
                                    << Sha256Hex(reader_) << " look reader\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Start(const std::string& processes) {
    auto c =
        ParseAgentConfig("[agent]\nhost = compute1\ntoken_file = " + dir_ + "/tokens\n" + processes,
                         "agent.conf", {});
    ASSERT_TRUE(c.has_value()) << c.error().ToString();
    auto auth = api::MakeTokenAuthenticator(dir_ + "/tokens");
    ASSERT_TRUE(auth.has_value()) << auth.error().ToString();
    handler_ = MakeAgentHandler(*c, std::move(*auth), [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_ += line + "\n";
    });
  }

  api::HttpResponse Call(const std::string& method, const std::string& path,
                         const std::string& token, const std::string& body = "") {
    api::HttpRequest r;
    r.method = method;
    r.path = path;
    r.target = path;
    r.body = body;
    if (!token.empty()) r.headers.push_back({"x-auth-token", token});
    return handler_->Handle(r);
  }

  std::string dir_, admin_, reader_;
  std::unique_ptr<api::HttpHandler> handler_;
  std::mutex log_mu_;
  std::string log_;
};

TEST_F(AgentHandlerTest, RestartsAProcessAndConfirmsItRunsAgain) {
  // The "process" is a file: the restart command creates it, the check finds it.
  ASSERT_NO_FATAL_FAILURE(Start("[process:nova-compute]\nrestart_command = touch " + dir_ +
                                "/running\n" + "check_command = test -e " + dir_ +
                                "/running\ncheck_interval = 50ms\n"));
  auto r = Call("POST", "/v1/agent/processes/nova-compute/restart", admin_,
                R"({"notification_uuid":"n-1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  EXPECT_EQ(body["restart"]["process"], "nova-compute");
  EXPECT_EQ(body["restart"]["host"], "compute1");
  EXPECT_EQ(body["restart"]["running"], true);
  EXPECT_EQ(body["restart"]["confirmed_by"], "check_command");
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/running"));
  auto info = json::parse(Call("GET", "/v1/agent", reader_).body);
  EXPECT_EQ(info["agent"]["host"], "compute1");
  EXPECT_EQ(info["agent"]["processes"][0]["last_restart"]["ok"], true);
  // The commands are for admins only.
  EXPECT_FALSE(info["agent"]["processes"][0].contains("restart_command"));
  auto full = json::parse(Call("GET", "/v1/agent", admin_).body);
  EXPECT_EQ(full["agent"]["processes"][0]["restart_command"], "touch " + dir_ + "/running");
  EXPECT_NE(log_.find("notification=n-1"), std::string::npos) << log_;
  EXPECT_EQ(log_.find(admin_), std::string::npos) << "a token reached the log";
}

TEST_F(AgentHandlerTest, AProcessThatStartsLateIsWaitedFor) {
  // Comes up 300 ms after the restart command returns; checked every 50 ms.
  ASSERT_NO_FATAL_FAILURE(Start("[process:p]\nrestart_command = (sleep 0.3; touch " + dir_ +
                                "/up) >/dev/null 2>&1 &\ncheck_command = test -e " + dir_ +
                                "/up\ncheck_interval = 50ms\ntimeout = 10s\n"));
  auto r = Call("POST", "/v1/agent/processes/p/restart", admin_);
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(AgentHandlerTest, AFailedRestartIs500WithTheCommandsOutput) {
  ASSERT_NO_FATAL_FAILURE(Start("[process:p]\nrestart_command = echo unit p not found; exit 5\n"));
  auto r = Call("POST", "/v1/agent/processes/p/restart", admin_);
  ASSERT_EQ(r.status, 500) << r.body;
  json body = json::parse(r.body);
  const std::string message = body["restartFailed"]["message"];
  EXPECT_NE(message.find("exit status 5"), std::string::npos) << message;
  EXPECT_NE(message.find("unit p not found"), std::string::npos) << message;
  auto info = json::parse(Call("GET", "/v1/agent", admin_).body);
  EXPECT_EQ(info["agent"]["processes"][0]["last_restart"]["ok"], false);
}

TEST_F(AgentHandlerTest, AProcessThatNeverComesBackTimesOut) {
  ASSERT_NO_FATAL_FAILURE(
      Start("[process:p]\nrestart_command = true\ncheck_command = false\ntimeout = 300ms\n"
            "check_interval = 50ms\n"));
  auto r = Call("POST", "/v1/agent/processes/p/restart", admin_);
  ASSERT_EQ(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("not running"), std::string::npos) << r.body;
}

// The server says how long it waits; the agent never goes on longer than that.
TEST_F(AgentHandlerTest, TheServersDeadlineCapsTheRestart) {
  ASSERT_NO_FATAL_FAILURE(
      Start("[process:p]\nrestart_command = true\ncheck_command = false\n"
            "timeout = 60s\ncheck_interval = 100ms\n"));
  const auto start = std::chrono::steady_clock::now();
  auto r = Call("POST", "/v1/agent/processes/p/restart", admin_, R"({"timeout_seconds":1})");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("not running 1 s after"), std::string::npos) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(AgentHandlerTest, ASecondRestartOfTheSameProcessIsAConflict) {
  ASSERT_NO_FATAL_FAILURE(Start("[process:p]\nrestart_command = sleep 0.5\n"));
  std::thread first(
      [&] { EXPECT_EQ(Call("POST", "/v1/agent/processes/p/restart", admin_).status, 200); });
  api::HttpResponse second;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto info = json::parse(Call("GET", "/v1/agent", admin_).body);
    if (info["agent"]["processes"][0]["restarting"] == true) {
      second = Call("POST", "/v1/agent/processes/p/restart", admin_);
      break;
    }
  }
  first.join();
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_NE(second.body.find("already running"), std::string::npos);
}

TEST_F(AgentHandlerTest, AuthenticationRolesAndRoutes) {
  ASSERT_NO_FATAL_FAILURE(Start("[process:p]\nrestart_command = touch " + dir_ + "/ran\n"));
  EXPECT_EQ(Call("GET", "/healthz", "").status, 200);
  EXPECT_EQ(Call("GET", "/v1/agent", "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/agent", "wdn_wrong").status, 401);
  EXPECT_EQ(Call("GET", "/v1/agent", reader_).status, 200);
  auto denied = Call("POST", "/v1/agent/processes/p/restart", reader_);
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ran")) << "a reader restarted a process";
  auto unknown = Call("POST", "/v1/agent/processes/libvirtd/restart", admin_);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(
      json::parse(unknown.body)["itemNotFound"]["message"].get<std::string>().find("libvirtd"),
      std::string::npos);
  EXPECT_EQ(Call("GET", "/v1/agent/processes/p/restart", admin_).status, 405);
  EXPECT_EQ(Call("DELETE", "/v1/agent", admin_).status, 405);
  EXPECT_EQ(Call("GET", "/v1/nope", admin_).status, 404);
  // A body that is not JSON is no reason to refuse a restart.
  EXPECT_EQ(Call("POST", "/v1/agent/processes/p/restart", admin_, "{not json").status, 200);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/ran"));
}

}  // namespace
}  // namespace warden::agent
