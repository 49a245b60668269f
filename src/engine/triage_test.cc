#include "engine/triage.h"

#include <gtest/gtest.h>

namespace warden::engine {
namespace {

constexpr int64_t kSec = 1'000'000;

class TriageTest : public testing::Test {
 protected:
  TriageInput Input(NotificationType type, const std::string& payload) {
    TriageInput in;
    in.notification.uuid = "n2";
    in.notification.meta.id = 2;
    in.notification.type = type;
    in.notification.source_host_uuid = "h1";
    in.notification.payload_json = payload;
    in.notification.generated_time = 1000 * kSec;
    in.host = Host{.uuid = "h1", .name = "compute1"};
    in.segment = Segment{.uuid = "s1", .name = "seg"};
    in.segment_hosts = 10;
    in.host_has_fencer = true;
    in.now = 1001 * kSec;
    return in;
  }
  const std::string kDown = R"({"event":"STOPPED","host_status":"NORMAL"})";
  TriageOptions options_;
};

TEST_F(TriageTest, HostDownProceeds) {
  EXPECT_EQ(Triage(Input(NotificationType::kComputeHost, kDown), options_).verdict,
            Verdict::kProceed);
}

TEST_F(TriageTest, DisabledSegmentIsIgnoredWithMasakarisMessage) {
  auto in = Input(NotificationType::kComputeHost, kDown);
  in.segment->enabled = false;
  auto d = Triage(in, options_);
  EXPECT_EQ(d.verdict, Verdict::kIgnore);
  EXPECT_EQ(d.message, "Recovery aborted: the segment HA is disabled.");
}

TEST_F(TriageTest, MaintenanceIgnoresOnFirstRunOnly) {
  auto in = Input(NotificationType::kComputeHost, kDown);
  in.host->on_maintenance = true;
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kIgnore);
  in.first_run = false;  // a retry: the maintenance flag is the recovery's own
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);
}

TEST_F(TriageTest, DuplicatesFollowMasakarisRuleOrTheStatusAwareOne) {
  auto in = Input(NotificationType::kComputeHost, kDown);
  Notification earlier = in.notification;
  earlier.uuid = "n1";
  earlier.meta.id = 1;
  earlier.generated_time = 900 * kSec;
  earlier.status = NotificationStatus::kIgnored;
  in.same_host_recent = {earlier};
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kIgnore);  // status ignored still blocks
  options_.status_aware_duplicates = true;
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);
  in.same_host_recent[0].status = NotificationStatus::kRunning;
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kIgnore);
  // Outside the window, or a different payload: not a duplicate.
  in.same_host_recent[0].generated_time = 1000 * kSec - 181 * kSec;
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);
  in.same_host_recent[0].generated_time = 900 * kSec;
  in.same_host_recent[0].payload_json = R"({"event":"STOPPED","host_status":"UNKNOWN"})";
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);
  // A later notification never makes an earlier one a duplicate.
  in.same_host_recent[0].payload_json = kDown;
  in.same_host_recent[0].meta.id = 3;
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);
}

TEST_F(TriageTest, HostEvents) {
  EXPECT_EQ(Triage(Input(NotificationType::kComputeHost, R"({"event":"STARTED"})"), options_).verdict,
            Verdict::kFinish);
  EXPECT_EQ(Triage(Input(NotificationType::kComputeHost, R"({"event":"WHATEVER"})"), options_).verdict,
            Verdict::kIgnore);
  EXPECT_EQ(Triage(Input(NotificationType::kComputeHost, "not json"), options_).verdict,
            Verdict::kIgnore);
}

TEST_F(TriageTest, UnfencedHostNeedsHostStatusNormalOrIsRefused) {
  auto in = Input(NotificationType::kComputeHost, R"({"event":"STOPPED","host_status":"UNKNOWN"})");
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);  // it has a fencer
  in.host_has_fencer = false;
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kIgnore);
  in.notification.payload_json = kDown;
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);
  options_.unfenced_hosts = UnfencedHosts::kRefuse;
  auto d = Triage(in, options_);
  EXPECT_EQ(d.verdict, Verdict::kError);
  EXPECT_TRUE(d.alarm);
}

TEST_F(TriageTest, StormGuardCountsTheSegmentsFailingHosts) {
  auto in = Input(NotificationType::kComputeHost, kDown);
  options_.storm_guard_max_share = 0.4;
  in.segment_hosts_failing = 3;  // this one makes 4 of 10: at the limit, proceeds
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kProceed);
  in.segment_hosts_failing = 4;  // 5 of 10: above
  auto d = Triage(in, options_);
  EXPECT_EQ(d.verdict, Verdict::kHold);
  EXPECT_TRUE(d.alarm);
  EXPECT_NE(d.message.find("5 of 10 hosts of segment seg"), std::string::npos) << d.message;
}

TEST_F(TriageTest, InstanceEventsFollowMasakarisFilter) {
  auto ev = [&](const std::string& e, const std::string& d) {
    return Triage(Input(NotificationType::kVm, R"({"event":")" + e +
                                                   R"(","instance_uuid":"i","vir_domain_event":")" +
                                                   d + R"("})"),
                  options_)
        .verdict;
  };
  EXPECT_EQ(ev("LIFECYCLE", "STOPPED_FAILED"), Verdict::kProceed);
  EXPECT_EQ(ev("IO_ERROR", "IO_ERROR_REPORT"), Verdict::kProceed);
  EXPECT_EQ(ev("QEMU_GUEST_AGENT_ERROR", "STOPPED_FAILED"), Verdict::kProceed);
  EXPECT_EQ(ev("LIFECYCLE", "STOPPED_DESTROYED"), Verdict::kIgnore);
  EXPECT_EQ(ev("LIFECYCLE", "STOPPED_SHUTDOWN"), Verdict::kIgnore);
  EXPECT_EQ(ev("REBOOT", "UNKNOWN"), Verdict::kIgnore);
}

TEST_F(TriageTest, ProcessEvents) {
  EXPECT_EQ(Triage(Input(NotificationType::kProcess, R"({"event":"STARTED","process_name":"x"})"),
                   options_)
                .verdict,
            Verdict::kFinish);
  EXPECT_EQ(Triage(Input(NotificationType::kProcess,
                         R"({"event":"STOPPED","process_name":"nova-compute"})"),
                   options_)
                .verdict,
            Verdict::kProceed);
}

TEST_F(TriageTest, MissingHostOrSegmentIsIgnored) {
  auto in = Input(NotificationType::kComputeHost, kDown);
  in.host.reset();
  EXPECT_EQ(Triage(in, options_).verdict, Verdict::kIgnore);
}

}  // namespace
}  // namespace warden::engine
