#include "engine/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace warden::engine {
namespace {

constexpr char kSegment[] = "seg-a";
constexpr char kOtherSegment[] = "seg-b";

constexpr RecoveryMethod kAllMethods[] = {RecoveryMethod::kAuto, RecoveryMethod::kReservedHost,
                                          RecoveryMethod::kAutoPriority,
                                          RecoveryMethod::kRhPriority};

// A usable, non-reserved host of kSegment with 16 vCPU, 64 GiB RAM and 1 TB disk free.
HostCapacity Host(std::string name) {
  return {.name = std::move(name),
          .segment_uuid = kSegment,
          .free_vcpus = 16,
          .free_ram_mb = 65536,
          .free_disk_gb = 1000};
}

HostCapacity Reserved(std::string name) {
  HostCapacity host = Host(std::move(name));
  host.reserved = true;
  return host;
}

HostCapacity WithFree(HostCapacity host, int64_t vcpus, int64_t ram_mb, int64_t disk_gb) {
  host.free_vcpus = vcpus;
  host.free_ram_mb = ram_mb;
  host.free_disk_gb = disk_gb;
  return host;
}

HostCapacity WithPriority(HostCapacity host, int priority) {
  host.priority = priority;
  return host;
}

PlanInstance Vm(std::string uuid, int64_t vcpus = 1, int64_t ram_mb = 2048, int64_t disk_gb = 20) {
  return {.uuid = std::move(uuid),
          .flavor = {.vcpus = vcpus, .ram_mb = ram_mb, .disk_gb = disk_gb},
          .ha_enabled = true};
}

PlanRequest Request(RecoveryMethod method, std::vector<PlanInstance> instances,
                    std::vector<HostCapacity> hosts) {
  return {.method = method,
          .segment_uuid = kSegment,
          .stay_in_segment = true,
          .instances = std::move(instances),
          .hosts = std::move(hosts)};
}

// Destinations in placement order; "-" for an unplaced instance.
std::vector<std::string> Destinations(const EvacuationPlan& plan) {
  std::vector<std::string> out;
  for (const Placement& p : plan.placements) out.push_back(p.destination.value_or("-"));
  return out;
}

using Names = std::vector<std::string>;

// ---- Empty inputs -----------------------------------------------------------------------

TEST(PlannerTest, EmptyRequestGivesEmptyPlan) {
  for (RecoveryMethod method : kAllMethods) {
    EvacuationPlan plan = PlanEvacuation(Request(method, {}, {}));
    EXPECT_TRUE(plan.placements.empty());
    EXPECT_TRUE(plan.reserved_hosts_used.empty());
    EXPECT_EQ(plan.unplaced, 0);
  }
}

TEST(PlannerTest, NoInstancesLeavesHostsUntouched) {
  EvacuationPlan plan =
      PlanEvacuation(Request(RecoveryMethod::kRhPriority, {}, {Host("h1"), Reserved("r1")}));
  EXPECT_TRUE(plan.placements.empty());
  EXPECT_TRUE(plan.reserved_hosts_used.empty());
  EXPECT_EQ(plan.unplaced, 0);
}

TEST(PlannerTest, NoHostsLeavesEveryInstanceUnplacedWithAReason) {
  for (RecoveryMethod method : kAllMethods) {
    EvacuationPlan plan = PlanEvacuation(Request(method, {Vm("a"), Vm("b")}, {}));
    ASSERT_EQ(plan.placements.size(), 2u);
    EXPECT_EQ(plan.unplaced, 2);
    for (const Placement& p : plan.placements) {
      EXPECT_FALSE(p.destination.has_value());
      EXPECT_FALSE(p.to_reserved);
      EXPECT_TRUE(p.reason.starts_with("no capacity: needs 1 vCPU, 2048 MB RAM, 20 GB disk; "))
          << p.reason;
    }
  }
}

// ---- Pools per method -------------------------------------------------------------------

TEST(PlannerTest, AutoUsesOnlyNonReservedHosts) {
  // The reserved host is emptier, so only the pool rule keeps instances off it.
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, {Vm("a"), Vm("b"), Vm("c")},
              {WithFree(Host("h1"), 4, 16384, 100), WithFree(Reserved("r1"), 64, 262144, 1000)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h1", "h1"}));
  EXPECT_TRUE(plan.reserved_hosts_used.empty());
  for (const Placement& p : plan.placements) EXPECT_FALSE(p.to_reserved);
}

TEST(PlannerTest, AutoWithOnlyReservedHostsPlacesNothing) {
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a")}, {Reserved("r1")}));
  EXPECT_EQ(plan.unplaced, 1);
  EXPECT_EQ(plan.placements[0].reason,
            "no capacity: needs 1 vCPU, 2048 MB RAM, 20 GB disk; no usable non-reserved host in "
            "segment has it");
}

TEST(PlannerTest, ReservedHostUsesOnlyReservedHosts) {
  auto plan = PlanEvacuation(Request(RecoveryMethod::kReservedHost, {Vm("a"), Vm("b"), Vm("c")},
                                     {WithFree(Host("h1"), 64, 262144, 1000), Reserved("r1")}));
  EXPECT_EQ(Destinations(plan), (Names{"r1", "r1", "r1"}));
  for (const Placement& p : plan.placements) EXPECT_TRUE(p.to_reserved);
  EXPECT_EQ(plan.reserved_hosts_used, (Names{"r1"}));
}

TEST(PlannerTest, ReservedHostWithOnlyNonReservedHostsPlacesNothing) {
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kReservedHost, {Vm("a", 4, 8192, 40)}, {Host("h1"), Host("h2")}));
  EXPECT_EQ(plan.unplaced, 1);
  EXPECT_EQ(plan.placements[0].reason,
            "no capacity: needs 4 vCPU, 8192 MB RAM, 40 GB disk; no usable reserved host in "
            "segment has it");
}

TEST(PlannerTest, ReservedHostSpreadsAcrossReservedHostsUnlikeMasakari) {
  auto plan =
      PlanEvacuation(Request(RecoveryMethod::kReservedHost, {Vm("a"), Vm("b"), Vm("c"), Vm("d")},
                             {Reserved("r1"), Reserved("r2"), Host("h1")}));
  EXPECT_EQ(Destinations(plan), (Names{"r1", "r2", "r1", "r2"}));
  EXPECT_EQ(plan.reserved_hosts_used, (Names{"r1", "r2"}));
}

TEST(PlannerTest, ReservedHostIsCapacityAware) {
  // r1 has room for one 8-vCPU instance; the second goes to r2 rather than overloading r1.
  auto plan = PlanEvacuation(Request(
      RecoveryMethod::kReservedHost, {Vm("a", 8, 16384, 80), Vm("b", 8, 16384, 80)},
      {WithFree(Reserved("r1"), 12, 65536, 1000), WithFree(Reserved("r2"), 10, 65536, 1000)}));
  EXPECT_EQ(Destinations(plan), (Names{"r1", "r2"}));
}

// ---- Spread -----------------------------------------------------------------------------

TEST(PlannerTest, FourEqualInstancesOverFourEqualHostsGoOneEach) {
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a"), Vm("b"), Vm("c"), Vm("d")},
                                     {Host("h3"), Host("h1"), Host("h4"), Host("h2")}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h2", "h3", "h4"}));
  EXPECT_EQ(plan.unplaced, 0);
}

TEST(PlannerTest, EachInstanceGoesToTheEmptiestHost) {
  // h1 starts with 12 vCPU free, h2 with 8: h1 takes instances until it is level with h2,
  // then they alternate (ties to the name that sorts first).
  auto plan = PlanEvacuation(Request(
      RecoveryMethod::kAuto, {Vm("a", 2, 8192, 1), Vm("b", 2, 8192, 1), Vm("c", 2, 8192, 1)},
      {WithFree(Host("h2"), 8, 32768, 100), WithFree(Host("h1"), 12, 49152, 100)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h1", "h1"}));

  plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto,
              {Vm("a", 2, 8192, 1), Vm("b", 2, 8192, 1), Vm("c", 2, 8192, 1), Vm("d", 2, 8192, 1)},
              {WithFree(Host("h2"), 8, 32768, 100), WithFree(Host("h1"), 10, 40960, 100)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h1", "h2", "h1"}));
}

TEST(PlannerTest, ScoreIsTheScarcerOfVcpuAndRam) {
  // h1: all the vCPU but a quarter of the RAM (score 0.25); h2: half the vCPU, all the RAM
  // (score 0.5).
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, {Vm("a")},
              {WithFree(Host("h1"), 64, 32768, 100), WithFree(Host("h2"), 32, 131072, 100)}));
  EXPECT_EQ(Destinations(plan), (Names{"h2"}));

  // The same with the dimensions swapped: h1 scores 0.25 by its vCPUs.
  plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, {Vm("a")},
              {WithFree(Host("h1"), 8, 262144, 100), WithFree(Host("h2"), 32, 131072, 100)}));
  EXPECT_EQ(Destinations(plan), (Names{"h2"}));
}

TEST(PlannerTest, DiskIsNotScored) {
  // Equal vCPU and RAM: the tie goes to the name, not to the host with more disk.
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, {Vm("a")},
              {WithFree(Host("h1"), 16, 65536, 50), WithFree(Host("h2"), 16, 65536, 5000)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1"}));
}

TEST(PlannerTest, TiesGoToTheNameThatSortsFirstWhateverTheInputOrder) {
  std::vector<HostCapacity> hosts = {Host("b"), Host("c"), Host("a")};
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("x")}, hosts));
  EXPECT_EQ(Destinations(plan), (Names{"a"}));
  std::reverse(hosts.begin(), hosts.end());
  plan = PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("x")}, hosts));
  EXPECT_EQ(Destinations(plan), (Names{"a"}));
}

TEST(PlannerTest, BestScoredHostThatDoesNotFitIsPassedOver) {
  // h1 scores highest but has too little disk; h2 has too little RAM; h3 fits.
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, {Vm("big", 8, 32768, 200)},
              {WithFree(Host("h1"), 64, 262144, 100), WithFree(Host("h2"), 48, 16384, 1000),
               WithFree(Host("h3"), 8, 32768, 200)}));
  EXPECT_EQ(Destinations(plan), (Names{"h3"}));
}

// ---- Capacity ---------------------------------------------------------------------------

TEST(PlannerTest, EachPlacementDeductsVcpus) {
  auto plan =
      PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a", 3, 1024, 1), Vm("b", 3, 1024, 1)},
                             {WithFree(Host("h1"), 5, 65536, 1000)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "-"}));
}

TEST(PlannerTest, EachPlacementDeductsRam) {
  auto plan =
      PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a", 1, 3000, 1), Vm("b", 1, 3000, 1)},
                             {WithFree(Host("h1"), 64, 5000, 1000)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "-"}));
}

TEST(PlannerTest, EachPlacementDeductsDisk) {
  auto plan =
      PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a", 1, 1024, 30), Vm("b", 1, 1024, 30)},
                             {WithFree(Host("h1"), 64, 65536, 50)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "-"}));
}

TEST(PlannerTest, ExactFitIsAllowed) {
  auto plan =
      PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a", 2, 4096, 40), Vm("b", 2, 4096, 40)},
                             {WithFree(Host("h1"), 4, 8192, 80)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h1"}));
}

TEST(PlannerTest, DeductionMovesTheNextInstanceToAnotherHost) {
  // After "a" takes 6 vCPU from h1 (8 free), h2 (6 free) is the emptier host.
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, {Vm("a", 6, 6144, 10), Vm("b", 2, 2048, 10)},
              {WithFree(Host("h1"), 8, 8192, 100), WithFree(Host("h2"), 6, 6144, 100)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h2"}));
}

TEST(PlannerTest, AlreadyOvercommittedHostFitsNothing) {
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, {Vm("a", 0, 0, 0)}, {WithFree(Host("h1"), -2, 65536, 1000)}));
  EXPECT_EQ(plan.unplaced, 1);
}

TEST(PlannerTest, NoCapacityNamesTheNeedAndLaterSmallerInstanceIsStillPlaced) {
  auto plan = PlanEvacuation(Request(RecoveryMethod::kReservedHost,
                                     {Vm("big", 4, 8192, 40), Vm("small", 1, 2048, 20)},
                                     {WithFree(Reserved("r1"), 2, 65536, 1000)}));
  ASSERT_EQ(plan.placements.size(), 2u);
  EXPECT_FALSE(plan.placements[0].destination.has_value());
  EXPECT_EQ(plan.placements[0].reason,
            "no capacity: needs 4 vCPU, 8192 MB RAM, 40 GB disk; no usable reserved host in "
            "segment has it");
  EXPECT_EQ(plan.placements[1].destination, "r1");
  EXPECT_TRUE(plan.placements[1].reason.empty());
  EXPECT_EQ(plan.unplaced, 1);
}

TEST(PlannerTest, ReasonNamesEveryPoolTheMethodTried) {
  auto reason = [](RecoveryMethod method, bool stay_in_segment) {
    PlanRequest request = Request(method, {Vm("big", 99, 1, 1)}, {Host("h1"), Reserved("r1")});
    request.stay_in_segment = stay_in_segment;
    return PlanEvacuation(request).placements.at(0).reason;
  };
  const std::string need = "no capacity: needs 99 vCPU, 1 MB RAM, 1 GB disk; ";
  EXPECT_EQ(reason(RecoveryMethod::kAuto, true),
            need + "no usable non-reserved host in segment has it");
  EXPECT_EQ(reason(RecoveryMethod::kAuto, false),
            need + "no usable non-reserved host in any segment has it");
  EXPECT_EQ(reason(RecoveryMethod::kReservedHost, false),
            need + "no usable reserved host in segment has it");
  EXPECT_EQ(reason(RecoveryMethod::kAutoPriority, true),
            need + "no usable non-reserved host in segment, nor reserved host in segment, has it");
  EXPECT_EQ(
      reason(RecoveryMethod::kRhPriority, false),
      need + "no usable reserved host in segment, nor non-reserved host in any segment, has it");
}

TEST(PlannerTest, NegativeFlavorFieldsCountAsZero) {
  auto plan =
      PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a", -4, 1024, 1), Vm("b", 2, 1024, 1)},
                             {WithFree(Host("h1"), 2, 65536, 1000)}));
  // "a" must not hand vCPUs to h1: "b" then takes the 2 that were there.
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h1"}));
  plan = PlanEvacuation(Request(RecoveryMethod::kAuto,
                                {Vm("a", -4, 1024, 1), Vm("b", 2, 1024, 1), Vm("c", 1, 1024, 1)},
                                {WithFree(Host("h1"), 2, 65536, 1000)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h1", "-"}));
  EXPECT_EQ(plan.placements[0].reason, "");
}

// ---- Unusable hosts and segments --------------------------------------------------------

TEST(PlannerTest, UnusableHostsAreNeverChosen) {
  for (RecoveryMethod method : kAllMethods) {
    HostCapacity down = WithFree(Host("h0"), 64, 262144, 1000);
    down.usable = false;
    HostCapacity down_reserved = WithFree(Reserved("r0"), 64, 262144, 1000);
    down_reserved.usable = false;
    auto plan = PlanEvacuation(Request(method, {Vm("a"), Vm("b"), Vm("c")},
                                       {down, down_reserved, Host("h1"), Reserved("r1")}));
    for (const Placement& p : plan.placements) {
      ASSERT_TRUE(p.destination.has_value()) << ToString(method);
      EXPECT_NE(*p.destination, "h0") << ToString(method);
      EXPECT_NE(*p.destination, "r0") << ToString(method);
    }
  }
}

TEST(PlannerTest, OnlyUnusableHostsMeansNoCapacity) {
  HostCapacity h1 = Host("h1");
  h1.usable = false;
  HostCapacity r1 = Reserved("r1");
  r1.usable = false;
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAutoPriority, {Vm("a")}, {h1, r1}));
  EXPECT_EQ(plan.unplaced, 1);
  EXPECT_TRUE(plan.reserved_hosts_used.empty());
}

TEST(PlannerTest, StayInSegmentKeepsInstancesInTheSegment) {
  HostCapacity other = WithFree(Host("elsewhere"), 64, 262144, 1000);
  other.segment_uuid = kOtherSegment;
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a"), Vm("b")},
                                     {other, WithFree(Host("h1"), 1, 2048, 20)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "-"}));
}

TEST(PlannerTest, LeavingTheSegmentMakesOtherSegmentsNonReservedHostsCandidates) {
  HostCapacity other = WithFree(Host("elsewhere"), 64, 262144, 1000);
  other.segment_uuid = kOtherSegment;
  PlanRequest request = Request(RecoveryMethod::kAuto, {Vm("a"), Vm("b")},
                                {other, WithFree(Host("h1"), 1, 2048, 20)});
  request.stay_in_segment = false;
  auto plan = PlanEvacuation(request);
  // "elsewhere" is the emptier host: out-of-segment candidates are not penalised.
  EXPECT_EQ(Destinations(plan), (Names{"elsewhere", "elsewhere"}));
}

TEST(PlannerTest, ReservedHostsOfOtherSegmentsAreNeverUsed) {
  HostCapacity foreign = WithFree(Reserved("foreign-r"), 64, 262144, 1000);
  foreign.segment_uuid = kOtherSegment;
  for (RecoveryMethod method : kAllMethods) {
    for (bool stay : {true, false}) {
      PlanRequest request = Request(method, {Vm("a"), Vm("b")}, {foreign});
      request.stay_in_segment = stay;
      auto plan = PlanEvacuation(request);
      EXPECT_EQ(plan.unplaced, 2) << ToString(method) << " stay=" << stay;
      EXPECT_TRUE(plan.reserved_hosts_used.empty());
    }
  }
}

TEST(PlannerTest, ReservedHostMethodIgnoresOtherSegmentsEvenWhenLeavingTheSegment) {
  HostCapacity other = WithFree(Host("elsewhere"), 64, 262144, 1000);
  other.segment_uuid = kOtherSegment;
  PlanRequest request = Request(RecoveryMethod::kReservedHost, {Vm("a")}, {other});
  request.stay_in_segment = false;
  EXPECT_EQ(PlanEvacuation(request).unplaced, 1);
}

// ---- auto_priority ----------------------------------------------------------------------

TEST(PlannerTest, AutoPriorityFillsTheHighestPriorityTierFirst) {
  // The priority-5 host is the fuller one, yet it takes instances until it has no room.
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAutoPriority,
                                     {Vm("a", 2), Vm("b", 2), Vm("c", 2), Vm("d", 2)},
                                     {WithPriority(WithFree(Host("low"), 64, 262144, 1000), 1),
                                      WithPriority(WithFree(Host("high"), 4, 65536, 1000), 5),
                                      WithPriority(WithFree(Host("mid"), 2, 65536, 1000), 3)}));
  EXPECT_EQ(Destinations(plan), (Names{"high", "high", "mid", "low"}));
}

TEST(PlannerTest, AutoPrioritySpreadsWithinATier) {
  auto plan = PlanEvacuation(Request(
      RecoveryMethod::kAutoPriority, {Vm("a"), Vm("b"), Vm("c"), Vm("d")},
      {WithPriority(Host("t2"), 1), WithPriority(Host("t1b"), 7), WithPriority(Host("t1a"), 7)}));
  EXPECT_EQ(Destinations(plan), (Names{"t1a", "t1b", "t1a", "t1b"}));
}

TEST(PlannerTest, AutoPriorityUsesALowerTierForAFlavorTheHigherTierCannotTake) {
  auto plan = PlanEvacuation(Request(
      RecoveryMethod::kAutoPriority, {Vm("big", 8), Vm("small", 1)},
      {WithPriority(WithFree(Host("high"), 4, 65536, 1000), 9), WithPriority(Host("low"), 0)}));
  EXPECT_EQ(Destinations(plan), (Names{"low", "high"}));
}

TEST(PlannerTest, AutoPriorityFallsBackToReservedHosts) {
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAutoPriority, {Vm("a", 2), Vm("b", 2), Vm("c", 2)},
              {WithFree(Reserved("r1"), 64, 262144, 1000), WithFree(Host("h1"), 2, 65536, 1000)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "r1", "r1"}));
  EXPECT_FALSE(plan.placements[0].to_reserved);
  EXPECT_TRUE(plan.placements[1].to_reserved);
  EXPECT_EQ(plan.reserved_hosts_used, (Names{"r1"}));
}

TEST(PlannerTest, AutoPriorityLeavesReservedHostsAloneWhileNonReservedHaveRoom) {
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAutoPriority, {Vm("a"), Vm("b")},
                                     {WithFree(Reserved("r1"), 64, 262144, 1000), Host("h1")}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "h1"}));
  EXPECT_TRUE(plan.reserved_hosts_used.empty());
}

TEST(PlannerTest, AutoIgnoresPriority) {
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("a")},
                                     {WithPriority(WithFree(Host("h1"), 4, 16384, 100), 100),
                                      WithFree(Host("h2"), 16, 65536, 100)}));
  EXPECT_EQ(Destinations(plan), (Names{"h2"}));
}

// ---- rh_priority ------------------------------------------------------------------------

TEST(PlannerTest, RhPriorityUsesReservedHostsFirstAndSpreadsThem) {
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kRhPriority, {Vm("a"), Vm("b"), Vm("c")},
              {WithFree(Host("h1"), 64, 262144, 1000), Reserved("r2"), Reserved("r1")}));
  EXPECT_EQ(Destinations(plan), (Names{"r1", "r2", "r1"}));
  EXPECT_EQ(plan.reserved_hosts_used, (Names{"r1", "r2"}));
}

TEST(PlannerTest, RhPriorityFallsBackToNonReservedHostsByPriority) {
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kRhPriority, {Vm("a", 4), Vm("b", 4), Vm("c", 4), Vm("d", 4)},
              {WithFree(Reserved("r1"), 4, 65536, 1000), WithPriority(Host("low"), 1),
               WithPriority(WithFree(Host("high"), 8, 65536, 1000), 2)}));
  EXPECT_EQ(Destinations(plan), (Names{"r1", "high", "high", "low"}));
  EXPECT_TRUE(plan.placements[0].to_reserved);
  EXPECT_FALSE(plan.placements[1].to_reserved);
}

TEST(PlannerTest, RhPriorityIgnoresPriorityAmongReservedHosts) {
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kRhPriority, {Vm("a")},
              {WithPriority(WithFree(Reserved("r1"), 4, 16384, 100), 100), Reserved("r2")}));
  EXPECT_EQ(Destinations(plan), (Names{"r2"}));
}

// ---- reserved_hosts_used, order, determinism --------------------------------------------

TEST(PlannerTest, ReservedHostsUsedListsEachOnceInOrderOfFirstUse) {
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kReservedHost, {Vm("a"), Vm("b"), Vm("c"), Vm("d"), Vm("e")},
              {Reserved("r1"), WithFree(Reserved("r2"), 18, 73728, 1000), Reserved("r3")}));
  EXPECT_EQ(Destinations(plan), (Names{"r2", "r2", "r1", "r2", "r3"}));
  EXPECT_EQ(plan.reserved_hosts_used, (Names{"r2", "r1", "r3"}));
}

TEST(PlannerTest, PlacementsFollowTheRequestOrder) {
  std::vector<PlanInstance> instances;
  for (int i = 0; i < 50; ++i) instances.push_back(Vm("vm-" + std::to_string(49 - i), 1 + i % 4));
  auto plan = PlanEvacuation(
      Request(RecoveryMethod::kAuto, instances, {Host("h1"), WithFree(Host("h2"), 4, 8192, 80)}));
  ASSERT_EQ(plan.placements.size(), instances.size());
  for (size_t i = 0; i < instances.size(); ++i) {
    EXPECT_EQ(plan.placements[i].instance_uuid, instances[i].uuid);
  }
}

TEST(PlannerTest, InstanceOrderDecidesWhoGetsScarceCapacity) {
  auto plan = PlanEvacuation(Request(RecoveryMethod::kAuto, {Vm("first", 2), Vm("second", 2)},
                                     {WithFree(Host("h1"), 2, 65536, 1000)}));
  EXPECT_EQ(Destinations(plan), (Names{"h1", "-"}));
}

void ExpectSamePlan(const EvacuationPlan& a, const EvacuationPlan& b) {
  ASSERT_EQ(a.placements.size(), b.placements.size());
  for (size_t i = 0; i < a.placements.size(); ++i) {
    EXPECT_EQ(a.placements[i].instance_uuid, b.placements[i].instance_uuid) << i;
    EXPECT_EQ(a.placements[i].destination, b.placements[i].destination) << i;
    EXPECT_EQ(a.placements[i].reason, b.placements[i].reason) << i;
    EXPECT_EQ(a.placements[i].to_reserved, b.placements[i].to_reserved) << i;
  }
  EXPECT_EQ(a.reserved_hosts_used, b.reserved_hosts_used);
  EXPECT_EQ(a.unplaced, b.unplaced);
}

// ---- Randomised properties --------------------------------------------------------------

PlanRequest RandomRequest(std::mt19937_64& rng, RecoveryMethod method) {
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  PlanRequest request;
  request.method = method;
  request.segment_uuid = kSegment;
  request.stay_in_segment = uniform(0, 1) == 0;
  const int64_t host_count = uniform(0, 40);
  for (int64_t i = 0; i < host_count; ++i) {
    HostCapacity host;
    host.name = "host-" + std::to_string(uniform(0, 999)) + "-" + std::to_string(i);
    host.segment_uuid = uniform(0, 3) == 0 ? kOtherSegment : kSegment;
    host.reserved = uniform(0, 3) == 0;
    host.usable = uniform(0, 7) != 0;
    // Coarse values so that ties in score happen often.
    host.free_vcpus = 2 * uniform(-1, 16);
    host.free_ram_mb = 4096 * uniform(-1, 16);
    host.free_disk_gb = 50 * uniform(0, 10);
    host.priority = static_cast<int>(uniform(0, 3));
    request.hosts.push_back(host);
  }
  const int64_t instance_count = uniform(0, 120);
  for (int64_t i = 0; i < instance_count; ++i) {
    const int64_t size = int64_t{1} << uniform(0, 3);
    request.instances.push_back(Vm("vm-" + std::to_string(i), size * uniform(1, 2),
                                   4096 * size * uniform(0, 2), 25 * size * uniform(0, 2)));
  }
  return request;
}

bool IsCandidate(const PlanRequest& request, const HostCapacity& host) {
  if (!host.usable) return false;
  if (host.segment_uuid == request.segment_uuid) return true;
  return !host.reserved && !request.stay_in_segment;
}

bool AllowedOnReserved(RecoveryMethod method) { return method != RecoveryMethod::kAuto; }
bool AllowedOnNonReserved(RecoveryMethod method) { return method != RecoveryMethod::kReservedHost; }

TEST(PlannerPropertyTest, NeverOvercommitsAndKeepsThePoolRules) {
  std::mt19937_64 rng(20240607);
  for (int round = 0; round < 400; ++round) {
    const RecoveryMethod method = kAllMethods[round % 4];
    const PlanRequest request = RandomRequest(rng, method);
    const EvacuationPlan plan = PlanEvacuation(request);
    SCOPED_TRACE("round " + std::to_string(round) + " " + std::string(ToString(method)));

    std::map<std::string, const HostCapacity*> hosts;
    for (const HostCapacity& h : request.hosts) hosts[h.name] = &h;
    std::map<std::string, Flavor> used;
    std::set<std::string> reserved_seen;
    int64_t unplaced = 0;
    ASSERT_EQ(plan.placements.size(), request.instances.size());
    for (size_t i = 0; i < plan.placements.size(); ++i) {
      const Placement& p = plan.placements[i];
      EXPECT_EQ(p.instance_uuid, request.instances[i].uuid);
      if (!p.destination) {
        ++unplaced;
        EXPECT_FALSE(p.reason.empty());
        continue;
      }
      EXPECT_TRUE(p.reason.empty());
      ASSERT_TRUE(hosts.contains(*p.destination));
      const HostCapacity& host = *hosts.at(*p.destination);
      EXPECT_TRUE(IsCandidate(request, host)) << host.name;
      EXPECT_EQ(p.to_reserved, host.reserved);
      EXPECT_TRUE(host.reserved ? AllowedOnReserved(method) : AllowedOnNonReserved(method));
      if (host.reserved) reserved_seen.insert(host.name);
      Flavor& sum = used[host.name];
      sum.vcpus += request.instances[i].flavor.vcpus;
      sum.ram_mb += request.instances[i].flavor.ram_mb;
      sum.disk_gb += request.instances[i].flavor.disk_gb;
    }
    for (const auto& [name, sum] : used) {
      const HostCapacity& host = *hosts.at(name);
      EXPECT_LE(sum.vcpus, host.free_vcpus) << name;
      EXPECT_LE(sum.ram_mb, host.free_ram_mb) << name;
      EXPECT_LE(sum.disk_gb, host.free_disk_gb) << name;
    }
    EXPECT_EQ(plan.unplaced, unplaced);
    EXPECT_EQ(
        std::set<std::string>(plan.reserved_hosts_used.begin(), plan.reserved_hosts_used.end()),
        reserved_seen);
    EXPECT_EQ(plan.reserved_hosts_used.size(), reserved_seen.size());
  }
}

// The rules of planner.h applied by brute force: every instance scans every host. The planner
// must produce exactly this plan; in particular an instance is unplaced only when no host of
// its pools could take it at that point.
EvacuationPlan PlanByExhaustiveScan(const PlanRequest& request) {
  struct State {
    HostCapacity host;
    size_t position;
  };
  std::vector<State> hosts;  // every host some pool of the method may use
  for (size_t i = 0; i < request.hosts.size(); ++i) {
    const HostCapacity& h = request.hosts[i];
    if (IsCandidate(request, h) &&
        (h.reserved ? AllowedOnReserved(request.method) : AllowedOnNonReserved(request.method))) {
      hosts.push_back({h, i});
    }
  }
  int64_t max_vcpus = 1, max_ram = 1;
  for (const State& s : hosts) {
    max_vcpus = std::max(max_vcpus, s.host.free_vcpus);
    max_ram = std::max(max_ram, s.host.free_ram_mb);
  }
  auto score = [&](const HostCapacity& h) {
    return std::min(double(std::max<int64_t>(h.free_vcpus, 0)) / double(max_vcpus),
                    double(std::max<int64_t>(h.free_ram_mb, 0)) / double(max_ram));
  };
  struct Tier {
    bool reserved;
    bool by_priority;
  };
  std::vector<Tier> tiers;
  switch (request.method) {
    case RecoveryMethod::kAuto:
      tiers = {{false, false}};
      break;
    case RecoveryMethod::kReservedHost:
      tiers = {{true, false}};
      break;
    case RecoveryMethod::kAutoPriority:
      tiers = {{false, true}, {true, false}};
      break;
    case RecoveryMethod::kRhPriority:
      tiers = {{true, false}, {false, true}};
      break;
  }
  EvacuationPlan plan;
  for (const PlanInstance& instance : request.instances) {
    Placement& p = plan.placements.emplace_back();
    p.instance_uuid = instance.uuid;
    const Flavor& f = instance.flavor;
    State* best = nullptr;
    for (const Tier& tier : tiers) {
      for (State& s : hosts) {
        const HostCapacity& h = s.host;
        if (h.reserved != tier.reserved) continue;
        if (f.vcpus > h.free_vcpus || f.ram_mb > h.free_ram_mb || f.disk_gb > h.free_disk_gb) {
          continue;
        }
        if (best == nullptr) {
          best = &s;
          continue;
        }
        const HostCapacity& b = best->host;
        if (tier.by_priority && h.priority != b.priority) {
          if (h.priority > b.priority) best = &s;
          continue;
        }
        if (score(h) != score(b)) {
          if (score(h) > score(b)) best = &s;
          continue;
        }
        if (h.name != b.name ? h.name < b.name : s.position < best->position) best = &s;
      }
      if (best != nullptr) break;
    }
    if (best == nullptr) {
      ++plan.unplaced;
      continue;
    }
    best->host.free_vcpus -= f.vcpus;
    best->host.free_ram_mb -= f.ram_mb;
    best->host.free_disk_gb -= f.disk_gb;
    p.destination = best->host.name;
    p.to_reserved = best->host.reserved;
    if (p.to_reserved && std::find(plan.reserved_hosts_used.begin(), plan.reserved_hosts_used.end(),
                                   best->host.name) == plan.reserved_hosts_used.end()) {
      plan.reserved_hosts_used.push_back(best->host.name);
    }
  }
  return plan;
}

TEST(PlannerPropertyTest, MatchesAnExhaustiveScan) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 400; ++round) {
    const RecoveryMethod method = kAllMethods[round % 4];
    const PlanRequest request = RandomRequest(rng, method);
    SCOPED_TRACE("round " + std::to_string(round) + " " + std::string(ToString(method)));
    const EvacuationPlan plan = PlanEvacuation(request);
    const EvacuationPlan expected = PlanByExhaustiveScan(request);
    ASSERT_EQ(plan.placements.size(), expected.placements.size());
    for (size_t i = 0; i < plan.placements.size(); ++i) {
      ASSERT_EQ(plan.placements[i].destination, expected.placements[i].destination) << i;
      EXPECT_EQ(plan.placements[i].to_reserved, expected.placements[i].to_reserved) << i;
    }
    EXPECT_EQ(plan.reserved_hosts_used, expected.reserved_hosts_used);
    EXPECT_EQ(plan.unplaced, expected.unplaced);
  }
}

TEST(PlannerPropertyTest, SameInputGivesTheSamePlan) {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 100; ++round) {
    const PlanRequest request = RandomRequest(rng, kAllMethods[round % 4]);
    ExpectSamePlan(PlanEvacuation(request), PlanEvacuation(request));
  }
}

TEST(PlannerPropertyTest, HostOrderDoesNotMatter) {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 100; ++round) {
    const PlanRequest request = RandomRequest(rng, kAllMethods[round % 4]);
    PlanRequest shuffled = request;
    std::shuffle(shuffled.hosts.begin(), shuffled.hosts.end(), rng);
    ExpectSamePlan(PlanEvacuation(request), PlanEvacuation(shuffled));
  }
}

}  // namespace
}  // namespace warden::engine
