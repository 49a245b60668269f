// Restarting a failed process on a compute host — through that host's `warden agent`.
//
// Calls return at once; `done` runs exactly once, later, on the engine's EventLoop.
#pragma once

#include <string>

#include "drivers/compute.h"

namespace warden::drivers {

class ProcessRestarter {
 public:
  virtual ~ProcessRestarter() = default;
  // Restarts `process` on `host`; succeeds (with a description) once the host confirms it
  // runs again. NotFound: the host's agent does not manage that process; Unavailable: the
  // agent could not be reached; Aborted/DeadlineExceeded: the restart failed or timed out.
  // `notification_uuid` goes into the agent's log.
  virtual void Restart(const std::string& host, const std::string& process,
                       const std::string& notification_uuid, Callback<std::string> done) = 0;
};

}  // namespace warden::drivers
