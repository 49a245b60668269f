// Fencer for a host's BMC over IPMI, through Debian's `ipmitool` (`chassis power off`,
// `chassis power status`), as ClusterLabs' fence_ipmilan does.
//
// The password reaches ipmitool in its environment (IPMI_PASSWORD with `-E`), never on the
// command line that `ps` shows; ipmitool gets only PATH, LC_ALL and that variable. Each
// ipmitool run has a deadline (`command_timeout`); a failed run is repeated `retries` times
// with a growing delay while the failure is transient (a BMC that does not answer, a session
// that cannot be opened). ipmitool runs on a WorkerPool, never on the engine's loop; answers
// are posted back to the loop.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "core/subprocess.h"
#include "drivers/fencer.h"
#include "drivers/fencing/bmc_retry.h"
#include "drivers/fencing/credentials.h"

namespace warden::drivers {

struct IpmiOptions {
  std::string name;                // the device's name, in messages
  std::vector<std::string> hosts;  // compute hosts this BMC powers (normally one)
  std::string address;             // BMC address (-H)
  int port = 623;                  // -p
  std::string interface = "lanplus";  // -I: lanplus (IPMI 2.0) or lan (IPMI 1.5)
  std::string cipher_suite;        // -C; empty: ipmitool's choice
  std::string privilege_level;     // -L (OPERATOR, ADMINISTRATOR); empty: ipmitool's default
  BmcCredentials credentials;
  std::string ipmitool = "ipmitool";  // program name (looked up in PATH) or path
  int64_t command_timeout_micros = 10'000'000;
  RetryPolicy retry = internal::kBmcRetry;
};

enum class IpmiCommand { kPowerOff, kPowerStatus };

// The argv of one ipmitool run: never holds the password.
std::vector<std::string> IpmitoolArgv(const IpmiOptions& options, IpmiCommand command);
// The environment of one ipmitool run: PATH, LC_ALL=C and IPMI_PASSWORD.
std::vector<std::string> IpmitoolEnv(const IpmiOptions& options);

// "Chassis Power is off" → kOff, "... on" → kOn; anything else is an Internal error.
Result<PowerState> ParseIpmiPowerStatus(std::string_view output);
// What an ipmitool run means: success for exit status 0 and, for power status, the parsed
// state; otherwise an error carrying ipmitool's last line (Unavailable: the BMC did not answer
// or refused the session; these are retried), prefixed with `what`.
Result<void> InterpretIpmiRun(const Result<ProcessResult>& run, const std::string& what);

// `pool` runs ipmitool (shared by all IPMI fencers; it must outlive them).
// REQUIRES: loop outlives the fencer.
std::unique_ptr<Fencer> MakeIpmiFencer(EventLoop& loop, IpmiOptions options,
                                       std::shared_ptr<WorkerPool> pool);

}  // namespace warden::drivers
