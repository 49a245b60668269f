// Fencing levels (Pacemaker's fencing topology): every host has an ordered list of fence
// devices — say its BMC over IPMI at level 1, a switched PDU or the BMC's Redfish at level 2 —
// tried in turn. A fence succeeds only when some level confirms the host powered off.
//
// FenceLevels is itself a Fencer, so the engine sees one fencer and keeps its protocol:
// PowerOff, then GetPowerState polled until Off or [host_failure] fence_timeout.
//
// How the protocol maps onto levels. PowerOff(host) starts a fence run for the host, which goes
// on by itself on the loop (it does not depend on the engine's polls):
//   level i: the device's PowerOff (with the device's own retries); accepted → poll the
//   device's GetPowerState every poll interval until Off, or until the device's
//   confirm_timeout passes; refused, not answered within power_off_timeout, or not
//   confirmed in time → level i+1 (a late answer of an abandoned level is ignored).
// PowerOff answers success as soon as some level has accepted the power-off (the run then
// continues: confirming, or falling through to the next levels), or an error naming every
// level's failure when all of them refused. While a run is under way GetPowerState answers the
// last state the run saw (never Off before a level confirmed it); once a level confirmed, it
// asks that level; once all levels failed, it answers FailedPrecondition with every level's
// reason, so that the engine ends the notification at once with them. A PowerOff while a run
// for the host is under way joins it instead of starting another. A GetPowerState for a host
// with no run asks the levels in order and answers with the first that can tell.
//
// Not thread-safe: use on the engine's loop, like the devices. Callbacks run later on the
// loop, never inside the call.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "drivers/fencer.h"

namespace warden::drivers {

struct FenceDevice {
  std::string name;  // for messages: "ipmi bmc-compute1"
  int level = 1;     // lower levels are tried first; equal levels in the order given
  int64_t power_off_timeout_micros = 60'000'000;  // the device's PowerOff must answer by then
  int64_t confirm_timeout_micros = 20'000'000;    // power off accepted → confirmed off
  std::unique_ptr<Fencer> fencer;
};

struct FenceLevelsOptions {
  int64_t poll_interval_micros = 1'000'000;  // power state reads while confirming
  // Receives log lines: level ("info", "warning", "error"), message, fields.
  std::function<void(std::string_view, std::string_view,
                     const std::vector<std::pair<std::string, std::string>>&)>
      log;
};

// REQUIRES: loop outlives the fencer.
std::unique_ptr<Fencer> MakeFenceLevels(EventLoop& loop, std::vector<FenceDevice> devices,
                                        FenceLevelsOptions options);

}  // namespace warden::drivers
