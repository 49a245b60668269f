// The evacuation planner: which host each instance of a failed host should be rebuilt on.
//
// PlanEvacuation is a pure function of its request: no I/O, no clock, no randomness, no
// global state. The same request always gives the same plan, whatever the order of
// `request.hosts`. It is safe to call from any thread; it owns nothing past the call.
//
// Candidates. A host is a candidate destination when it is `usable` and either belongs to
// the failed host's segment or, with `stay_in_segment == false`, is a non-reserved host of
// another segment. Reserved hosts of other segments are never candidates. In-segment and
// out-of-segment candidates are equals: the planner does not prefer the failed host's segment.
// The engine marks the failed host itself `usable = false`.
//
// Pools, by recovery method, tried in this order for every instance:
//   kAuto          non-reserved hosts; `priority` is ignored.
//   kReservedHost  reserved hosts of the segment.
//   kAutoPriority  non-reserved hosts by priority, then reserved hosts of the segment.
//   kRhPriority    reserved hosts of the segment, then non-reserved hosts by priority.
// "By priority" means the highest `priority` value that still has a host with room wins;
// among hosts of equal priority the planner spreads. Reserved hosts are always spread and
// their `priority` is ignored.
//
// Spread. Within a pool (and priority tier) an instance goes to the fitting host with the
// highest score, where
//   score = min(free_vcpus / max_free_vcpus, free_ram_mb / max_free_ram_mb)
// with free values taken after the placements made so far, and the two maxima taken over the
// hosts of the method's pools as the request gave them (so the normalisation is fixed for the
// whole plan; a host the method cannot use does not shift it).
// The score is the share of the largest host that is still free in the scarcer of the two
// dimensions: a host with plenty of RAM but few free vCPUs is not "empty". Disk is checked
// for fit but not scored, as it is often shared storage whose free figure says little.
// Ties are broken by host name (then by position in `request.hosts`), so the plan is
// deterministic.
//
// Fit. An instance fits a host when its flavor's vCPU, RAM and disk are each no more than
// the host's remaining free amount. Every placement deducts the whole flavor from the host,
// so the planner never overcommits. An instance that fits no host of any of its pools gets
// no destination and a reason; later, smaller instances may still be placed.
//
// Deliberate difference from Masakari: for reserved_host (and the reserved part of
// rh_priority) Masakari sends every instance to one reserved host, without looking at its
// capacity, and tries the next reserved host only after evacuations to that one failed.
// Warden spreads across the segment's reserved hosts and checks capacity first. Like Masakari, a
// reserved host that receives an instance stops being reserved; the planner lists those in
// `reserved_hosts_used` and the engine records it.
//
// Cost: O(H log H + N log H) for N instances over H hosts in the usual case (a tournament
// tree keyed by preference, pruned by per-dimension maxima). An instance that fits nowhere
// costs O(1) once a need no larger in any dimension has been found to fit nowhere, else a
// search that is O(log H) when one dimension is short on every host and O(H) at worst (hosts
// that each have room in some dimensions but none in all).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/domain.h"

namespace warden::engine {

// What an instance needs on its destination. REQUIRES: non-negative (negative fields are
// treated as 0).
struct Flavor {
  int64_t vcpus = 0;
  int64_t ram_mb = 0;
  int64_t disk_gb = 0;
};

// One candidate destination, as the engine saw it just before planning.
// REQUIRES: names are unique within a request.
struct HostCapacity {
  std::string name;
  std::string segment_uuid;
  bool reserved = false;
  // false: on maintenance, failed, service down/disabled/forced_down; never a destination.
  bool usable = true;
  // What is left on the host now. A negative amount (already overcommitted) fits nothing.
  int64_t free_vcpus = 0;
  int64_t free_ram_mb = 0;
  int64_t free_disk_gb = 0;
  // Higher is preferred (from a host attribute); used by auto_priority and rh_priority.
  int priority = 0;
};

struct PlanInstance {
  std::string uuid;
  Flavor flavor;
  // Informational: the planner neither reorders nor filters on it. The engine puts
  // HA-enabled instances first, so they get first pick of the capacity.
  bool ha_enabled = false;
};

struct PlanRequest {
  RecoveryMethod method = RecoveryMethod::kAuto;
  std::string segment_uuid;  // the failed host's segment
  // false: non-reserved hosts of other segments are candidates too.
  bool stay_in_segment = true;
  // In recovery order (HA-enabled first); instances are planned one by one in this order.
  std::vector<PlanInstance> instances;
  std::vector<HostCapacity> hosts;
};

struct Placement {
  std::string instance_uuid;
  std::optional<std::string> destination;  // nullopt: no capacity
  // Empty when placed. Otherwise why, naming the need and the exhausted pools, e.g.
  // "no capacity: needs 4 vCPU, 8192 MB RAM, 40 GB disk; no usable reserved host in segment
  // has it".
  std::string reason;
  bool to_reserved = false;  // the destination is a reserved host
};

struct EvacuationPlan {
  // One per instance, in the order of `PlanRequest::instances`.
  std::vector<Placement> placements;
  // Reserved hosts that received at least one instance, each once, in the order they first
  // received one. They stop being reserved, as in Masakari; the engine reports it.
  std::vector<std::string> reserved_hosts_used;
  int64_t unplaced = 0;  // placements without a destination
};

EvacuationPlan PlanEvacuation(const PlanRequest& request);

}  // namespace warden::engine
