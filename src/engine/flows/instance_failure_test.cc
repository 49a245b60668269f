// The instance failure flow: stop, start, confirm active; what is not recovered.
#include <gtest/gtest.h>

#include "engine/engine_fixture.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;

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

}  // namespace
}  // namespace warden::engine
