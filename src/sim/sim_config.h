// The simulated cloud's part of warden.conf: [sim], the cloud `[compute] driver = sim` and
// `warden demo` run against (its hosts, instances, latencies and injected faults).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_keys.h"
#include "core/error.h"
#include "sim/sim_cloud.h"

namespace warden::sim {

struct SimConfig {
  int64_t hosts = 8;
  int64_t reserved_hosts = 1;
  int64_t instances = 60;
  int64_t host_vcpus = 32;
  int64_t host_ram_mb = 131072;
  int64_t host_disk_gb = 2000;
  std::string host_prefix = "compute";
  std::string api_latency = "fixed:20ms";
  std::string evacuate_latency = "uniform:3s:8s";
  std::string power_latency = "fixed:1s";
  std::string bmc_latency = "fixed:300ms";
  double api_error_rate = 0;
  double api_timeout_rate = 0;
  int64_t seed = 1;
  // The first N evacuations fail on their destination (a retry elsewhere then succeeds).
  int64_t fail_evacuations = 0;
  // `warden sim serve` only: the edge of the cloud (sim_openstack.h).
  double rate_limit = 0;
  int64_t retry_after = 1;
  bool placement = true;
  std::string password = "secret";
};

const std::vector<config::Key<SimConfig>>& SimConfigKeys();

// The simulated cloud's options; errors name the key.
Result<SimOptions> MakeSimOptions(const SimConfig& config);

// Builds the configured cloud: hosts <prefix>1..N, the last `reserved_hosts` of them empty;
// instances round robin over the others, with 1, 2 or 4 vCPU (2 GiB RAM and 20 GB disk per
// vCPU), two in three HA-enabled. Call on the cloud's loop.
void PopulateSim(const SimConfig& config, SimCloud& sim);

}  // namespace warden::sim
