// The process failure flow: a restart through the host's agent, else the compute service
// disabled as Masakari does.
#include <gtest/gtest.h>

#include "engine/engine_fixture.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;

// As Masakari: nova-compute down and not restarted → the compute service is disabled and the
// host goes on maintenance (nothing is evacuated). A process Warden cannot act on changes
// nothing, unlike Masakari, which puts that host on maintenance too.
TEST_F(EngineTest, ProcessFailureOfNovaComputeDisablesTheServiceAndPutsTheHostOnMaintenance) {
  MakeCloud(2, 2);
  StartEngine();
  const std::string id = Notify("compute1", NotificationType::kProcess,
                                R"({"event":"STOPPED","process_name":"nova-compute"})");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  EXPECT_FALSE(sim_->hosts().at("compute1").service_enabled);
  EXPECT_FALSE(sim_->hosts().at("compute1").forced_down);
  EXPECT_TRUE(HostNamed("compute1").on_maintenance);
  EXPECT_EQ(InstancesOn("compute1"), 2);  // nothing evacuated
  const std::string other = Notify("compute2", NotificationType::kProcess,
                                   R"({"event":"STOPPED","process_name":"libvirtd"})");
  Notification n = RunToEnd(other);
  EXPECT_EQ(n.status, NotificationStatus::kFinished);
  EXPECT_NE(n.message.value_or("").find("No recovery action"), std::string::npos);
  EXPECT_TRUE(sim_->hosts().at("compute2").service_enabled);
  EXPECT_FALSE(HostNamed("compute2").on_maintenance);
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
  EXPECT_FALSE(HostNamed("compute1").on_maintenance);
}

TEST_F(AgentEngineTest, AFailedRestartThroughTheAgentFallsBackToDisablingTheService) {
  FakeRestarter agent(loop_);
  agent.answer = MakeError(ErrorCode::kUnavailable, "the agent of compute1: connection refused");
  const std::string id = StartWithAgentFirst(&agent);
  Notification n = RunToEnd(id);
  EXPECT_EQ(n.status, NotificationStatus::kFinished);
  EXPECT_EQ(agent.calls.size(), 1u);
  EXPECT_FALSE(sim_->hosts().at("compute1").service_enabled);
  EXPECT_TRUE(HostNamed("compute1").on_maintenance);
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

}  // namespace
}  // namespace warden::engine
