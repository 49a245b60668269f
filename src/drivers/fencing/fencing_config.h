// [fence_device:NAME] sections: the BMCs (or other fence devices) Warden powers hosts off
// through, each with the hosts it fences and its fencing level.
//
//   [fence_device:bmc-compute1]
//   driver = ipmi                      # ipmi | redfish
//   hosts = compute1                   # the compute hosts it fences (comma-separated)
//   address = 10.0.0.11                # ipmi: BMC address; port = 623, interface = lanplus
//   credentials = file:/etc/warden/bmc/compute1    # or env:PREFIX (PREFIX_USERNAME/_PASSWORD)
//   level = 1                          # lower levels are tried first
//
// Validation names the section and key; credentials are read here (so an unreadable file stops
// start-up and --check-config) and never shown.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/config_keys.h"
#include "core/error.h"
#include "drivers/fencing/ipmi_fencer.h"
#include "drivers/fencing/redfish_fencer.h"

namespace warden::drivers {

// The keys a [fence_device:NAME] section may hold.
const std::vector<std::string>& FenceDeviceKeys();

// The [fence_device:NAME] sections, in file order, as the configuration holds them.
struct FencingConfig {
  config::NamedSections devices;
};
const config::Family<FencingConfig>& FenceDeviceSections();

struct FenceDeviceSettings {
  std::string name;
  std::string driver;  // ipmi | redfish
  int level = 1;
  int64_t confirm_timeout_micros = 20'000'000;
  // What the device's power off may take with its retries (derived from timeout, retries).
  int64_t power_off_timeout_micros = 0;
  IpmiOptions ipmi;        // driver = ipmi
  RedfishOptions redfish;  // driver = redfish
};

// Checks and reads the sections (name → key → value, in file order). `getenv` resolves
// env:PREFIX credentials.
Result<std::vector<FenceDeviceSettings>> MakeFenceDeviceSettings(
    const std::vector<std::pair<std::string, std::map<std::string, std::string>>>& sections,
    const std::function<const char*(const char*)>& getenv);

// The longest a host's fence can take through all its levels (each level: its commands with
// their retries, then its confirm timeout), by host; for the warning when [host_failure]
// fence_timeout is shorter.
std::map<std::string, int64_t> WorstFenceMicrosByHost(
    const std::vector<FenceDeviceSettings>& devices);

}  // namespace warden::drivers
