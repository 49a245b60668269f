// What the API may ask of the recovery engine: retry or cancel one notification, return a
// fenced host to service.
//
// Implemented by the engine; the API holds it by this interface so that it does not depend on
// the engine's internals. Calls are thread-safe and return at once; `done` runs later on the
// engine's thread with the notification as it now is, or an error (NotFound, or
// FailedPrecondition naming the status that does not allow the action).
#pragma once

#include <functional>
#include <string>

#include "core/domain.h"
#include "core/error.h"

namespace warden::ha {

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
};

}  // namespace warden::ha
