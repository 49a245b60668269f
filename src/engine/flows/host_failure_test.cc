// The host failure flow up to the evacuation: fencing (levels, timeouts, no fencer), forced_down
// and disabling, the exact host's instances, and unfencing a repaired host.
#include <gtest/gtest.h>

#include "drivers/fencing/fence_levels.h"
#include "engine/engine_fixture.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;

TEST_F(EngineTest, HostFailureFencesDisablesAndEvacuatesEveryInstanceOnce) {
  MakeCloud(4, 6);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 6u);
  for (const VMove& m : moves) {
    EXPECT_EQ(m.status, VMoveStatus::kSucceeded) << m.message.value_or("");
    EXPECT_EQ(m.source_host, "compute1");
    ASSERT_TRUE(m.dest_host.has_value());
    EXPECT_NE(*m.dest_host, "compute1");
    EXPECT_TRUE(m.start_time && m.end_time && *m.end_time >= *m.start_time);
    EXPECT_EQ(sim_->evacuations(m.instance_uuid), 1);
    EXPECT_EQ(sim_->instances().at(m.instance_uuid).info.host, *m.dest_host);
  }
  EXPECT_EQ(InstancesOn("compute1"), 0);
  EXPECT_EQ(sim_->split_brains(), 0);
  EXPECT_EQ(sim_->unfenced_evacuations(), 0);
  const sim::SimHost& failed = sim_->hosts().at("compute1");
  EXPECT_FALSE(failed.service_enabled);
  EXPECT_TRUE(failed.forced_down);
  EXPECT_TRUE(HostNamed("compute1").on_maintenance);
  // HA-enabled instances were moved first.
  EXPECT_EQ(moves.size(), 6u);
  // recovery_workflow_details: Masakari's shape, every task SUCCESS, in order.
  json details = json::parse(n.workflow_details_json);
  ASSERT_EQ(details.size(), 4u);
  EXPECT_EQ(details[0]["name"], "FenceHostTask");
  EXPECT_EQ(details[1]["name"], "DisableComputeServiceTask");
  EXPECT_EQ(details[2]["name"], "PrepareHAEnabledInstancesTask");
  EXPECT_EQ(details[3]["name"], "EvacuateInstancesTask");
  for (auto& d : details) {
    EXPECT_EQ(d["state"], "SUCCESS");
    EXPECT_DOUBLE_EQ(d["progress"].get<double>(), 1.0);
    ASSERT_FALSE(d["progress_details"].empty());
    EXPECT_TRUE(d["progress_details"][0].contains("timestamp"));
    EXPECT_TRUE(d["progress_details"][0].contains("message"));
  }
}

TEST_F(EngineTest, FencesAHostThatIsStillRunningBeforeAnyEvacuation) {
  MakeCloud(3, 2);
  StartEngine();
  // The monitor says the host is down, but it still has power (a partition): Warden powers it
  // off through the BMC before anything starts elsewhere.
  const std::string id = HostDown("compute2", R"({"event":"STOPPED","host_status":"UNKNOWN"})");
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  EXPECT_FALSE(sim_->hosts().at("compute2").powered);
  EXPECT_EQ(sim_->unfenced_evacuations(), 0);
  EXPECT_EQ(sim_->split_brains(), 0);
  EXPECT_EQ(fencer_->faults().calls("PowerOff"), 1);
}

TEST_F(EngineTest, OnlyTheExactHostIsEvacuatedNotOneWhoseNameItPrefixes) {
  MakeCloud(0, 3, RecoveryMethod::kAuto, {"compute3", "compute30", "compute31"});
  StartEngine();
  sim_->PowerLoss("compute3");
  const std::string id = HostDown("compute3");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 3u);
  for (auto& m : moves) EXPECT_EQ(m.instance_uuid.rfind("compute3-vm", 0), 0u) << m.instance_uuid;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sim_->evacuations("compute30-vm" + std::to_string(i)), 0);
  }
  EXPECT_EQ(InstancesOn("compute3"), 0);
}

TEST_F(EngineTest, UnconfirmedFencingEndsInErrorAndNothingIsEvacuated) {
  MakeCloud(3, 4);
  StartEngine();
  sim_->PowerLoss("compute1", /*bmc_too=*/true);
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  ASSERT_TRUE(n.message.has_value());
  EXPECT_NE(n.message->find("Fencing host compute1 failed"), std::string::npos) << *n.message;
  EXPECT_NE(n.message->find("Nothing is evacuated"), std::string::npos);
  EXPECT_EQ(sim_->evacuations_accepted(), 0);
  EXPECT_TRUE(Moves(id).empty());
  EXPECT_FALSE(sim_->hosts().at("compute1").forced_down);
  EXPECT_TRUE(LogHas("ALARM"));
}

TEST_F(EngineTest, PowerOffThatNeverConfirmsTimesOutIntoError) {
  MakeCloud(3, 2);
  options_.fence_timeout_micros = 20 * kSecond;
  StartEngine();
  // The BMC never answers a power-off but with an error; the host stays on.
  fencer_->faults().Set("PowerOff", {.kind = drivers::Fault::Kind::kError,
                                     .error = Error(ErrorCode::kUnavailable, "BMC timeout"),
                                     .times = -1});
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_EQ(sim_->evacuations_accepted(), 0);
  EXPECT_TRUE(sim_->hosts().at("compute1").powered);
}

// A BMC that accepts a power off and never reports the host off.
class StuckBmc final : public drivers::Fencer {
 public:
  explicit StuckBmc(EventLoop& loop) : loop_(loop) {}
  bool Covers(const std::string&) const override { return true; }
  void PowerOff(const std::string&, drivers::Callback<void> done) override {
    loop_.Post([done] { done(Result<void>{}); });
  }
  void GetPowerState(const std::string&, drivers::Callback<drivers::PowerState> done) override {
    loop_.Post([done] { done(drivers::PowerState::kOn); });
  }

 private:
  EventLoop& loop_;
};

TEST_F(EngineTest, FencingLevelsThatNeverConfirmEndInErrorAndEvacuateNothing) {
  MakeCloud(3, 2);
  options_.fence_timeout_micros = 300 * kSecond;
  // Level 1: the sim's BMC, unreachable; level 2: a BMC whose host never reads off.
  fencer_->faults().Set("PowerOff", {.kind = drivers::Fault::Kind::kError,
                                     .error = Error(ErrorCode::kUnavailable, "BMC unreachable"),
                                     .times = -1});
  std::vector<drivers::FenceDevice> devices;
  devices.push_back({.name = "ipmi bmc", .level = 1,
                     .fencer = std::make_unique<drivers::Faulty<drivers::Fencer>>(*fencer_, loop_)});
  devices.push_back({.name = "redfish stuck", .level = 2, .confirm_timeout_micros = 20 * kSecond,
                     .fencer = std::make_unique<StuckBmc>(loop_)});
  engine_fencer_ = drivers::MakeFenceLevels(loop_, std::move(devices), {});
  StartEngine();
  const MonoMicros start = loop_.clock().Monotonic();
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  ASSERT_TRUE(n.message);
  EXPECT_NE(n.message->find("every fencing level failed"), std::string::npos) << *n.message;
  EXPECT_NE(n.message->find("level 1 (ipmi bmc): power off failed: BMC unreachable"),
            std::string::npos) << *n.message;
  EXPECT_NE(n.message->find("level 2 (redfish stuck): power off not confirmed within 20 s"),
            std::string::npos) << *n.message;
  EXPECT_NE(n.message->find("Nothing is evacuated"), std::string::npos);
  // It ended when the last level gave up, not at the engine's fence timeout.
  EXPECT_LT(loop_.clock().Monotonic() - start, 120 * kSecond);
  EXPECT_EQ(sim_->evacuations_accepted(), 0);
  EXPECT_TRUE(Moves(id).empty());
  EXPECT_FALSE(sim_->hosts().at("compute1").forced_down);
  EXPECT_TRUE(sim_->hosts().at("compute1").powered);
  EXPECT_TRUE(LogHas("ALARM"));
}

TEST_F(EngineTest, FencingLevelTwoConfirmsAndTheHostIsEvacuated) {
  MakeCloud(3, 2);
  // Level 1 refuses; level 2 is the sim's BMC, which powers the host off.
  auto refusing = std::make_unique<drivers::Faulty<drivers::Fencer>>(*fencer_inner_, loop_);
  refusing->faults().Set("PowerOff", {.kind = drivers::Fault::Kind::kError,
                                      .error = Error(ErrorCode::kPermissionDenied, "bad password"),
                                      .times = -1});
  std::vector<drivers::FenceDevice> devices;
  devices.push_back({.name = "ipmi refusing", .level = 1, .fencer = std::move(refusing)});
  devices.push_back({.name = "sim bmc", .level = 2,
                     .fencer = std::make_unique<drivers::Faulty<drivers::Fencer>>(*fencer_, loop_)});
  engine_fencer_ = drivers::MakeFenceLevels(loop_, std::move(devices), {});
  StartEngine();
  const std::string id = HostDown("compute1", R"({"event":"STOPPED","host_status":"UNKNOWN"})");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  EXPECT_FALSE(sim_->hosts().at("compute1").powered);
  EXPECT_TRUE(sim_->hosts().at("compute1").forced_down);
  EXPECT_EQ(fencer_->faults().calls("PowerOff"), 1);
  EXPECT_EQ(InstancesOn("compute1"), 0);
}

TEST_F(EngineTest, UnfenceReturnsTheHostToServiceInOneStep) {
  MakeCloud(3, 2);
  StartEngine();
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  ASSERT_TRUE(HostNamed("compute1").on_maintenance);
  ASSERT_TRUE(sim_->hosts().at("compute1").forced_down);
  std::optional<Result<Host>> done;
  engine_->Unfence(HostNamed("compute1").uuid, "ops", [&](Result<Host> h) { done = h; });
  loop_.RunUntil([&] { return done.has_value(); }, loop_.clock().Monotonic() + 60 * kSecond);
  ASSERT_TRUE(done && *done) << (done && !*done ? done->error().ToString() : "");
  EXPECT_FALSE((*done)->on_maintenance);
  EXPECT_FALSE(HostNamed("compute1").on_maintenance);
  EXPECT_FALSE(sim_->hosts().at("compute1").forced_down);
  EXPECT_TRUE(sim_->hosts().at("compute1").service_enabled);
  EXPECT_FALSE(sim_->hosts().at("compute1").powered);  // unfence never powers a host on
  EXPECT_TRUE(LogHas("host unfenced"));
}

TEST_F(EngineTest, UnfenceIsRefusedWhileTheHostIsBeingRecoveredAndWhenNovaFails) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(60 * kSecond);
  MakeCloud(3, 2);
  StartEngine();
  const std::string id = HostDown("compute1");
  loop_.RunFor(5 * kSecond);
  ASSERT_EQ(Get(id).status, NotificationStatus::kRunning);
  std::optional<Result<Host>> busy;
  engine_->Unfence(HostNamed("compute1").uuid, "ops", [&](Result<Host> h) { busy = h; });
  loop_.RunUntil([&] { return busy.has_value(); }, loop_.clock().Monotonic() + 10 * kSecond);
  ASSERT_TRUE(busy);
  ASSERT_FALSE(*busy);
  EXPECT_NE(busy->error().message().find("under way"), std::string::npos);
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);

  // Nova refuses: the host stays on maintenance and the error says which step failed.
  compute_->faults().Set("SetForcedDown", {.kind = drivers::Fault::Kind::kError,
                                           .error = Error(ErrorCode::kPermissionDenied, "forbidden"),
                                           .times = -1});
  std::optional<Result<Host>> refused;
  engine_->Unfence(HostNamed("compute1").uuid, "ops", [&](Result<Host> h) { refused = h; });
  loop_.RunUntil([&] { return refused.has_value(); }, loop_.clock().Monotonic() + 60 * kSecond);
  ASSERT_TRUE(refused);
  ASSERT_FALSE(*refused);
  EXPECT_NE(refused->error().message().find("clearing forced_down failed: forbidden"),
            std::string::npos) << refused->error().message();
  EXPECT_TRUE(HostNamed("compute1").on_maintenance);
}

TEST_F(EngineTest, UnfencedHostTrustsHostStatusOrRefuses) {
  sim_ = nullptr;
  MakeCloud(0, 1, RecoveryMethod::kAuto, {"a", "b", "c"});
  // Rebuild host "a" without a BMC.
  sim_ = std::make_unique<sim::SimCloud>(loop_, sim_options_);
  sim_->AddHost("a", {32, 65536, 1000}, /*has_bmc=*/false);
  sim_->AddHost("b", {32, 65536, 1000});
  sim_->AddHost("c", {32, 65536, 1000});
  sim_->AddInstance("vm", "vm", "a", {2, 4096, 20}, true);
  compute_inner_ = sim_->MakeComputeDriver();
  fencer_inner_ = sim_->MakeFencer();
  compute_ = std::make_unique<drivers::Faulty<drivers::ComputeDriver>>(*compute_inner_, loop_);
  fencer_ = std::make_unique<drivers::Faulty<drivers::Fencer>>(*fencer_inner_, loop_);
  StartEngine();
  sim_->PowerLoss("a");
  // UNKNOWN from a monitor, no fencer: not confirmed off → ignored (Masakari's rule).
  Notification unknown = RunToEnd(HostDown("a", R"({"event":"STOPPED","host_status":"UNKNOWN"})"));
  EXPECT_EQ(unknown.status, NotificationStatus::kIgnored);
  EXPECT_NE(unknown.message.value_or("").find("not confirmed off"), std::string::npos);
  // NORMAL: the monitor's confirmation is trusted and recorded.
  Notification normal = RunToEnd(HostDown("a", R"({"event":"STOPPED","host_status":"NORMAL","x":1})"));
  ASSERT_EQ(normal.status, NotificationStatus::kFinished) << normal.message.value_or("");
  EXPECT_NE(normal.workflow_details_json.find("host_status NORMAL is taken as confirmation"),
            std::string::npos);
  EXPECT_EQ(sim_->instances().at("vm").info.vm_state, "active");
  EXPECT_NE(sim_->instances().at("vm").info.host, "a");
}

}  // namespace
}  // namespace warden::engine
