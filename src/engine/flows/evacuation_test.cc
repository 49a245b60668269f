// Evacuations: every instance moved once, crashes and lost answers reconciled, retries on another
// host, instance states and locks, migration records, capacity, reserved hosts and aggregates,
// the bounds on parallel moves.
#include <gtest/gtest.h>

#include <set>

#include "engine/engine_fixture.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;

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
  RunUntilCalled("Evacuate");
  ASSERT_EQ(compute_->faults().calls("Evacuate"), 1);
  EXPECT_EQ(sim_->instances().at("compute1-vm0").info.vm_state, "error");
  EXPECT_TRUE(sim_->instances().at("compute1-vm0").info.locked);
  CrashAndRestart();
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
  RunUntilCalled("UnlockInstance");
  ASSERT_EQ(compute_->faults().calls("UnlockInstance"), 1);
  CrashAndRestart();
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
  RunUntilCalled("LockInstance");
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

// Confirmation is not in lock-step with a whole-second poll: a record is first looked at soon
// after the evacuation is accepted, then less and less often up to the poll interval, so a
// rebuild that takes 300 ms is confirmed well within a second, while a 20 s one is still
// followed by about one listing per second.
TEST_F(EngineTest, AQuickEvacuationIsConfirmedSoonNotAtTheNextWholeSecond) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(300'000);
  MakeCloud(3, 2);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  auto moves = Moves(id);
  ASSERT_EQ(moves.size(), 2u);
  for (const VMove& m : moves) {
    ASSERT_EQ(m.status, VMoveStatus::kSucceeded) << m.message.value_or("");
    ASSERT_TRUE(m.start_time && m.end_time);
    EXPECT_GE(*m.end_time - *m.start_time, 300'000);
    EXPECT_LT(*m.end_time - *m.start_time, 800'000) << "confirmed only at the next whole second";
  }
  EXPECT_LE(compute_->faults().calls("ListEvacuationsSince"), 4);
}

// Per destination, the pace starts safe and grows while rebuilds end cleanly: 40 instances to
// one destination, 10 s each, at most 5 at once in the first round, then more, never above
// the operator's 20.
TEST_F(EngineTest, EvacuationsPerDestinationStartSafeAndGrowWhileRebuildsEndCleanly) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(10 * kSecond);
  options_.max_parallel_per_destination = 20;
  MakeCloud(2, 40, RecoveryMethod::kAuto, {}, {1000, 1 << 20, 100000});
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  int64_t most_first_round = 0, most = 0;
  MonoMicros first_seen = -1;
  loop_.RunUntil(
      [&] {
        int64_t rebuilding = 0;
        for (auto& [_, i] : sim_->instances()) rebuilding += i.info.task_state == "rebuilding";
        const MonoMicros now = loop_.clock().Monotonic();
        if (rebuilding > 0 && first_seen < 0) first_seen = now;
        if (first_seen >= 0 && now < first_seen + 9 * kSecond) {
          most_first_round = std::max(most_first_round, rebuilding);
        }
        most = std::max(most, rebuilding);
        return Final(Get(id).status);
      },
      loop_.clock().Monotonic() + 3600 * kSecond);
  Notification n = Get(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  EXPECT_EQ(most_first_round, 5);
  EXPECT_GT(most, 10);
  EXPECT_LE(most, 20);
  for (const VMove& m : Moves(id)) EXPECT_EQ(sim_->evacuations(m.instance_uuid), 1);
  EXPECT_NE(n.workflow_details_json.find("evacuations at once per destination: compute2 20"),
            std::string::npos)
      << n.workflow_details_json;
}

// A failed rebuild halves the destination's pace (once for the burst), with a log line.
TEST_F(EngineTest, AFailedRebuildHalvesTheDestinationsPace) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(10 * kSecond);
  options_.max_parallel_per_destination = 20;
  MakeCloud(3, 30, RecoveryMethod::kAuto, {}, {1000, 1 << 20, 100000});
  sim_->FailNextEvacuations(3, "compute2");
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  Notification n = RunToEnd(id);
  ASSERT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
  EXPECT_TRUE(LogHas("fewer evacuations at once to a destination"));
  for (const VMove& m : Moves(id)) {
    EXPECT_EQ(m.status, VMoveStatus::kSucceeded) << m.message.value_or("");
  }
}

// Nova's rebuild event (AMQP) has the record read at once: a 5 s rebuild followed with a 10 s
// poll interval is confirmed when the event comes, not at the backed-off look at 7 s (1 s,
// then 2 s, then 4 s after it was accepted). Without the event, it waits for that look.
class RebuildNewsTest : public EngineTest {
 protected:
  // The move's time from start to end, with Nova's event 100 ms after the rebuild or none.
  int64_t Recover(bool news) {
    sim_options_.evacuate_latency = sim::Latency::Fixed(5 * kSecond);
    options_.poll_interval_micros = 10 * kSecond;
    MakeCloud(3, 1);
    StartEngine();
    sim_->PowerLoss("compute1");
    const std::string id = HostDown("compute1");
    std::string uuid;
    for (const auto& [u, i] : sim_->instances()) {
      if (i.info.host == "compute1") uuid = u;
    }
    loop_.RunUntil([&] { return sim_->instances().at(uuid).info.host != "compute1"; },
                   loop_.clock().Monotonic() + 600 * kSecond);
    loop_.RunFor(100'000);
    if (news) {
      engine_->InstanceNews(uuid);
      engine_->InstanceNews("not-an-instance-of-any-recovery");
    }
    EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
    const VMove m = Moves(id).at(0);
    EXPECT_EQ(m.status, VMoveStatus::kSucceeded) << m.message.value_or("");
    EXPECT_EQ(engine_->stats().instance_news, news ? 1 : 0);
    return *m.end_time - *m.start_time;
  }
};

TEST_F(RebuildNewsTest, NovasRebuildEventHasTheRecordReadBeforeTheNextPoll) {
  const int64_t took = Recover(true);
  EXPECT_GE(took, 5 * kSecond);
  EXPECT_LT(took, 5'500'000) << "not confirmed on the event";
}

TEST_F(RebuildNewsTest, WithoutTheEventTheRecordIsReadAtItsNextLook) {
  EXPECT_GE(Recover(false), 7 * kSecond);
}

// An event that beats the answer to the evacuate call is kept: the move's first look is then
// at once instead of a tenth of the poll interval later.
TEST_F(EngineTest, ARebuildEventBeforeTheEvacuationIsAcceptedIsKeptForItsFirstLook) {
  sim_options_.evacuate_latency = sim::Latency::Fixed(0);
  sim_options_.api_latency = sim::Latency::Fixed(200'000);
  options_.poll_interval_micros = 10 * kSecond;
  MakeCloud(3, 1);
  StartEngine();
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  std::string uuid;
  for (const auto& [u, i] : sim_->instances()) {
    if (i.info.host == "compute1") uuid = u;
  }
  RunUntilCalled("Evacuate");  // asked; its answer is 200 ms away
  engine_->InstanceNews(uuid);
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  const VMove m = Moves(id).at(0);
  // Accepted at +200 ms, looked at at once (+200 ms listing), then read on the instance.
  EXPECT_LT(*m.end_time - *m.start_time, 1'200'000) << "the early event was lost";
}

// Capacity is an optimisation, never a single point of failure: with Placement absent (the
// hosts' sizes unreadable) the instances are still spread over the usable hosts of the segment,
// each evacuated once, and the workflow details say why no capacity was used. With the
// compute services unreadable as well, the cloud's scheduler picks each destination.
class UnreadableCapacityTest : public EngineTest {
 protected:
  Notification Recover(bool services_too) {
    MakeCloud(4, 6);
    compute_->faults().Set("ListHostResources",
                           {.error = Error(ErrorCode::kUnavailable, "placement: 503"), .times = -1});
    if (services_too) {
      compute_->faults().Set("ListServices",
                             {.error = Error(ErrorCode::kUnavailable, "nova: 503"), .times = -1});
    }
    StartEngine();
    sim_->PowerLoss("compute1");
    const std::string id = HostDown("compute1");
    Notification n = RunToEnd(id);
    EXPECT_EQ(n.status, NotificationStatus::kFinished) << n.message.value_or("");
    std::set<std::string> destinations;
    auto moves = Moves(id);
    EXPECT_EQ(moves.size(), 6u);
    for (const VMove& m : moves) {
      EXPECT_EQ(m.status, VMoveStatus::kSucceeded) << m.message.value_or("");
      EXPECT_EQ(sim_->evacuations(m.instance_uuid), 1);
      EXPECT_TRUE(m.dest_host.has_value());
      if (!m.dest_host) continue;
      EXPECT_NE(*m.dest_host, "compute1");
      EXPECT_EQ(sim_->instances().at(m.instance_uuid).info.host, *m.dest_host);
      destinations.insert(*m.dest_host);
    }
    EXPECT_GT(destinations.size(), 1u);  // spread, not piled on one host
    EXPECT_EQ(InstancesOn("compute1"), 0);
    EXPECT_EQ(sim_->unfenced_evacuations(), 0);
    return n;
  }
};

TEST_F(UnreadableCapacityTest, WithoutPlacementTheInstancesAreSpreadWithoutCapacity) {
  Notification n = Recover(false);
  EXPECT_NE(n.workflow_details_json.find("Cannot read the cloud's capacity (placement: 503)"),
            std::string::npos)
      << n.workflow_details_json;
  EXPECT_TRUE(LogHas("capacity unknown; destinations chosen without it"));
}

TEST_F(UnreadableCapacityTest, WithoutTheServiceListingTheCloudsSchedulerChooses) {
  Notification n = Recover(true);
  EXPECT_NE(n.workflow_details_json.find("each destination is left to the cloud's scheduler"),
            std::string::npos)
      << n.workflow_details_json;
}

}  // namespace
}  // namespace warden::engine
