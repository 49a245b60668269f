// The N+1 check: for each host of a segment, whether the other candidates could take what a
// failure of that host would evacuate, planned exactly as a recovery would plan it.
//
// CheckHeadroom is a pure function of its input, like the planner it runs once per host of
// the segment: O(S · (N log H + H log H)) for S segment hosts of N instances each over H
// candidates.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/domain.h"
#include "drivers/compute.h"
#include "engine/engine_options.h"
#include "engine/planner.h"
#include "ha/recovery_control.h"

namespace warden::engine {

// The candidates a recovery plans over: one per host of `hosts` that the cloud sized (with
// `resources` null, every host at an equal ample size, so that moves are spread and the
// cloud's scheduler checks each), less the capacity `promised` to moves under way. A candidate
// is `usable` when its compute service is up, not forced down and enabled (or the host is
// reserved), the host is not on maintenance and no recovery of it is under way. `why`, when
// given, gets the reason for each host that is not usable. Sorted by name.
std::vector<HostCapacity> Candidates(const std::vector<Host>& hosts,
                                     const std::vector<drivers::HostResources>* resources,
                                     const std::vector<drivers::ComputeService>& services,
                                     const std::map<std::string, drivers::Flavor>& promised,
                                     const std::function<bool(const std::string&)>& under_recovery,
                                     std::map<std::string, std::string>* why = nullptr);

// "priority=N" among a host's control_attributes (space, comma or semicolon separated); 0 when
// absent or not a number.
int HostPriority(const Host& h);

struct HeadroomInput {
  Segment segment;
  std::vector<Host> segment_hosts;
  // Every candidate destination (the segment's hosts, and with stay_in_segment off the other
  // segments' hosts too), with `usable` as it is now. Hosts the cloud did not size are absent.
  std::vector<HostCapacity> candidates;
  // Why a candidate is not usable, by host name (for the answer's `note`).
  std::map<std::string, std::string> unusable_because;
  // The cloud's size and use of each host, by name; empty when the cloud could not say.
  std::map<std::string, drivers::HostResources> resources;
  std::string capacity_error;  // why the cloud could not size its hosts; empty when it could
  WallMicros now = 0;
  // The instances on each segment host, by host name; an error when they could not be listed.
  std::map<std::string, Result<std::vector<drivers::Instance>>> instances;
};

ha::SegmentHeadroom CheckHeadroom(const HeadroomInput& in, const EngineOptions& options);

}  // namespace warden::engine
