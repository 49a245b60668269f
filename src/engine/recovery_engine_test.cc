// The life cycle of a notification: triage verdicts, retries on schedule and by the operator,
// cancel, expiry, one recovery per host at a time.
#include <gtest/gtest.h>

#include "engine/engine_fixture.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;

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

// A retry answers with the notification as the retry left it — running — even when every task
// of its workflow has its answer at once: the tasks start in a later loop turn.
TEST_F(EngineTest, ARetryAnswersRunningEvenWhenTheWorkflowEndsAtOnce) {
  MakeCloud(2, 1);
  options_.max_error_retries = 0;
  options_.workflows.process = {"NoSuchTask"};  // fails at once, every time
  StartEngine();
  const std::string id = Notify("compute1", NotificationType::kProcess,
                                R"({"event":"STOPPED","process_name":"nova-compute"})");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kError);
  std::optional<Result<Notification>> answer;
  engine_->Retry(id, "admin", [&](Result<Notification> r) { answer = r; });
  loop_.RunUntil([&] { return answer.has_value(); }, loop_.clock().Monotonic() + 10 * kSecond);
  ASSERT_TRUE(answer && answer->has_value());
  EXPECT_EQ((*answer)->status, NotificationStatus::kRunning);
  EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kError);
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

}  // namespace
}  // namespace warden::engine
