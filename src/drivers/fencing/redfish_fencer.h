// Fencer for a host's BMC over Redfish (DMTF DSP0266), as ClusterLabs' fence_redfish does:
// find the ComputerSystem (the configured path, or the first member of /redfish/v1/Systems),
// POST its ComputerSystem.Reset action with {"ResetType": "ForceOff"}, and read PowerState.
//
// A system already Off is not reset again; a refused reset whose system then reads Off (some
// BMCs answer 400/409 to ForceOff on a powered-off system) counts as done. HTTP basic auth
// with the device's credentials; TLS verification with the system's CAs, a CA bundle, or off
// (`insecure`). Each request has a deadline; transient failures (connection errors, timeouts,
// 5xx) are repeated `retries` times with a growing delay. Requests run on an HttpPool, never
// on the engine's loop; answers are posted back to the loop.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "drivers/fencer.h"
#include "drivers/fencing/bmc_retry.h"
#include "drivers/fencing/credentials.h"
#include "net/http_client.h"

namespace warden::drivers {

struct RedfishOptions {
  std::string name;                // the device's name, in messages
  std::vector<std::string> hosts;  // compute hosts this system is (normally one)
  std::string url;                 // the BMC: https://bmc.example.org[:port]
  std::string system;              // e.g. /redfish/v1/Systems/1; empty: the first system
  BmcCredentials credentials;
  net::TlsOptions tls;
  int64_t command_timeout_micros = 10'000'000;
  RetryPolicy retry = internal::kBmcRetry;
};

// REQUIRES: loop outlives the fencer. The fencer has its own HTTP thread (keep-alive to the
// BMC); destruction waits for the request in flight.
std::unique_ptr<Fencer> MakeRedfishFencer(EventLoop& loop, RedfishOptions options);

// Checks the URL (http or https, a host); the message names the problem.
Result<void> ValidateRedfishUrl(const std::string& url);

}  // namespace warden::drivers
