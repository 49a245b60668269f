#include "engine/recovery_engine.h"

#include <gtest/gtest.h>

#include <fstream>

#include "drivers/fencing/fence_levels.h"
#include "api/http_server.h"
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

TEST_F(EngineTest, CrashMidEvacuationResumesWithoutEvacuatingAnyInstanceTwice) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(20 * kSecond);
  MakeCloud(4, 10);
  options_.max_parallel_evacuations = 4;
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  // Let some evacuations be accepted and some complete, then the server dies.
  loop_.RunUntil([&] { return sim_->evacuations_accepted() >= 6; },
                 loop_.clock().Monotonic() + 600 * kSecond);
  ASSERT_GE(sim_->evacuations_accepted(), 6);
  CrashEngine();
  loop_.RunFor(5 * kSecond);  // the cloud goes on; nobody is watching
  EXPECT_EQ(Get(id).status, NotificationStatus::kRunning);
  StartEngine();  // the restarted server
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 10u);
  for (auto& m : moves) {
    EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
    EXPECT_EQ(sim_->evacuations(m.instance_uuid), 1) << m.instance_uuid;
  }
  EXPECT_EQ(sim_->evacuations_accepted(), 10);
  EXPECT_EQ(sim_->split_brains(), 0);
}

TEST_F(EngineTest, LostEvacuateAnswerIsReconciledNotRepeated) {
  MakeCloud(3, 4);
  StartEngine();
  // Every evacuate call happens, but the answer is lost (a timeout at the caller).
  compute_->faults().Set("Evacuate", {.kind = drivers::Fault::Kind::kLoseAnswer,
                                      .error = Error(ErrorCode::kDeadlineExceeded, "timeout"),
                                      .times = -1});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  for (auto& m : Moves(id)) {
    EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
    EXPECT_EQ(sim_->evacuations(m.instance_uuid), 1);
  }
}

TEST_F(EngineTest, TransientEvacuateErrorsAreRetried) {
  MakeCloud(3, 4);
  StartEngine();
  compute_->faults().Set("Evacuate", {.kind = drivers::Fault::Kind::kError,
                                      .error = Error(ErrorCode::kUnavailable, "503"),
                                      .times = 3});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  for (auto& m : Moves(id)) {
    EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
    EXPECT_EQ(sim_->evacuations(m.instance_uuid), 1);
  }
  EXPECT_EQ(compute_->faults().calls("Evacuate"), 4 + 3);
}

TEST_F(EngineTest, EvacuationsThatKeepFailingGiveUpAndTheNotificationEndsInError) {
  MakeCloud(3, 2);
  options_.evacuation_attempts = 2;
  StartEngine();
  compute_->faults().Set("Evacuate", {.kind = drivers::Fault::Kind::kError,
                                      .error = Error(ErrorCode::kInvalidArgument, "refused"),
                                      .times = -1});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_NE(n.message.value_or("").find("2 of 2 evacuations failed"), std::string::npos)
      << n.message.value_or("");
  for (auto& m : Moves(id)) {
    EXPECT_EQ(m.status, VMoveStatus::kFailed);
    EXPECT_NE(m.message.value_or("").find("gave up after 2 attempts"), std::string::npos);
  }
}

TEST_F(EngineTest, RebuildFailureOnTheDestinationIsRetriedOnAnotherHost) {
  const VMove move = RecoverWithTheFirstEvacuationFailing();
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(sim_->instances().at(move.instance_uuid).info.vm_state, "active");
}

// Reference masakari.md section 5, item 8: each state Nova can show is handled on purpose.
// Nova evacuates only active, stopped or error instances with no task under way; the others
// are reset to error first, and every instance ends in the state it had for its owner.
struct StateCase {
  const char* name;
  const char* vm_state;
  std::optional<std::string> task_state;
  bool running;         // its guest ran (Nova's power state) when the host failed
  const char* expect;   // its vm_state on the new host
  int resets;           // ResetState calls: before the evacuation, and back to error after
  int stops;            // StopInstance calls after the evacuation
  const char* message;  // in the VM move's message ("" = none)
};

class InstanceStateTest : public EngineTest, public testing::WithParamInterface<StateCase> {};

TEST_P(InstanceStateTest, IsEvacuatedOnceAndLeftAsItWas) {
  const StateCase& c = GetParam();
  MakeCloud(3, 1);
  const std::string uuid = "compute1-vm0";
  sim_->SetInstanceState(uuid, c.vm_state, c.task_state, c.running);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 1u);
  const VMove& m = moves[0];
  EXPECT_EQ(m.status, VMoveStatus::kSucceeded) << m.message.value_or("");
  EXPECT_EQ(sim_->evacuations(uuid), 1);
  const sim::SimInstance& i = sim_->instances().at(uuid);
  EXPECT_NE(i.info.host, "compute1");
  EXPECT_EQ(m.dest_host, i.info.host);
  EXPECT_EQ(i.info.vm_state, c.expect);
  EXPECT_FALSE(i.info.task_state.has_value());
  EXPECT_FALSE(i.info.locked);
  EXPECT_EQ(i.running_on.empty(), std::string(c.expect) != "active");
  EXPECT_EQ(compute_->faults().calls("ResetState"), c.resets);
  EXPECT_EQ(compute_->faults().calls("StopInstance"), c.stops);
  if (*c.message == '\0') {
    EXPECT_FALSE(m.message.has_value()) << *m.message;
  } else {
    EXPECT_NE(m.message.value_or("").find(c.message), std::string::npos) << m.message.value_or("");
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryState, InstanceStateTest,
    testing::Values(StateCase{"Active", "active", std::nullopt, true, "active", 0, 0, ""},
                    StateCase{"ActiveMidTask", "active", "rebooting", true, "active", 1, 0, ""},
                    StateCase{"Stopped", "stopped", std::nullopt, false, "stopped", 0, 0, ""},
                    StateCase{"StoppedMidTask", "stopped", "powering-on", false, "stopped", 1, 1,
                              "not running before the failure"},
                    StateCase{"Paused", "paused", std::nullopt, false, "stopped", 1, 1,
                              "not running before the failure"},
                    StateCase{"Suspended", "suspended", std::nullopt, false, "stopped", 1, 1,
                              "not running before the failure"},
                    StateCase{"Rescued", "rescued", std::nullopt, true, "stopped", 1, 1,
                              "not running before the failure"},
                    StateCase{"ResizedRunning", "resized", std::nullopt, true, "active", 1, 0, ""},
                    StateCase{"ResizedStopped", "resized", std::nullopt, false, "stopped", 1, 1,
                              "not running before the failure"},
                    StateCase{"Error", "error", std::nullopt, false, "error", 1, 1,
                              "set back to error"},
                    StateCase{"Building", "building", "spawning", false, "active", 1, 0, ""}),
    [](const testing::TestParamInfo<StateCase>& info) { return std::string(info.param.name); });

TEST_F(EngineTest, ASoftDeletedInstanceIsNotBroughtBack) {
  MakeCloud(3, 2);
  sim_->SetInstanceState("compute1-vm1", "soft-delete", std::nullopt, false);  // Nova's name
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].instance_uuid, "compute1-vm0");
  EXPECT_EQ(sim_->evacuations("compute1-vm1"), 0);
  EXPECT_EQ(sim_->instances().at("compute1-vm1").info.host, "compute1");
  EXPECT_NE(n.workflow_details_json.find("1 deleted skipped"), std::string::npos);
}

TEST_F(EngineTest, InstancesAreLockedWhileMovedAndUnlockedAfterButAnOwnersLockStays) {
  MakeCloud(3, 4);
  sim_->SetLocked("compute1-vm2", true, "owner's lock");
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  EXPECT_EQ(sim_->evacuated_while_locked().size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const std::string uuid = "compute1-vm" + std::to_string(i);
    const drivers::Instance& inst = sim_->instances().at(uuid).info;
    EXPECT_NE(inst.host, "compute1");
    EXPECT_EQ(inst.locked, i == 2) << uuid;
    if (i == 2) {
      EXPECT_EQ(inst.locked_reason, "owner's lock");
    }
  }
  EXPECT_EQ(compute_->faults().calls("LockInstance"), 3);
  EXPECT_EQ(compute_->faults().calls("UnlockInstance"), 3);
  for (const VMove& m : Moves(id)) EXPECT_FALSE(m.warden_locked);
}

TEST_F(EngineTest, LockingCanBeTurnedOffAndALockFailureDoesNotStopTheMove) {
  MakeCloud(3, 2);
  options_.lock_instances = false;
  StartEngine();
  sim_->PowerLoss("compute1");
  ASSERT_EQ(RunToEnd(HostDown("compute1")).status, NotificationStatus::kFinished);
  EXPECT_EQ(compute_->faults().calls("LockInstance"), 0);
  EXPECT_TRUE(sim_->evacuated_while_locked().empty());

  options_.lock_instances = true;
  CrashEngine();
  StartEngine();
  compute_->faults().Set("LockInstance", {.kind = drivers::Fault::Kind::kError,
                                          .error = Error(ErrorCode::kPermissionDenied, "policy"),
                                          .times = -1});
  sim_->PowerLoss("compute2");
  const std::string id = HostDown("compute2");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  for (const VMove& m : Moves(id)) EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
  EXPECT_TRUE(LogHas("cannot lock the instance"));
}

// A paused instance is reset to error before its evacuation; a crash right then must not make
// the restarted server think it was in error all along, and the lock is still released.
TEST_F(EngineTest, ACrashAfterTheResetKeepsTheInstancesStateAndReleasesItsLock) {
  MakeCloud(3, 1);
  sim_->SetInstanceState("compute1-vm0", "paused", std::nullopt, false);
  StartEngine();
  compute_->faults().Set("Evacuate", {.kind = drivers::Fault::Kind::kHang});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  loop_.RunUntil([&] { return compute_->faults().calls("Evacuate") == 1; },
                 loop_.clock().Monotonic() + 600 * kSecond);
  ASSERT_EQ(compute_->faults().calls("Evacuate"), 1);
  EXPECT_EQ(sim_->instances().at("compute1-vm0").info.vm_state, "error");
  EXPECT_TRUE(sim_->instances().at("compute1-vm0").info.locked);
  CrashEngine();
  compute_->faults().Clear();
  StartEngine();
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  const drivers::Instance& i = sim_->instances().at("compute1-vm0").info;
  EXPECT_NE(i.host, "compute1");
  EXPECT_EQ(i.vm_state, "stopped");  // as paused instances end, not set back to error
  EXPECT_FALSE(i.locked);
  EXPECT_EQ(sim_->evacuations("compute1-vm0"), 1);
}

// The requested destination is refused: Nova keeps the instance's state and only the
// migration record says it failed. Warden reads it and retries at once elsewhere instead of
// waiting out the evacuation timeout.
TEST_F(EngineTest, AFailedMigrationRecordIsSeenWithoutWaitingForTheTimeout) {
  MakeCloud(3, 1);
  StartEngine();
  compute_->faults().OnCall("Evacuate", [this](int64_t n) {
    if (n != 1) return;
    sim_->PowerLoss("compute2");
    sim_->PowerLoss("compute3");
    loop_.RunAfter(kSecond / 2, [this] {
      sim_->PowerOn("compute2");
      sim_->PowerOn("compute3");
    });
  });
  sim_->PowerLoss("compute1");
  const MonoMicros start = loop_.clock().Monotonic();
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  EXPECT_LT(loop_.clock().Monotonic() - start, 30 * kSecond);
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].status, VMoveStatus::kSucceeded);
  EXPECT_NE(moves[0].message.value_or("").find("migration error"), std::string::npos)
      << moves[0].message.value_or("");
  EXPECT_EQ(sim_->evacuations(moves[0].instance_uuid), 2);
}

// Evacuations are followed through one listing of the cloud's migration records per poll;
// each instance is read once its record has ended, not every poll while it rebuilds.
TEST_F(EngineTest, EvacuationsAreFollowedByOneListingPerPollNotAReadPerInstance) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(20 * kSecond);
  MakeCloud(4, 12);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  for (const VMove& m : Moves(id)) EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
  // 12 moves of 20 s each, polled every second: about 20 listings, 12 reads.
  EXPECT_GE(compute_->faults().calls("ListEvacuationsSince"), 15);
  EXPECT_LE(compute_->faults().calls("ListEvacuationsSince"), 30);
  EXPECT_EQ(compute_->faults().calls("GetInstance"), 12);
}

// The capacity snapshot reads every compute service in one listing, whatever the segment's
// size (not one call per candidate host).
TEST_F(EngineTest, CapacityReadsTheComputeServicesInOneListing) {
  MakeCloud(60, 1);
  StartEngine();
  sim_->PowerLoss("compute1");
  ASSERT_EQ(RunToEnd(HostDown("compute1")).status, NotificationStatus::kFinished);
  EXPECT_EQ(compute_->faults().calls("ListServices"), 1);
  EXPECT_LE(compute_->faults().calls("GetService"), 3);  // the failed host's own
}

// Nova stamps migration records with its own clock; one 20 s behind Warden's must not hide
// them (the moves would wait out the evacuation timeout).
TEST_F(EngineTest, ACloudClockBehindWardensStillShowsTheRecords) {
  sim_options_.clock_skew_micros = -20 * kSecond;
  sim_options_.evacuate_latency = sim::Latency::Fixed(5 * kSecond);
  MakeCloud(3, 4);
  StartEngine();
  sim_->PowerLoss("compute1");
  const MonoMicros start = loop_.clock().Monotonic();
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  EXPECT_LT(loop_.clock().Monotonic() - start, 30 * kSecond);
  for (const VMove& m : Moves(id)) EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
}

// The failed record of attempt 1 is listed while attempt 2's is not yet (Nova lists records
// by updated_at): attempt 2 must be waited for, not retried over.
TEST_F(EngineTest, AnEarlierAttemptsFailedRecordIsNotTakenForTheNextOnes) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(10 * kSecond);
  sim_options_.migration_listed_after_micros = 5 * kSecond;
  const VMove move = RecoverWithTheFirstEvacuationFailing();
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(move.message.value_or("").find("recovered on attempt 2"), std::string::npos)
      << move.message.value_or("");
}

// An instance in error is evacuated, stopped and set back to error; a crash right after that
// (its unlock unanswered) must not turn the finished move into a failure on restart.
TEST_F(EngineTest, ACrashAfterSettingAnInstanceBackToErrorStillFinishes) {
  MakeCloud(3, 1);
  sim_->SetInstanceState("compute1-vm0", "error", std::nullopt, false);
  StartEngine();
  compute_->faults().Set("UnlockInstance", {.kind = drivers::Fault::Kind::kHang});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  loop_.RunUntil([&] { return compute_->faults().calls("UnlockInstance") == 1; },
                 loop_.clock().Monotonic() + 600 * kSecond);
  ASSERT_EQ(compute_->faults().calls("UnlockInstance"), 1);
  CrashEngine();
  compute_->faults().Clear();
  StartEngine();
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  const drivers::Instance& i = sim_->instances().at("compute1-vm0").info;
  EXPECT_NE(i.host, "compute1");
  EXPECT_EQ(i.vm_state, "error");
  EXPECT_FALSE(i.locked);
  EXPECT_EQ(sim_->evacuations("compute1-vm0"), 1);
  EXPECT_EQ(Moves(id)[0].status, VMoveStatus::kSucceeded);
}

// A cancel while the lock call is still on its way: the lock lands after the recovery ended
// and is released then, and the move records the release.
TEST_F(EngineTest, ALockThatLandsAfterACancelIsReleased) {
  MakeCloud(3, 1);
  StartEngine();
  compute_->faults().Set("LockInstance",
                         {.kind = drivers::Fault::Kind::kDelay, .delay_micros = 2 * kSecond});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  loop_.RunUntil([&] { return compute_->faults().calls("LockInstance") == 1; },
                 loop_.clock().Monotonic() + 600 * kSecond);
  std::optional<Result<Notification>> answer;
  engine_->Cancel(id, "alice", [&](Result<Notification> r) { answer = r; });
  loop_.RunFor(30 * kSecond);
  ASSERT_TRUE(answer && answer->has_value());
  EXPECT_EQ(Get(id).status, NotificationStatus::kFailed);
  EXPECT_EQ(sim_->evacuations("compute1-vm0"), 0);
  EXPECT_FALSE(sim_->instances().at("compute1-vm0").info.locked);
  EXPECT_EQ(compute_->faults().calls("UnlockInstance"), 1);
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_FALSE(moves[0].warden_locked);
}

// A cloud that cannot list evacuations since a time (Nova before 2.59): every instance is
// followed on its own, and recovery works the same.
TEST_F(EngineTest, WithoutTheListingEachInstanceIsFollowedOnItsOwn) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(20 * kSecond);
  MakeCloud(6, 6);
  StartEngine();
  compute_->faults().Set("ListEvacuationsSince",
                         {.kind = drivers::Fault::Kind::kError,
                          .error = Error(ErrorCode::kUnimplemented, "needs 2.59"),
                          .times = -1});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  for (const VMove& m : Moves(id)) EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
  EXPECT_EQ(compute_->faults().calls("ListEvacuationsSince"), 1);  // asked once, then not again
  EXPECT_GE(compute_->faults().calls("GetInstance"), 6 * 15);
  // A second recovery does not ask again.
  sim_->PowerLoss("compute2");
  ASSERT_EQ(RunToEnd(HostDown("compute2")).status, NotificationStatus::kFinished);
  EXPECT_EQ(compute_->faults().calls("ListEvacuationsSince"), 1);
}

// A listing that fails now and then only delays the confirmation.
TEST_F(EngineTest, FailedListingsOnlyDelayTheConfirmation) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(5 * kSecond);
  MakeCloud(3, 2);
  StartEngine();
  compute_->faults().Set("ListEvacuationsSince", {.kind = drivers::Fault::Kind::kError,
                                                  .error = Error(ErrorCode::kUnavailable, "503"),
                                                  .times = 10});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  for (const VMove& m : Moves(id)) EXPECT_EQ(m.status, VMoveStatus::kSucceeded);
  EXPECT_GE(compute_->faults().calls("ListEvacuationsSince"), 11);
}

// An evacuation whose record never ends is given up at the evacuation timeout.
TEST_F(EngineTest, AnEvacuationThatNeverEndsTimesOut) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(3600 * kSecond);
  MakeCloud(3, 1);
  options_.evacuation_timeout_micros = 60 * kSecond;
  options_.evacuation_attempts = 1;
  StartEngine();
  sim_->PowerLoss("compute1");
  const MonoMicros start = loop_.clock().Monotonic();
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id, 600 * kSecond);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_LT(loop_.clock().Monotonic() - start, 120 * kSecond);
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].status, VMoveStatus::kFailed);
  EXPECT_NE(moves[0].message.value_or("").find("not active on a new host within 60 s"),
            std::string::npos)
      << moves[0].message.value_or("");
  EXPECT_FALSE(sim_->instances().at(moves[0].instance_uuid).info.locked);
}

TEST_F(EngineTest, CapacityShortageGivesAnExplicitNoCapacityResultPerInstance) {
  sim_options_ = {};
  MakeCloud(2, 14);  // 14 × 2 vCPU on each 32-vCPU host: the survivor has room for 2 more
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  int64_t ok = 0, no_capacity = 0;
  for (auto& m : Moves(id)) {
    if (m.status == VMoveStatus::kSucceeded) ++ok;
    if (m.status == VMoveStatus::kFailed &&
        m.message.value_or("").find("no capacity") != std::string::npos) {
      ++no_capacity;
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(no_capacity, 12);
  EXPECT_LE(sim_->Used("compute2").vcpus, 32);
}

TEST_F(EngineTest, SecondHostFailingDuringRecoveryIncludingADestination) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(30 * kSecond);
  MakeCloud(5, 6);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string first = HostDown("compute1");
  // While compute1's instances are being rebuilt, one of their destinations dies too.
  loop_.RunUntil([&] { return sim_->evacuations_accepted() >= 6; },
                 loop_.clock().Monotonic() + 600 * kSecond);
  std::string victim;
  for (auto& m : Moves(first)) {
    if (m.dest_host) victim = *m.dest_host;
  }
  ASSERT_FALSE(victim.empty());
  sim_->PowerLoss(victim);
  const std::string second = HostDown(victim);
  Notification a = RunToEnd(first);
  Notification b = RunToEnd(second);
  EXPECT_EQ(a.status, NotificationStatus::kFinished) << a.message.value_or("");
  EXPECT_EQ(b.status, NotificationStatus::kFinished) << b.message.value_or("");
  // Every instance now runs on a host that is up, and never on two at once.
  for (auto& [uuid, i] : sim_->instances()) {
    EXPECT_TRUE(sim_->hosts().at(i.info.host).powered) << uuid << " on " << i.info.host;
    EXPECT_EQ(i.info.vm_state, "active") << uuid;
  }
  EXPECT_EQ(sim_->split_brains(), 0);
  EXPECT_EQ(sim_->unfenced_evacuations(), 0);
}

TEST_F(EngineTest, StormGuardHoldsFailuresAboveTheShareWithoutFencing) {
  MakeCloud(4, 1);
  options_.triage.storm_guard_max_share = 0.5;
  StartEngine();
  std::vector<std::string> ids;
  for (int h = 1; h <= 3; ++h) {
    sim_->PowerLoss("compute" + std::to_string(h));
    ids.push_back(HostDown("compute" + std::to_string(h)));
  }
  loop_.RunUntil([&] { return Final(Get(ids[2]).status); }, loop_.clock().Monotonic() + 60 * kSecond);
  // Three of four hosts failing at once is above half the segment: none is fenced.
  for (const auto& id : ids) {
    Notification n = Get(id);
    EXPECT_EQ(n.status, NotificationStatus::kError);
    EXPECT_NE(n.message.value_or("").find("storm guard: 3 of 4 hosts"), std::string::npos)
        << n.message.value_or("");
  }
  EXPECT_TRUE(LogHas("ALARM storm guard"));
  EXPECT_EQ(engine_->stats().storm_guard_holds, 3);
  EXPECT_EQ(fencer_->faults().calls("PowerOff"), 0);
  EXPECT_EQ(sim_->evacuations_accepted(), 0);
  // The operator finds two of them were a switch failure and cancels those; the held one is
  // decided again at the next periodic check, now within the share, and recovers.
  for (int i = 0; i < 2; ++i) {
    bool answered = false;
    engine_->Cancel(ids[i], "admin", [&](Result<Notification> r) { answered = r.has_value(); });
    loop_.RunUntil([&] { return answered; }, loop_.clock().Monotonic() + kSecond);
  }
  RunToEnd(ids[2]);
  loop_.RunUntil([&] { return Get(ids[2]).status == NotificationStatus::kFinished; },
                 loop_.clock().Monotonic() + 600 * kSecond);
  EXPECT_EQ(Get(ids[2]).status, NotificationStatus::kFinished) << Get(ids[2]).message.value_or("");
  EXPECT_EQ(sim_->instances().at("compute3-vm0").info.vm_state, "active");
  EXPECT_NE(sim_->instances().at("compute3-vm0").info.host, "compute3");
}

TEST_F(EngineTest, DisabledSegmentIgnoresWithMasakarisMessage) {
  MakeCloud(2, 1);
  ASSERT_TRUE(service_->UpdateSegment(segment_.uuid, {.enabled = false}));
  StartEngine();
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kIgnored);
  EXPECT_EQ(n.message.value_or(""), "Recovery aborted: the segment HA is disabled.");
  EXPECT_EQ(sim_->evacuations_accepted(), 0);
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

TEST_F(EngineTest, ReservedHostMethodUsesReservedHostsAndReportsThem) {
  MakeCloud(3, 2, RecoveryMethod::kReservedHost);
  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, HostNamed("compute3").uuid, {.reserved = true}));
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  for (auto& m : Moves(id)) EXPECT_EQ(m.dest_host.value_or(""), "compute3");
  EXPECT_FALSE(HostNamed("compute3").reserved);
  EXPECT_NE(n.workflow_details_json.find("Reserved host compute3 is used and is no longer reserved"),
            std::string::npos);
}

// A reserved host taken into service with and without [host_failure]
// add_reserved_host_to_aggregate: it joins the failed host's aggregates only when asked.
class AggregateTest : public EngineTest {
 protected:
  void Run(bool join) {
    MakeCloud(3, 2, RecoveryMethod::kReservedHost);
    sim_->AddAggregate("az-a", {"compute1", "compute2"});
    sim_->AddAggregate("gpu", {"compute2"});
    ASSERT_TRUE(
        service_->UpdateHost(segment_.uuid, HostNamed("compute3").uuid, {.reserved = true}));
    options_.add_reserved_host_to_aggregate = join;
    StartEngine();
    sim_->PowerLoss("compute1");
    const std::string id = HostDown("compute1");
    Notification n = RunToEnd(id);
    ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
    for (auto& m : Moves(id)) EXPECT_EQ(m.dest_host.value_or(""), "compute3");
    const auto& az = sim_->aggregates().at("1").hosts;
    EXPECT_EQ(std::count(az.begin(), az.end(), "compute3"), join ? 1 : 0);
    const auto& gpu = sim_->aggregates().at("2").hosts;  // not the failed host's: untouched
    EXPECT_EQ(gpu, std::vector<std::string>{"compute2"});
    EXPECT_EQ(n.workflow_details_json.find("to aggregate az-a") != std::string::npos, join);
  }
};

TEST_F(AggregateTest, AUsedReservedHostJoinsTheFailedHostsAggregatesWhenConfigured) { Run(true); }
TEST_F(AggregateTest, AggregatesAreLeftAloneByDefault) { Run(false); }

TEST_F(EngineTest, ReservedHostMethodWithoutReservedHostsHasNoCapacity) {
  MakeCloud(3, 2, RecoveryMethod::kReservedHost);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_EQ(sim_->evacuations_accepted(), 0);
}

TEST_F(EngineTest, ParallelEvacuationsStayWithinTheBounds) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(20 * kSecond);
  MakeCloud(5, 12);
  options_.max_parallel_evacuations = 5;
  options_.max_parallel_per_destination = 2;
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  int64_t most = 0;
  loop_.RunUntil(
      [&] {
        int64_t rebuilding = 0;
        for (auto& [_, i] : sim_->instances()) {
          if (i.info.task_state == "rebuilding") ++rebuilding;
        }
        most = std::max(most, rebuilding);
        return Final(Get(id).status);
      },
      loop_.clock().Monotonic() + 3600 * kSecond);
  EXPECT_EQ(Get(id).status, NotificationStatus::kFinished);
  EXPECT_LE(most, 5);
  EXPECT_GE(most, 4);  // and they do run in parallel
  // 12 moves, 5 at a time, 20 s each: three rounds (not twelve).
  auto moves = Moves(id);
  WallMicros first = INT64_MAX, last = 0;
  for (auto& m : moves) {
    first = std::min(first, *m.start_time);
    last = std::max(last, *m.end_time);
  }
  EXPECT_LE(last - first, 4 * 25 * kSecond);
}

TEST_F(EngineTest, InstanceFailureStopsStartsAndConfirms) {
  MakeCloud(2, 2);
  StartEngine();
  // compute1-vm0 is HA-enabled.
  const std::string id = Notify(
      "compute1", NotificationType::kVm,
      R"({"event":"LIFECYCLE","instance_uuid":"compute1-vm0","vir_domain_event":"STOPPED_FAILED"})");
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  EXPECT_EQ(sim_->instances().at("compute1-vm0").info.vm_state, "active");
  json details = json::parse(n.workflow_details_json);
  ASSERT_EQ(details.size(), 3u);
  EXPECT_EQ(details[0]["name"], "StopInstanceTask");
  EXPECT_EQ(details[2]["name"], "ConfirmInstanceActiveTask");
}

TEST_F(EngineTest, InstanceFailureOfANonHaInstanceDoesNothing) {
  MakeCloud(2, 2);
  StartEngine();
  const std::string id = Notify(
      "compute1", NotificationType::kVm,
      R"({"event":"LIFECYCLE","instance_uuid":"compute1-vm1","vir_domain_event":"STOPPED_FAILED"})");
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kFinished);
  EXPECT_NE(n.message.value_or("").find("not HA-enabled"), std::string::npos);
  EXPECT_EQ(compute_->faults().calls("StopInstance"), 0);
}

TEST_F(EngineTest, OrdinaryShutdownEventsAreIgnored) {
  MakeCloud(2, 2);
  StartEngine();
  const std::string id = Notify(
      "compute1", NotificationType::kVm,
      R"({"event":"LIFECYCLE","instance_uuid":"compute1-vm0","vir_domain_event":"STOPPED_DESTROYED"})");
  EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kIgnored);
}

TEST_F(EngineTest, ProcessFailureOfNovaComputeDisablesTheServiceOnly) {
  MakeCloud(2, 2);
  StartEngine();
  const std::string id = Notify("compute1", NotificationType::kProcess,
                                R"({"event":"STOPPED","process_name":"nova-compute"})");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  EXPECT_FALSE(sim_->hosts().at("compute1").service_enabled);
  EXPECT_FALSE(sim_->hosts().at("compute1").forced_down);
  EXPECT_FALSE(HostNamed("compute1").on_maintenance);
  const std::string other = Notify("compute2", NotificationType::kProcess,
                                   R"({"event":"STOPPED","process_name":"libvirtd"})");
  Notification n = RunToEnd(other);
  EXPECT_EQ(n.status, NotificationStatus::kFinished);
  EXPECT_NE(n.message.value_or("").find("No recovery action"), std::string::npos);
  EXPECT_TRUE(sim_->hosts().at("compute2").service_enabled);
}

// A host agent as the engine sees it: answers each restart after `delay`, as told.
class FakeRestarter final : public drivers::ProcessRestarter {
 public:
  explicit FakeRestarter(EventLoop& loop) : loop_(loop) {}
  void Restart(const std::string& host, const std::string& process, const std::string& uuid,
               drivers::Callback<std::string> done) override {
    calls.push_back(host + "/" + process + "/" + uuid);
    Result<std::string> r = answer;
    loop_.RunAfter(delay, [done, r] { done(r); });
  }
  Result<std::string> answer = std::string("nova-compute restarted");
  int64_t delay = 0;
  std::vector<std::string> calls;

 private:
  EventLoop& loop_;
};

class AgentEngineTest : public EngineTest {
 protected:
  // The process-failure flow with RestartProcessTask first, `agent` (may be null) serving
  // it; returns the id of a nova-compute failure reported on compute1.
  std::string StartWithAgentFirst(FakeRestarter* agent) {
    MakeCloud(2, 2);
    restarter_ = agent;
    options_.workflows.process.insert(options_.workflows.process.begin(),
                                      std::string(kRestartProcess));
    StartEngine();
    return Notify("compute1", NotificationType::kProcess,
                  R"({"event":"STOPPED","process_name":"nova-compute"})");
  }
};

TEST_F(AgentEngineTest, AProcessRestartedThroughItsAgentLeavesTheServiceEnabled) {
  FakeRestarter agent(loop_);
  agent.delay = 20 * kSecond;
  const std::string id = StartWithAgentFirst(&agent);
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kFinished);
  EXPECT_EQ(agent.calls, std::vector<std::string>{"compute1/nova-compute/" + id});
  EXPECT_NE(n.message.value_or("").find("stays enabled"), std::string::npos) << *n.message;
  EXPECT_TRUE(sim_->hosts().at("compute1").service_enabled);
  EXPECT_EQ(compute_->faults().calls("SetServiceEnabled"), 0);
}

TEST_F(AgentEngineTest, AFailedRestartThroughTheAgentFallsBackToDisablingTheService) {
  FakeRestarter agent(loop_);
  agent.answer = MakeError(ErrorCode::kUnavailable, "the agent of compute1: connection refused");
  const std::string id = StartWithAgentFirst(&agent);
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kFinished);
  EXPECT_EQ(agent.calls.size(), 1u);
  EXPECT_FALSE(sim_->hosts().at("compute1").service_enabled);
  EXPECT_NE(n.workflow_details_json.find("connection refused"), std::string::npos)
      << n.workflow_details_json;
}

TEST_F(AgentEngineTest, WithoutAnAgentTheRestartStepIsSkippedWithItsReason) {
  const std::string id = StartWithAgentFirst(nullptr);
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kFinished);
  EXPECT_FALSE(sim_->hosts().at("compute1").service_enabled);
  EXPECT_NE(n.workflow_details_json.find("No agent configured"), std::string::npos);
}

TEST_F(AgentEngineTest, ACancelDuringTheAgentsRestartEndsTheRecoveryThere) {
  FakeRestarter agent(loop_);
  agent.delay = 60 * kSecond;
  const std::string id = StartWithAgentFirst(&agent);
  loop_.RunUntil([&] { return !agent.calls.empty(); }, loop_.clock().Monotonic() + 10 * kSecond);
  ASSERT_EQ(agent.calls.size(), 1u);
  bool cancelled = false;
  engine_->Cancel(id, "test", [&](Result<Notification> r) { cancelled = r.has_value(); });
  loop_.RunFor(120 * kSecond);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(Get(id).status, NotificationStatus::kFailed);
  // The late answer changed nothing: the service was never touched.
  EXPECT_TRUE(sim_->hosts().at("compute1").service_enabled);
}

TEST_F(EngineTest, ErrorIsRetriedOnScheduleThenFails) {
  MakeCloud(3, 2);
  options_.process_unfinished_interval_micros = 120 * kSecond;
  options_.max_error_retries = 1;
  StartEngine();
  sim_->PowerLoss("compute1", /*bmc_too=*/true);
  const std::string id = HostDown("compute1");
  EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kError);
  // One retry (still unfenceable), then failed.
  loop_.RunUntil([&] { return Get(id).status == NotificationStatus::kFailed; },
                 loop_.clock().Monotonic() + 1000 * kSecond);
  Notification n = Get(id);
  EXPECT_EQ(n.status, NotificationStatus::kFailed);
  EXPECT_NE(n.message.value_or("").find("Gave up after 1 retries"), std::string::npos);
  EXPECT_GE(fencer_->faults().calls("PowerOff"), 2);
}

// The automatic retries are counted in the store: a server restarted between them does not
// grant new ones, and an operator's retry starts the count again.
TEST_F(EngineTest, AutomaticRetriesAreCountedAcrossRestarts) {
  MakeCloud(3, 2);
  options_.process_unfinished_interval_micros = 120 * kSecond;
  options_.max_error_retries = 2;
  StartEngine();
  sim_->PowerLoss("compute1", /*bmc_too=*/true);
  const std::string id = HostDown("compute1");
  EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kError);
  for (int retry = 1; retry <= 2; ++retry) {
    loop_.RunUntil([&] { return Get(id).error_retries == retry; },
                   loop_.clock().Monotonic() + 1000 * kSecond);
    ASSERT_EQ(Get(id).error_retries, retry);
    RunToEnd(id);
    CrashEngine();  // restarted after every retry
    StartEngine();
  }
  loop_.RunUntil([&] { return Get(id).status == NotificationStatus::kFailed; },
                 loop_.clock().Monotonic() + 1000 * kSecond);
  Notification n = Get(id);
  EXPECT_EQ(n.status, NotificationStatus::kFailed);
  EXPECT_NE(n.message.value_or("").find("Gave up after 2 retries"), std::string::npos)
      << n.message.value_or("");
  EXPECT_EQ(n.error_retries, 2);
  std::optional<Result<Notification>> answer;
  engine_->Retry(id, "alice", [&](Result<Notification> r) { answer = r; });
  loop_.RunUntil([&] { return answer.has_value(); }, loop_.clock().Monotonic() + 10 * kSecond);
  ASSERT_TRUE(answer && answer->has_value()) << (answer ? answer->error().ToString() : "none");
  EXPECT_EQ(Get(id).error_retries, 0);
}

TEST_F(EngineTest, OperatorRetryAfterTheCauseIsFixedRecovers) {
  MakeCloud(3, 2);
  options_.max_error_retries = 0;
  StartEngine();
  sim_->PowerLoss("compute1", /*bmc_too=*/true);
  const std::string id = HostDown("compute1");
  EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kError);
  sim_->SetBmcReachable("compute1", true);  // the operator fixed the BMC network
  std::optional<Result<Notification>> answer;
  engine_->Retry(id, "admin", [&](Result<Notification> r) { answer = r; });
  loop_.RunUntil([&] { return answer.has_value(); }, loop_.clock().Monotonic() + 10 * kSecond);
  ASSERT_TRUE(answer && answer->has_value());
  EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  // A finished notification cannot be retried.
  answer.reset();
  engine_->Retry(id, "admin", [&](Result<Notification> r) { answer = r; });
  loop_.RunReady();
  ASSERT_TRUE(answer.has_value());
  ASSERT_FALSE(answer->has_value());
  EXPECT_EQ(answer->error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(EngineTest, CancelStopsARunningRecovery) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(60 * kSecond);
  MakeCloud(3, 4);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  loop_.RunUntil([&] { return sim_->evacuations_accepted() >= 1; },
                 loop_.clock().Monotonic() + 60 * kSecond);
  std::optional<Result<Notification>> answer;
  engine_->Cancel(id, "alice", [&](Result<Notification> r) { answer = r; });
  loop_.RunUntil([&] { return answer.has_value(); }, loop_.clock().Monotonic() + 10 * kSecond);
  ASSERT_TRUE(answer && answer->has_value());
  loop_.RunFor(120 * kSecond);
  Notification n = Get(id);
  EXPECT_EQ(n.status, NotificationStatus::kFailed);
  EXPECT_EQ(n.message.value_or(""), "Cancelled by alice.");
  for (auto& m : Moves(id)) {
    EXPECT_NE(m.status, VMoveStatus::kOngoing);
    EXPECT_NE(m.status, VMoveStatus::kPending);
    EXPECT_FALSE(m.warden_locked);
    // A cancelled move releases Warden's lock: the owner gets the instance back.
    EXPECT_FALSE(sim_->instances().at(m.instance_uuid).info.locked) << m.instance_uuid;
  }
  EXPECT_GE(compute_->faults().calls("LockInstance"), 1);
}

TEST_F(EngineTest, UnfinishedNotificationsExpire) {
  MakeCloud(2, 1);
  options_.expire_after_micros = 3600 * kSecond;
  options_.check_expired_interval_micros = 600 * kSecond;
  sim_options_ = {};
  StartEngine();
  sim_->PowerLoss("compute1", true);
  const std::string id = HostDown("compute1");
  options_.max_error_retries = 1000;
  loop_.RunUntil([&] { return Get(id).status == NotificationStatus::kFailed; },
                 loop_.clock().Monotonic() + 3 * 3600 * kSecond);
  EXPECT_EQ(Get(id).status, NotificationStatus::kFailed);
}

TEST_F(EngineTest, NotificationsForOneHostRunOneAtATime) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(10 * kSecond);
  MakeCloud(3, 2);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string a = HostDown("compute1");
  // A different payload is not a duplicate; it must wait for the first, and then finds the
  // host on maintenance.
  loop_.RunReady();
  auto second = service_->CreateNotification({.type = NotificationType::kProcess,
                                              .hostname = "compute1",
                                              .generated_time = loop_.clock().Now(),
                                              .payload_json = R"({"event":"STOPPED","process_name":"nova-compute"})"});
  // The host is on maintenance once the first started: the API refuses further notifications.
  EXPECT_FALSE(second.has_value());
  EXPECT_EQ(RunToEnd(a).status, NotificationStatus::kFinished);
}

TEST_F(EngineTest, CustomExecTaskGetsTheNotificationOnStdinAndItsFailureIsAnError) {
  MakeCloud(3, 1);
  const std::string out = path_.string() + ".task";
  options_.workflows.custom["record"] = CustomTask{
      .name = "record", .kind = CustomTask::Kind::kExec, .command = "cat > " + out};
  options_.workflows.custom["refuse"] = CustomTask{
      .name = "refuse", .kind = CustomTask::Kind::kExec, .command = "echo no way; exit 3"};
  options_.workflows.process = {"record", std::string(kDisableComputeNode)};
  StartEngine();
  const std::string id = Notify("compute1", NotificationType::kProcess,
                                R"({"event":"STOPPED","process_name":"nova-compute"})");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  std::ifstream f(out);
  json input = json::parse(f);
  EXPECT_EQ(input["notification_uuid"], id);
  EXPECT_EQ(input["type"], "PROCESS");
  EXPECT_EQ(input["payload"]["process_name"], "nova-compute");
  std::filesystem::remove(out);

  options_.workflows.process = {"refuse"};
  CrashEngine();
  StartEngine();
  const std::string bad = Notify("compute2", NotificationType::kProcess,
                                 R"({"event":"STOPPED","process_name":"nova-compute"})");
  Notification n = RunToEnd(bad);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_NE(n.message.value_or("").find("exit status 3"), std::string::npos) << n.message.value_or("");
  EXPECT_NE(n.message.value_or("").find("no way"), std::string::npos);
}

// An http task gets the notification as a JSON POST; a non-2xx answer is an error with the
// status and body, and an unreachable endpoint too.
class RecordingEndpoint : public api::HttpHandler {
 public:
  api::HttpResponse Handle(const api::HttpRequest& r) override {
    std::lock_guard lock(mu);
    bodies.push_back(r.body);
    if (const std::string* ct = r.Header("content-type")) content_type = *ct;
    return {.status = status, .body = status == 200 ? "{}" : "{\"error\": \"busy\"}"};
  }
  std::mutex mu;
  std::vector<std::string> bodies;
  std::string content_type;
  int status = 200;
};

TEST_F(EngineTest, CustomHttpTaskPostsTheNotificationAndItsFailureIsAnError) {
  RecordingEndpoint endpoint;
  auto server = api::StartHttpServer({.address = "127.0.0.1", .port = 0}, endpoint);
  ASSERT_TRUE(server);
  const std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/hook";
  MakeCloud(3, 1);
  options_.workflows.custom["hook"] =
      CustomTask{.name = "hook", .kind = CustomTask::Kind::kHttp, .url = url};
  options_.workflows.process = {"hook", std::string(kDisableComputeNode)};
  StartEngine();
  const std::string id = Notify("compute1", NotificationType::kProcess,
                                R"({"event":"STOPPED","process_name":"nova-compute"})");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  {
    std::lock_guard lock(endpoint.mu);
    ASSERT_EQ(endpoint.bodies.size(), 1u);
    json input = json::parse(endpoint.bodies[0]);
    EXPECT_EQ(input["notification_uuid"], id);
    EXPECT_EQ(input["payload"]["process_name"], "nova-compute");
    EXPECT_EQ(endpoint.content_type, "application/json");
    endpoint.status = 503;
  }
  const std::string busy = Notify("compute2", NotificationType::kProcess,
                                  R"({"event":"STOPPED","process_name":"nova-compute"})");
  Notification n = RunToEnd(busy);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_NE(n.message.value_or("").find("503"), std::string::npos) << n.message.value_or("");
  EXPECT_NE(n.message.value_or("").find("busy"), std::string::npos);
  (*server)->Stop();

  options_.workflows.custom["hook"].url = "http://127.0.0.1:1/hook";  // nothing listens
  CrashEngine();
  StartEngine();
  const std::string gone = Notify("compute3", NotificationType::kProcess,
                                  R"({"event":"STOPPED","process_name":"nova-compute"})");
  n = RunToEnd(gone);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_NE(n.message.value_or("").find("127.0.0.1:1"), std::string::npos) << n.message.value_or("");
}

}  // namespace
}  // namespace warden::engine
