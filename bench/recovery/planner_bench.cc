// Evacuation planner benchmark.
//
// Plans a large evacuation with each recovery method on a synthetic cloud built from a fixed
// seed, repeats it after one untimed warm-up run, and prints the median and minimum wall time per
// method together with what was placed. Two cases:
//   fits       20,000 instances over 1,000 hosts; the non-reserved hosts have room for all.
//   exhausted  40,000 instances over the same hosts; capacity runs out part way, so the
//              no-capacity path (an instance that fits nowhere) is timed too.
// Exits 1 if a method's median in the "fits" case exceeds the 50 ms budget.
//
// Usage: planner_bench [repeats]   (default 7)

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/domain.h"
#include "engine/planner.h"

namespace warden::engine {
namespace {

constexpr int kHosts = 1000;
constexpr double kBudgetMs = 50.0;
constexpr char kSegment[] = "9b0a2b5e-0d2c-4c57-9a39-5d1f2b0c7e11";

// Hosts of 64 vCPU, 256 GiB RAM and 2 TB disk with 0-16 vCPU already in use (and RAM and
// disk to match, with noise); every 20th host is reserved, every 20th (offset by 7) is on
// maintenance, priorities 0-3.
std::vector<HostCapacity> MakeHosts(std::mt19937_64& rng) {
  std::vector<HostCapacity> hosts;
  hosts.reserve(kHosts);
  for (int i = 0; i < kHosts; ++i) {
    const int64_t used_vcpus = static_cast<int64_t>(rng() % 17);
    const int64_t used_ram_mb = used_vcpus * 2048 + static_cast<int64_t>(rng() % 8) * 1024;
    const int64_t used_disk_gb = used_vcpus * 20 + static_cast<int64_t>(rng() % 200);
    char name[32];
    std::snprintf(name, sizeof name, "compute-%04d", i);
    hosts.push_back({.name = name,
                     .segment_uuid = kSegment,
                     .reserved = i % 20 == 0,
                     .usable = i % 20 != 7,
                     .free_vcpus = 64 - used_vcpus,
                     .free_ram_mb = 262144 - used_ram_mb,
                     .free_disk_gb = 2000 - used_disk_gb,
                     .priority = static_cast<int>(rng() % 4)});
  }
  return hosts;
}

// m1.small/medium/large/xlarge in the proportions 50/30/15/5 %, about 70 % HA-enabled, in
// recovery order (HA-enabled first).
std::vector<PlanInstance> MakeInstances(std::mt19937_64& rng, int count) {
  std::vector<PlanInstance> instances;
  instances.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const uint64_t pick = rng() % 100;
    const int64_t vcpus = pick < 50 ? 1 : pick < 80 ? 2 : pick < 95 ? 4 : 8;
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
    instances.push_back({.uuid = uuid,
                         .flavor = {.vcpus = vcpus, .ram_mb = vcpus * 2048, .disk_gb = vcpus * 20},
                         .ha_enabled = rng() % 10 < 7});
  }
  std::stable_partition(instances.begin(), instances.end(),
                        [](const PlanInstance& instance) { return instance.ha_enabled; });
  return instances;
}

struct Timing {
  double median_ms = 0;
  double min_ms = 0;
  EvacuationPlan plan;
};

Timing Measure(const PlanRequest& request, int repeats) {
  std::vector<double> ms;
  Timing timing;
  timing.plan = PlanEvacuation(request);  // warm-up, untimed: caches and allocator
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    EvacuationPlan plan = PlanEvacuation(request);
    const auto end = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    timing.plan = std::move(plan);
  }
  std::sort(ms.begin(), ms.end());
  timing.median_ms = ms[ms.size() / 2];
  timing.min_ms = ms.front();
  return timing;
}

// Prints one line per method; returns how many methods went over budget.
int RunCase(const char* label, int instance_count, int repeats, bool gated) {
  std::mt19937_64 rng(20240607);
  PlanRequest request;
  request.segment_uuid = kSegment;
  request.hosts = MakeHosts(rng);
  request.instances = MakeInstances(rng, instance_count);

  std::printf("case %s: %d instances over %d hosts, %d repeats%s\n", label, instance_count, kHosts,
              repeats, gated ? "" : " (not gated)");
  std::printf("  %-14s %10s %10s %8s %8s %9s\n", "method", "median_ms", "min_ms", "placed",
              "no_cap", "rsv_used");
  int over_budget = 0;
  for (RecoveryMethod method : {RecoveryMethod::kAuto, RecoveryMethod::kReservedHost,
                                RecoveryMethod::kAutoPriority, RecoveryMethod::kRhPriority}) {
    request.method = method;
    const Timing t = Measure(request, repeats);
    const int64_t placed = static_cast<int64_t>(t.plan.placements.size()) - t.plan.unplaced;
    const bool over = gated && t.median_ms > kBudgetMs;
    over_budget += over ? 1 : 0;
    std::printf("  %-14s %10.2f %10.2f %8lld %8lld %9zu%s\n", std::string(ToString(method)).c_str(),
                t.median_ms, t.min_ms, static_cast<long long>(placed),
                static_cast<long long>(t.plan.unplaced), t.plan.reserved_hosts_used.size(),
                over ? "  OVER BUDGET" : "");
  }
  return over_budget;
}

}  // namespace
}  // namespace warden::engine

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  int over_budget = warden::engine::RunCase("fits", 20000, repeats, /*gated=*/true);
  warden::engine::RunCase("exhausted", 40000, repeats, /*gated=*/false);
  if (over_budget > 0) {
    std::printf("FAIL: %d method(s) over the %.0f ms median budget\n", over_budget,
                warden::engine::kBudgetMs);
    return 1;
  }
  std::printf("OK: every method's median within %.0f ms\n", warden::engine::kBudgetMs);
  return 0;
}
