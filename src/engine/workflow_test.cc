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

TEST(Workflow, RetryPolicyParsesAndBacksOffWithinItsCap) {
  auto p = ParseRetryPolicy("exponential:5:1s:8s");
  ASSERT_TRUE(p.has_value());
  p->jitter = 0;
  std::mt19937_64 rng(1);
  EXPECT_EQ(p->DelayBefore(2, rng), 1'000'000);
  EXPECT_EQ(p->DelayBefore(3, rng), 2'000'000);
  EXPECT_EQ(p->DelayBefore(4, rng), 4'000'000);
  EXPECT_EQ(p->DelayBefore(5, rng), 8'000'000);
  EXPECT_EQ(p->DelayBefore(9, rng), 8'000'000);
  auto fixed = ParseRetryPolicy("fixed:3:500ms");
  ASSERT_TRUE(fixed.has_value());
  fixed->jitter = 0.2;
  for (int i = 0; i < 100; ++i) {
    int64_t d = fixed->DelayBefore(3, rng);
    EXPECT_GE(d, 400'000);
    EXPECT_LE(d, 600'000);
  }
  EXPECT_FALSE(ParseRetryPolicy("exponential:0:1s:2s").has_value());
  EXPECT_FALSE(ParseRetryPolicy("exponential:3:5s:2s").has_value());
  EXPECT_FALSE(ParseRetryPolicy("linear:3:1s").has_value());
  EXPECT_FALSE(ParseRetryPolicy("fixed:3:soon").has_value());
}

}  // namespace
}  // namespace warden::engine
