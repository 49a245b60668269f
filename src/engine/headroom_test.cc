#include "engine/headroom.h"

#include <gtest/gtest.h>

#include "engine/engine_fixture.h"

namespace warden::engine {
namespace {

class HeadroomTest : public EngineTest {
 protected:
  // The engine's N+1 check of the fixture's segment, run to its answer.
  Result<ha::SegmentHeadroom> Check(const std::string& segment_uuid = "") {
    std::optional<Result<ha::SegmentHeadroom>> out;
    engine_->CheckHeadroom(segment_uuid.empty() ? segment_.uuid : segment_uuid,
                           [&](Result<ha::SegmentHeadroom> r) { out = std::move(r); });
    loop_.RunUntil([&] { return out.has_value(); }, loop_.clock().Monotonic() + 600 * kSecond);
    EXPECT_TRUE(out.has_value()) << "no answer";
    return out ? std::move(*out) : Result<ha::SegmentHeadroom>(Internal("no answer"));
  }
  static const ha::HostHeadroom& Named(const ha::SegmentHeadroom& s, const std::string& name) {
    for (const auto& h : s.hosts) {
      if (h.name == name) return h;
    }
    ADD_FAILURE() << "no host " << name;
    static const ha::HostHeadroom none;
    return none;
  }
  void SetMaintenance(const std::string& host) {
    ASSERT_TRUE(service_->UpdateHost(segment_.uuid, HostNamed(host).uuid, {.on_maintenance = true}));
  }
};

TEST_F(HeadroomTest, EveryHostFitsWhenTheOthersHaveRoomForItsInstances) {
  // 16 vCPU per host, 4 instances of 2 vCPU each on each: a failed host's 8 vCPU fit in the
  // other two's 16 free.
  MakeCloud(3, 4, RecoveryMethod::kAuto, {}, {16, 32768, 1000});
  StartEngine();
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->hosts.size(), 3u);
  EXPECT_TRUE(r->capacity_known);
  for (const auto& h : r->hosts) {
    EXPECT_TRUE(h.checked) << h.name;
    EXPECT_TRUE(h.usable) << h.name;
    EXPECT_EQ(h.instances, 4) << h.name;
    EXPECT_EQ(h.ha_instances, 2) << h.name;
    EXPECT_EQ(h.placed, 4) << h.name;
    EXPECT_TRUE(h.Ok()) << h.name << ": " << h.shortfall;
    EXPECT_EQ(h.total_vcpus, 16);
    EXPECT_EQ(h.used_vcpus, 8);
  }
  EXPECT_EQ(r->total_vcpus, 48);
  EXPECT_EQ(r->free_vcpus, 24);
  EXPECT_EQ(r->segment.uuid, segment_.uuid);
  // A read: nothing moved, nothing was written.
  EXPECT_EQ(compute_->faults().calls("Evacuate"), 0);
  EXPECT_EQ(compute_->faults().calls("SetServiceEnabled"), 0);
}

TEST_F(HeadroomTest, AShortSegmentSaysHowManyFitHaFirstAndWhichInstanceDoesNot) {
  // 12 of 16 vCPU used everywhere: a failed host's 6 instances need 12, the others have 8.
  MakeCloud(3, 6, RecoveryMethod::kAuto, {}, {16, 65536, 1000});
  StartEngine();
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  const auto& h = Named(*r, "compute1");
  EXPECT_TRUE(h.checked);
  EXPECT_FALSE(h.Ok());
  EXPECT_EQ(h.instances, 6);
  EXPECT_EQ(h.ha_instances, 3);
  EXPECT_EQ(h.placed, 4);
  EXPECT_EQ(h.ha_placed, 3);  // the HA-enabled ones are planned first
  EXPECT_NE(h.shortfall.find("no capacity"), std::string::npos) << h.shortfall;
  EXPECT_NE(h.shortfall.find("compute1-vm"), std::string::npos) << h.shortfall;
}

TEST_F(HeadroomTest, AHostOnMaintenanceIsNoDestinationAndSaysWhy) {
  // Room for a failed host's instances only if both others take them.
  MakeCloud(3, 4, RecoveryMethod::kAuto, {}, {12, 32768, 1000});
  SetMaintenance("compute3");
  StartEngine();
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  const auto& three = Named(*r, "compute3");
  EXPECT_FALSE(three.usable);
  EXPECT_EQ(three.note, "on maintenance");
  EXPECT_TRUE(three.Ok()) << three.shortfall;  // its own instances still fit on 1 and 2
  const auto& one = Named(*r, "compute1");
  EXPECT_FALSE(one.Ok());  // only compute2 (4 vCPU free) is left for its 8 vCPU
  EXPECT_EQ(one.placed, 2);
  EXPECT_EQ(r->total_vcpus, 24);  // the usable hosts only
  EXPECT_EQ(r->free_vcpus, 8);
}

TEST_F(HeadroomTest, ReservedHostMethodCountsOnlyTheReservedHosts) {
  MakeCloud(3, 2, RecoveryMethod::kReservedHost, {}, {16, 32768, 1000});
  StartEngine();
  auto r = Check();
  ASSERT_TRUE(r);
  EXPECT_FALSE(Named(*r, "compute1").Ok());  // no reserved host at all
  EXPECT_EQ(Named(*r, "compute1").placed, 0);

  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, HostNamed("compute3").uuid, {.reserved = true}));
  r = Check();
  ASSERT_TRUE(r);
  EXPECT_TRUE(Named(*r, "compute1").Ok()) << Named(*r, "compute1").shortfall;
  EXPECT_TRUE(Named(*r, "compute2").Ok());
  EXPECT_FALSE(Named(*r, "compute3").Ok());  // the reserved host itself has no reserve left
  EXPECT_TRUE(Named(*r, "compute3").reserved);
}

TEST_F(HeadroomTest, AHostWhoseInstancesCannotBeListedIsUncheckedAndTheOthersStillAre) {
  MakeCloud(3, 2);
  StartEngine();
  compute_->faults().Set("ListInstances",
                         {.error = {ErrorCode::kInvalidArgument, "listing refused"}, .times = -1,
                          .only_key = "compute2"});
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  const auto& two = Named(*r, "compute2");
  EXPECT_FALSE(two.checked);
  EXPECT_FALSE(two.Ok());
  EXPECT_NE(two.shortfall.find("listing refused"), std::string::npos) << two.shortfall;
  EXPECT_TRUE(Named(*r, "compute1").Ok());
  EXPECT_TRUE(Named(*r, "compute3").Ok());
}

TEST_F(HeadroomTest, UnknownCapacityIsSaidAndNothingIsPlannedOnGuesses) {
  MakeCloud(2, 2);
  StartEngine();
  compute_->faults().Set("ListHostResources",
                         {.error = {ErrorCode::kInvalidArgument, "no placement"}, .times = -1});
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->capacity_known);
  EXPECT_EQ(r->capacity_error, "no placement");
  for (const auto& h : r->hosts) {
    EXPECT_FALSE(h.checked);
    EXPECT_FALSE(h.Ok());
    EXPECT_NE(h.shortfall.find("cannot size its hosts"), std::string::npos) << h.shortfall;
  }
  EXPECT_EQ(compute_->faults().calls("ListInstances"), 0);  // nothing to plan: nothing listed
}

TEST_F(HeadroomTest, NoServicesOrNoSegmentIsAnError) {
  MakeCloud(2, 1);
  StartEngine();
  auto missing = Check("7f1c1c34-0000-4000-8000-000000000000");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  compute_->faults().Set("ListServices",
                         {.error = {ErrorCode::kNotFound, "nova says no"}, .times = -1});
  auto r = Check();
  ASSERT_FALSE(r);
  // The cloud's trouble, whatever its code: never a 404 that reads as "no such segment".
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message().find("nova says no"), std::string::npos) << r.error().message();
}

TEST_F(HeadroomTest, OneCheckAtATimeAndItsAnswerReusedBrieflyWhileTheStoreIsUnchanged) {
  MakeCloud(3, 2);
  StartEngine();
  // Two askers at once: one look at the cloud.
  int answers = 0;
  for (int i = 0; i < 2; ++i) {
    engine_->CheckHeadroom(segment_.uuid, [&](Result<ha::SegmentHeadroom> r) {
      EXPECT_TRUE(r);
      ++answers;
    });
  }
  loop_.RunUntil([&] { return answers == 2; }, loop_.clock().Monotonic() + 60 * kSecond);
  EXPECT_EQ(answers, 2);
  EXPECT_EQ(compute_->faults().calls("ListServices"), 1);
  EXPECT_EQ(compute_->faults().calls("ListInstances"), 3);
  // Soon after, the same answer.
  ASSERT_TRUE(Check());
  EXPECT_EQ(compute_->faults().calls("ListServices"), 1);
  // A change in the store, or time, makes a new look.
  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, HostNamed("compute3").uuid, {.reserved = true}));
  ASSERT_TRUE(Check());
  EXPECT_EQ(compute_->faults().calls("ListServices"), 2);
  loop_.RunFor(6 * kSecond);
  ASSERT_TRUE(Check());
  EXPECT_EQ(compute_->faults().calls("ListServices"), 3);
}

TEST_F(HeadroomTest, AHangingCloudStillGetsAnAnswerInBoundedTime) {
  MakeCloud(12, 1);
  StartEngine();
  compute_->faults().Set("ListInstances", {.kind = drivers::Fault::Kind::kHang, .times = -1});
  const MonoMicros start = loop_.clock().Monotonic();
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  // Eight listings at a time, each given up at the 30 s call timeout; none started after 30 s.
  EXPECT_LE(loop_.clock().Monotonic() - start, 90 * kSecond);
  EXPECT_EQ(compute_->faults().calls("ListInstances"), 8);
  int late = 0;
  for (const auto& h : r->hosts) {
    EXPECT_FALSE(h.Ok()) << h.name;
    late += h.shortfall == "its instances were not listed in time";
  }
  EXPECT_EQ(late, 4);
}

TEST_F(HeadroomTest, AHostUnderRecoveryIsNoDestination) {
  MakeCloud(3, 1);
  StartEngine();
  compute_->faults().Set("Evacuate", {.kind = drivers::Fault::Kind::kHang, .times = -1});
  sim_->PowerLoss("compute1");
  const std::string id = HostDown("compute1");
  RunUntilCalled("Evacuate");
  auto r = Check();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(Named(*r, "compute1").usable);
  EXPECT_EQ(Named(*r, "compute1").note, "a recovery of it is under way");
  EXPECT_TRUE(Named(*r, "compute2").usable);
  (void)id;
}

}  // namespace
}  // namespace warden::engine
