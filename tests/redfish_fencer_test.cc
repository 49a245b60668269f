// The redfish fencer against a minimal Redfish endpoint written for the tests (Debian packages
// no Redfish emulator): /redfish/v1/Systems with one ComputerSystem that has a PowerState and
// the ComputerSystem.Reset action, basic auth, and failures on demand (500, hang, ForceOff
// refused, a host that stays on, "already off" answers).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include "api/http.h"
#include "api/http_server.h"
#include "core/event_loop.h"
#include "drivers/fencing/fence_levels.h"
#include "drivers/fencing/redfish_fencer.h"

namespace warden {
namespace {

using nlohmann::json;
using drivers::PowerState;
constexpr int64_t kSecond = 1'000'000;

class FakeRedfish final : public api::HttpHandler {
 public:
  FakeRedfish() {
    auto s = api::StartHttpServer({.address = "127.0.0.1", .port = 0, .worker_threads = 4,
                                   .stop_grace_ms = 500},
                                  *this);
    server_ = std::move(*s);
    url = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  ~FakeRedfish() override { server_->Stop(); }

  // --- state and failures, guarded by mu ---
  std::mutex mu;
  std::string url;
  std::string power = "On";
  int fail_status = 0;             // every request answers this
  bool hang = false;               // requests wait 2 s before answering
  bool refuse_force_off = false;   // Reset answers 400 and nothing changes
  bool stays_on = false;           // Reset answers 204 and nothing changes
  bool conflict_when_off = false;  // Reset powers off but answers 409 "already off"
  std::vector<std::string> seen;   // "GET /redfish/v1/Systems" ...
  std::vector<std::string> reset_bodies;
  std::string authorization;       // the last Authorization header

  int Count(const std::string& line) {
    std::lock_guard lock(mu);
    return int(std::count(seen.begin(), seen.end(), line));
  }

  api::HttpResponse Handle(const api::HttpRequest& r) override {
    bool wait = false;
    {
      std::lock_guard lock(mu);
      seen.push_back(r.method + " " + r.path);
      if (const std::string* a = r.Header("authorization")) authorization = *a;
      wait = hang;
    }
    if (wait) std::this_thread::sleep_for(std::chrono::seconds(2));
    std::lock_guard lock(mu);
    const std::string* a = r.Header("authorization");
    // admin:s3cret
    if (a == nullptr || *a != "Basic YWRtaW46czNjcmV0") return Error(401, "Unauthorized");
    if (fail_status != 0) return Error(fail_status, "Internal error");
    if (r.method == "GET" && r.path == "/redfish/v1/Systems") {
      return Json(200, {{"Members", {{{"@odata.id", "/redfish/v1/Systems/node-7"}}}},
                        {"Members@odata.count", 1}});
    }
    if (r.method == "GET" && r.path == "/redfish/v1/Systems/node-7") {
      return Json(200, {{"@odata.id", "/redfish/v1/Systems/node-7"},
                        {"PowerState", power},
                        {"Actions",
                         {{"#ComputerSystem.Reset",
                           {{"target", "/redfish/v1/Systems/node-7/Actions/Reset"},
                            {"ResetType@Redfish.AllowableValues",
                             {"On", "ForceOff", "GracefulShutdown", "ForceRestart"}}}}}}});
    }
    if (r.method == "POST" && r.path == "/redfish/v1/Systems/node-7/Actions/Reset") {
      reset_bodies.push_back(r.body);
      json body = json::parse(r.body, nullptr, false);
      if (!body.is_object() || body.value("ResetType", "") != "ForceOff") {
        return Error(400, "unsupported ResetType");
      }
      if (refuse_force_off) return Error(400, "The action ForceOff is not allowed now.");
      if (conflict_when_off) {
        power = "Off";
        return Error(409, "The system is already powered off.");
      }
      if (!stays_on) power = "Off";
      return {.status = 204, .body = ""};
    }
    return Error(404, "not found");
  }

 private:
  static api::HttpResponse Json(int status, const json& j) { return {.status = status, .body = j.dump()}; }
  static api::HttpResponse Error(int status, const std::string& msg) {
    return Json(status, {{"error",
                          {{"code", "Base.1.0.GeneralError"},
                           {"message", "See ExtendedInfo"},
                           {"@Message.ExtendedInfo", {{{"Message", msg}}}}}}});
  }
  std::unique_ptr<api::HttpServer> server_;
};

class RedfishFencerTest : public ::testing::Test {
 protected:
  drivers::RedfishOptions Options(const FakeRedfish& bmc) {
    drivers::RedfishOptions o;
    o.name = "bmc-compute1";
    o.hosts = {"compute1"};
    o.url = bmc.url;
    o.credentials = {"admin", "s3cret"};
    o.command_timeout_micros = 5 * kSecond;
    o.retry = {
        .attempts = 3, .delay_micros = kSecond, .max_delay_micros = 8 * kSecond, .jitter = 0};
    return o;
  }
  template <typename T>
  std::optional<Result<T>> Wait(std::function<void(drivers::Callback<T>)> call) {
    std::optional<Result<T>> out;
    call([&](Result<T> r) { out = std::move(r); });
    loop_.RunUntil([&] { return out.has_value(); }, loop_.clock().Monotonic() + 600 * kSecond);
    return out;
  }
  std::optional<Result<void>> Off(drivers::Fencer& f) {
    return Wait<void>([&](auto cb) { f.PowerOff("compute1", cb); });
  }
  std::optional<Result<PowerState>> State(drivers::Fencer& f) {
    return Wait<PowerState>([&](auto cb) { f.GetPowerState("compute1", cb); });
  }

  SimulatedEventLoop loop_;
};

TEST_F(RedfishFencerTest, ForceOffThroughTheFirstSystemThenPowerStateOff) {
  FakeRedfish bmc;
  auto f = drivers::MakeRedfishFencer(loop_, Options(bmc));
  auto before = State(*f);
  ASSERT_TRUE(before && *before) << (before && !*before ? before->error().ToString() : "");
  EXPECT_EQ(**before, PowerState::kOn);
  auto off = Off(*f);
  ASSERT_TRUE(off && *off) << (off && !*off ? off->error().ToString() : "");
  auto after = State(*f);
  ASSERT_TRUE(after && *after);
  EXPECT_EQ(**after, PowerState::kOff);
  std::lock_guard lock(bmc.mu);
  ASSERT_EQ(bmc.reset_bodies.size(), 1u);
  EXPECT_EQ(json::parse(bmc.reset_bodies[0]), json({{"ResetType", "ForceOff"}}));
  // The system was found once and remembered.
  EXPECT_EQ(std::count(bmc.seen.begin(), bmc.seen.end(), "GET /redfish/v1/Systems"), 1);
}

TEST_F(RedfishFencerTest, ConfiguredSystemPathIsUsedAsIs) {
  FakeRedfish bmc;
  auto o = Options(bmc);
  o.system = "/redfish/v1/Systems/node-7";
  auto f = drivers::MakeRedfishFencer(loop_, o);
  auto off = Off(*f);
  ASSERT_TRUE(off && *off);
  EXPECT_EQ(bmc.Count("GET /redfish/v1/Systems"), 0);
  EXPECT_EQ(bmc.Count("POST /redfish/v1/Systems/node-7/Actions/Reset"), 1);
}

TEST_F(RedfishFencerTest, AlreadyOffAnswersCountAsDone) {
  FakeRedfish bmc;
  {
    std::lock_guard lock(bmc.mu);
    bmc.power = "Off";
  }
  auto f = drivers::MakeRedfishFencer(loop_, Options(bmc));
  auto off = Off(*f);
  ASSERT_TRUE(off && *off);
  EXPECT_EQ(bmc.Count("POST /redfish/v1/Systems/node-7/Actions/Reset"), 0);  // not reset again

  FakeRedfish racing;  // reads On, then answers the reset 409 "already off"
  {
    std::lock_guard lock(racing.mu);
    racing.conflict_when_off = true;
  }
  auto g = drivers::MakeRedfishFencer(loop_, Options(racing));
  auto off2 = Off(*g);
  ASSERT_TRUE(off2 && *off2) << (off2 && !*off2 ? off2->error().ToString() : "");
}

TEST_F(RedfishFencerTest, WrongCredentialsAreRefusedWithoutRetrying) {
  FakeRedfish bmc;
  auto o = Options(bmc);
  o.credentials.password = "wrong";
  auto f = drivers::MakeRedfishFencer(loop_, o);
  auto off = Off(*f);
  ASSERT_TRUE(off);
  ASSERT_FALSE(*off);
  EXPECT_EQ(off->error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(off->error().message().find("refused the credentials"), std::string::npos);
  EXPECT_EQ(off->error().message().find("wrong"), std::string::npos);
  EXPECT_EQ(bmc.Count("GET /redfish/v1/Systems"), 1);
}

TEST_F(RedfishFencerTest, ServerErrorsAreRetriedThenReported) {
  FakeRedfish bmc;
  {
    std::lock_guard lock(bmc.mu);
    bmc.fail_status = 500;
  }
  auto f = drivers::MakeRedfishFencer(loop_, Options(bmc));
  auto off = Off(*f);
  ASSERT_TRUE(off);
  ASSERT_FALSE(*off);
  EXPECT_EQ(off->error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(off->error().message().find("answered 500: Internal error"), std::string::npos)
      << off->error().message();
  EXPECT_EQ(bmc.Count("GET /redfish/v1/Systems"), 3);  // 1 + 2 retries
}

TEST_F(RedfishFencerTest, HangingBmcIsATimeout) {
  FakeRedfish bmc;
  {
    std::lock_guard lock(bmc.mu);
    bmc.hang = true;
  }
  auto o = Options(bmc);
  o.command_timeout_micros = 300'000;
  o.retry.attempts = 1;
  auto f = drivers::MakeRedfishFencer(loop_, o);
  auto off = Off(*f);
  ASSERT_TRUE(off);
  ASSERT_FALSE(*off);
  EXPECT_EQ(off->error().code(), ErrorCode::kDeadlineExceeded) << off->error().ToString();
}

TEST_F(RedfishFencerTest, RefusedForceOffIsAnError) {
  FakeRedfish bmc;
  {
    std::lock_guard lock(bmc.mu);
    bmc.refuse_force_off = true;
  }
  auto f = drivers::MakeRedfishFencer(loop_, Options(bmc));
  auto off = Off(*f);
  ASSERT_TRUE(off);
  ASSERT_FALSE(*off);
  EXPECT_EQ(off->error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(off->error().message().find("ForceOff is not allowed now"), std::string::npos);
  EXPECT_EQ(bmc.Count("POST /redfish/v1/Systems/node-7/Actions/Reset"), 1);  // not retried
}

TEST_F(RedfishFencerTest, LevelTwoConfirmsWhenLevelOneStaysOn) {
  FakeRedfish stuck, good;
  {
    std::lock_guard lock(stuck.mu);
    stuck.stays_on = true;
  }
  std::vector<drivers::FenceDevice> devices;
  devices.push_back({.name = "redfish stuck", .level = 1, .confirm_timeout_micros = 5 * kSecond,
                     .fencer = drivers::MakeRedfishFencer(loop_, Options(stuck))});
  devices.push_back({.name = "redfish good", .level = 2, .confirm_timeout_micros = 5 * kSecond,
                     .fencer = drivers::MakeRedfishFencer(loop_, Options(good))});
  auto f = drivers::MakeFenceLevels(loop_, std::move(devices), {});
  auto off = Off(*f);
  ASSERT_TRUE(off && *off);
  std::optional<Result<PowerState>> s;
  for (int i = 0; i < 30 && !(s && *s && **s == PowerState::kOff); ++i) {
    loop_.RunFor(kSecond);
    s = State(*f);
  }
  ASSERT_TRUE(s && *s);
  EXPECT_EQ(**s, PowerState::kOff);
  std::lock_guard lock(good.mu);
  EXPECT_EQ(good.power, "Off");
}

TEST_F(RedfishFencerTest, BothLevelsFailingIsAnError) {
  FakeRedfish down, stuck;
  {
    std::lock_guard lock(down.mu);
    down.fail_status = 503;
  }
  {
    std::lock_guard lock(stuck.mu);
    stuck.stays_on = true;
  }
  std::vector<drivers::FenceDevice> devices;
  auto o1 = Options(down);
  o1.retry.attempts = 2;
  devices.push_back({.name = "redfish down", .level = 1,
                     .fencer = drivers::MakeRedfishFencer(loop_, o1)});
  devices.push_back({.name = "redfish stuck", .level = 2, .confirm_timeout_micros = 4 * kSecond,
                     .fencer = drivers::MakeRedfishFencer(loop_, Options(stuck))});
  auto f = drivers::MakeFenceLevels(loop_, std::move(devices), {});
  auto off = Off(*f);
  ASSERT_TRUE(off && *off);  // level 2 accepted the power off
  std::optional<Result<PowerState>> s;
  for (int i = 0; i < 30; ++i) {
    loop_.RunFor(kSecond);
    s = State(*f);
    if (s && !*s) break;
  }
  ASSERT_TRUE(s);
  ASSERT_FALSE(*s);
  EXPECT_NE(s->error().message().find("level 1 (redfish down): power off failed"), std::string::npos)
      << s->error().message();
  EXPECT_NE(s->error().message().find("level 2 (redfish stuck): power off not confirmed"),
            std::string::npos);
}

}  // namespace
}  // namespace warden
