// Fencing: turning "we suspect the host is dead" into "the host is off" through a path that
// does not depend on the host itself (its BMC, a PDU, a storage fence).
//
// Calls return at once; `done` runs exactly once, later, on the engine's EventLoop.
#pragma once

#include <memory>
#include <string>

#include "drivers/compute.h"

namespace warden::drivers {

enum class PowerState { kOn, kOff, kUnknown };
std::string_view ToString(PowerState s);

class Fencer {
 public:
  virtual ~Fencer() = default;

  // Whether this fencer has a way to fence `host` (a BMC configured for it).
  virtual bool Covers(const std::string& host) const = 0;
  // Asks for power off. Success means the request was accepted, not that the host is off:
  // confirm with GetPowerState.
  virtual void PowerOff(const std::string& host, Callback<void> done) = 0;
  virtual void GetPowerState(const std::string& host, Callback<PowerState> done) = 0;
};

// A fencer that covers no host: with it, every host is "unfenced" and [host_failure]
// unfenced_hosts decides.
std::unique_ptr<Fencer> MakeNoFencer();

}  // namespace warden::drivers
