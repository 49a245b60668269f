#include "drivers/agent/agent_restarter.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "api/http_server.h"
#include "core/clock.h"

namespace warden::drivers {
namespace {

// An HTTP server on port 0 answering every request with `answer` (or what `script` makes of
// it), remembering the last one and counting them.
class CannedAgent final : public api::HttpHandler {
 public:
  api::HttpResponse Handle(const api::HttpRequest& request) override {
    std::lock_guard lock(mu);
    last = request;
    ++requests;
    return script ? script(request) : answer;
  }
  std::mutex mu;
  api::HttpResponse answer;
  std::function<api::HttpResponse(const api::HttpRequest&)> script;
  api::HttpRequest last;
  int requests = 0;
};

class AgentRestarterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = api::StartHttpServer({.port = 0}, agent_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    server_ = std::move(*s);
    restarter_ = MakeAgentRestarter(
        loop_, {.url_template = "http://{host}:" + std::to_string(server_->port()) + "/",
                .token = "wdn_secret",
                .timeout_micros = 10'000'000,
                .poll_interval_micros = 20'000});
  }

  Result<std::string> Restart(const std::string& host, const std::string& process) {
    std::promise<Result<std::string>> p;
    restarter_->Restart(host, process, "n-1", [&p](Result<std::string> r) { p.set_value(r); });
    return p.get_future().get();
  }

  void Answer(int status, std::string body) {
    std::lock_guard lock(agent_.mu);
    agent_.answer.status = status;
    agent_.answer.body = std::move(body);
  }

  RealClock clock_;
  ThreadEventLoop loop_{clock_};
  CannedAgent agent_;
  std::unique_ptr<api::HttpServer> server_;
  std::unique_ptr<ProcessRestarter> restarter_;
};

TEST_F(AgentRestarterTest, AnAgentsAccountOfTheRestartIsSuccess) {
  Answer(200, R"({"restart":{"process":"nova-compute","host":"127.0.0.1","running":true}})");
  auto r = Restart("127.0.0.1", "nova-compute");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(*r, "nova-compute restarted on 127.0.0.1 by its agent and confirmed running");
  std::lock_guard lock(agent_.mu);
  EXPECT_EQ(agent_.last.method, "POST");
  EXPECT_EQ(agent_.last.path, "/v1/agent/processes/nova-compute/restart");
  ASSERT_NE(agent_.last.Header("x-auth-token"), nullptr);
  EXPECT_EQ(*agent_.last.Header("x-auth-token"), "wdn_secret");
  // The agent is told the notification and to give up 2 s before Warden does.
  EXPECT_NE(agent_.last.body.find(R"("notification_uuid":"n-1")"), std::string::npos);
  EXPECT_NE(agent_.last.body.find(R"("timeout_seconds":8)"), std::string::npos) << agent_.last.body;
}

TEST_F(AgentRestarterTest, AnythingElseIsAnErrorThatSaysWhat) {
  struct Case {
    int status;
    std::string body;
    ErrorCode code;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           // Not a warden agent (agent_url pointing elsewhere): no skipped recovery.
           {200, "<html>welcome</html>", ErrorCode::kAborted, "is it a warden agent?"},
           {200, R"({"restart":{"process":"libvirtd"}})", ErrorCode::kAborted, "warden agent"},
           {404, R"({"itemNotFound":{"code":404,"message":"process x is not configured"}})",
            ErrorCode::kNotFound, "process x is not configured"},
           {401, R"({"unauthorized":{"code":401,"message":"bad token"}})",
            ErrorCode::kPermissionDenied, "refused Warden's token"},
           {500, R"({"restartFailed":{"code":500,"message":"exit status 5"}})", ErrorCode::kAborted,
            "answered 500: exit status 5"},
       }) {
    Answer(c.status, c.body);
    auto r = Restart("127.0.0.1", "nova-compute");
    ASSERT_FALSE(r.has_value()) << c.body;
    EXPECT_EQ(r.error().code(), c.code) << r.error().ToString();
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
  }
}

// The agent's GET /v1/agent answer for nova-compute: still restarting, or done with `ok`.
std::string AgentInfo(bool restarting, bool ok, const std::string& message) {
  std::string last = restarting ? "null"
                                : std::string(R"({"at":"2026-11-23T02:00:00Z","ok":)") +
                                      (ok ? "true" : "false") + R"(,"message":")" + message +
                                      R"(","duration_ms":1200})";
  return std::string(R"({"agent":{"host":"127.0.0.1","processes":[{"name":"libvirtd",)"
                     R"("restarting":false,"last_restart":null},{"name":"nova-compute",)"
                     R"("restarting":)") +
         (restarting ? "true" : "false") + R"(,"last_restart":)" + last + "}]}}";
}

// Warden restarted while the agent was restarting the process (or a second notification
// came): the agent answers 409, and the restart under way decides, not a fallback.
TEST_F(AgentRestarterTest, ARestartAlreadyUnderWayIsAwaitedAndItsOutcomeTaken) {
  for (bool ok : {true, false}) {
    int polls = 0;
    {
      std::lock_guard lock(agent_.mu);
      agent_.script = [&polls, ok](const api::HttpRequest& req) -> api::HttpResponse {
        if (req.method == "POST") {
          return {.status = 409,
                  .body = R"({"conflict":{"code":409,"message":"a restart of nova-compute is )"
                          R"(already running"}})"};
        }
        ++polls;  // the first two polls find it still restarting
        return {.status = 200,
                .body = AgentInfo(polls <= 2, ok, ok ? "restarted" : "not running after 60 s")};
      };
    }
    auto r = Restart("127.0.0.1", "nova-compute");
    {
      std::lock_guard lock(agent_.mu);  // polls is written under it, by the agent's thread
      EXPECT_EQ(polls, 3);
    }
    if (ok) {
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      EXPECT_EQ(*r,
                "nova-compute restarted on 127.0.0.1 by its agent (a restart already under way)");
    } else {
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().code(), ErrorCode::kAborted);
      EXPECT_NE(r.error().message().find("already under way on 127.0.0.1 failed: not running after "
                                         "60 s"),
                std::string::npos)
          << r.error().message();
    }
    std::lock_guard lock(agent_.mu);
    EXPECT_EQ(agent_.last.method, "GET");
    EXPECT_EQ(agent_.last.path, "/v1/agent");
    EXPECT_NE(agent_.last.Header("x-auth-token"), nullptr);
    agent_.script = nullptr;  // it refers to this iteration's polls
  }
}

TEST_F(AgentRestarterTest, ARestartUnderWayPastWardensWaitIsADeadline) {
  restarter_ = MakeAgentRestarter(
      loop_, {.url_template = "http://{host}:" + std::to_string(server_->port()) + "/",
              .token = "wdn_secret",
              .timeout_micros = 300'000,
              .poll_interval_micros = 20'000});
  {
    std::lock_guard lock(agent_.mu);
    agent_.script = [](const api::HttpRequest& req) -> api::HttpResponse {
      if (req.method == "POST") return {.status = 409, .body = "{}"};
      return {.status = 200, .body = AgentInfo(true, false, "")};  // never finishes
    };
  }
  const MonoMicros start = clock_.Monotonic();
  auto r = Restart("127.0.0.1", "nova-compute");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kDeadlineExceeded) << r.error().ToString();
  EXPECT_NE(r.error().message().find("still restarting"), std::string::npos);
  EXPECT_LT(clock_.Monotonic() - start, 3'000'000);  // bounded by Warden's wait, not the agent
  // Not a warden agent's listing: an error, not a wait.
  {
    std::lock_guard lock(agent_.mu);
    agent_.script = [](const api::HttpRequest& req) -> api::HttpResponse {
      if (req.method == "POST") return {.status = 409, .body = "{}"};
      return {.status = 200, .body = "<html>hello</html>"};
    };
  }
  r = Restart("127.0.0.1", "nova-compute");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("does not list nova-compute"), std::string::npos)
      << r.error().message();
}

TEST_F(AgentRestarterTest, StoppingEndsTheWaitForARestartUnderWay) {
  {
    std::lock_guard lock(agent_.mu);
    agent_.script = [](const api::HttpRequest& req) -> api::HttpResponse {
      if (req.method == "POST") return {.status = 409, .body = "{}"};
      return {.status = 200, .body = AgentInfo(true, false, "")};  // never finishes
    };
  }
  std::promise<Result<std::string>> p;
  restarter_->Restart("127.0.0.1", "nova-compute", "n-1",
                      [&p](Result<std::string> r) { p.set_value(r); });
  // Once it polls, Warden stops: the restarter goes well before its 10 s wait would end.
  while (true) {
    {
      std::lock_guard lock(agent_.mu);
      if (agent_.last.method == "GET") break;
    }
    clock_.SleepFor(5'000);
  }
  const MonoMicros start = clock_.Monotonic();
  restarter_.reset();
  EXPECT_LT(clock_.Monotonic() - start, 2'000'000);
  auto r = p.get_future().get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().ToString();
  EXPECT_NE(r.error().message().find("Warden is stopping"), std::string::npos);
}

TEST_F(AgentRestarterTest, AnUnreachableAgentIsUnavailable) {
  const uint16_t port = server_->port();
  server_->Stop();
  server_.reset();
  auto r = Restart("127.0.0.1", "nova-compute");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().ToString();
  EXPECT_NE(r.error().message().find(std::to_string(port)), std::string::npos);
}

TEST(AgentUrlFor, PutsOnlyAPlainHostNameIntoTheTemplate) {
  EXPECT_EQ(*AgentUrlFor("https://{host}.mgmt:15869/", "compute-1"),
            "https://compute-1.mgmt:15869");
  EXPECT_FALSE(AgentUrlFor("http://agent:15869", "compute1").has_value());
  for (const char* bad : {"", "a/b", "evil@host", "h:1", "a b", "x?y"}) {
    EXPECT_FALSE(AgentUrlFor("http://{host}:1", bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace warden::drivers
