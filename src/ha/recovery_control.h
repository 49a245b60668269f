// What the API may ask of the recovery engine: retry or cancel one notification, return a
// fenced host to service, check a segment's headroom.
//
// Implemented by the engine; the API holds it by this interface so that it does not depend on
// the engine's internals. Calls are thread-safe and return at once; `done` runs later on the
// engine's thread with the notification as it now is, or an error (NotFound, or
// FailedPrecondition naming the status that does not allow the action).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/domain.h"
#include "core/error.h"

namespace warden::ha {

// One host of a segment's N+1 check: could the other candidates take, right now, what a
// failure of this host would evacuate?
struct HostHeadroom {
  std::string uuid;
  std::string name;
  bool reserved = false;
  // A destination now: compute service up and enabled (or reserved), not forced down, not on
  // maintenance, no recovery of it under way. Otherwise `note` says why.
  bool usable = false;
  std::string note;
  bool checked = false;      // false: its instances could not be listed (`shortfall` says why)
  int64_t instances = 0;     // what a failure would evacuate, as the engine's options choose
  int64_t ha_instances = 0;  // ... of which HA-enabled
  int64_t placed = 0;        // of `instances`, how many the planner found a destination for
  int64_t ha_placed = 0;
  std::string shortfall;  // the planner's reason for the first instance left without one
  // The host's own size and use, as the cloud reports it (0 when unknown).
  int64_t total_vcpus = 0, used_vcpus = 0, total_ram_mb = 0, used_ram_mb = 0;

  bool Ok() const { return checked && placed == instances; }
};

// A segment's N+1 check (Warden extension): the evacuation planner run, for each host of the
// segment in turn, over the live capacity snapshot, under the segment's recovery method.
struct SegmentHeadroom {
  Segment segment;
  WallMicros checked_at = 0;
  bool capacity_known = true;  // false: the cloud could not size its hosts; nothing was planned
  std::string capacity_error;
  std::vector<HostHeadroom> hosts;  // by name
  // Over the segment's usable hosts: what is free now, for the 20-30 % headroom the operators'
  // guide asks for.
  int64_t total_vcpus = 0, free_vcpus = 0, total_ram_mb = 0, free_ram_mb = 0;
};

class RecoveryControl {
 public:
  virtual ~RecoveryControl() = default;
  // error or failed → new, run again from the start (moves that succeeded are kept).
  virtual void Retry(const std::string& uuid, const std::string& who,
                     std::function<void(Result<Notification>)> done) = 0;
  // new, running or error → failed; running work stops, its unfinished moves fail.
  virtual void Cancel(const std::string& uuid, const std::string& who,
                      std::function<void(Result<Notification>)> done) = 0;
  // Returns a host that was fenced to service in one step: its compute service no longer
  // forced down and enabled again, and its on_maintenance cleared. It does not power the host
  // on (that is the operator's, through the BMC), and nothing unfences a host by itself.
  // `done` gets the host as it now is; FailedPrecondition while a recovery of the host is
  // under way, NotFound for an unknown host, or the compute driver's error (on_maintenance is
  // then left as it was).
  virtual void Unfence(const std::string& host_uuid, const std::string& who,
                       std::function<void(Result<Host>)> done) = 0;
  // The N+1 check of a segment. Reads only: nothing in the cloud or the store changes. `done`
  // gets NotFound for an unknown segment, Unavailable when the cloud's compute services cannot
  // be listed; a cloud that cannot size its hosts gives capacity_known = false instead.
  virtual void CheckHeadroom(const std::string& segment_uuid,
                             std::function<void(Result<SegmentHeadroom>)> done) = 0;
};

}  // namespace warden::ha
