#include "engine/workflow.h"

#include <gtest/gtest.h>

namespace warden::engine {
namespace {

TEST(Workflow, MasakariFlowSyntaxMapsToCanonicalTasksAndFencingIsAlwaysFirst) {
  auto f = ParseFlow(
      "pre:[disable_compute_service_task],main:[prepare_HA_enabled_instances_task],"
      "post:[evacuate_instances_task]",
      true, {});
  ASSERT_TRUE(f.has_value()) << f.error().message();
  EXPECT_EQ(*f, (std::vector<std::string>{"FenceHostTask", "DisableComputeServiceTask",
                                          "PrepareHAEnabledInstancesTask",
                                          "EvacuateInstancesTask"}));
  // Stages in any order run pre, main, post.
  auto g = ParseFlow("post:[EvacuateHost], pre:[disableComputeNodeTask], main:[PrepareHAEnabled]",
                     true, {});
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(*g, *f);
}

TEST(Workflow, SeedsTargetsListAndCustomTasks) {
  std::map<std::string, CustomTask> custom = {{"notify_cmdb", CustomTask{.name = "notify_cmdb"}}};
  auto f = ParseFlow("disableComputeNodeTask, PrepareHAEnabled, EvacuateHost, notify_cmdb", true,
                     custom);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->back(), "notify_cmdb");
  EXPECT_EQ(f->front(), "FenceHostTask");
}

TEST(Workflow, BadFlowsAreErrorsNamingTheProblem) {
  auto unknown = ParseFlow("pre:[nope_task]", false, {});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("unknown task 'nope_task'"), std::string::npos);
  EXPECT_FALSE(ParseFlow("pre:[a", false, {}).has_value());
  EXPECT_FALSE(ParseFlow("early:[no_op]", false, {}).has_value());
  EXPECT_FALSE(ParseFlow("no_op, no_op", false, {}).has_value());
  EXPECT_FALSE(ParseFlow("", false, {}).has_value());
}

}  // namespace
}  // namespace warden::engine
