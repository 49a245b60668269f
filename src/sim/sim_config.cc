// The simulated cloud's configuration keys and its options (see sim_config.h).
#include "sim/sim_config.h"

#include <tuple>

namespace warden::sim {

const std::vector<config::Key<SimConfig>>& SimConfigKeys() {
  using C = SimConfig;
  using config::Double;
  using config::Int;
  using config::String;
  static const std::vector<config::Key<C>> keys = {
      Int("sim", "hosts", &C::hosts, 1, 100000),
      Int("sim", "reserved_hosts", &C::reserved_hosts, 0, 100000),
      Int("sim", "instances", &C::instances, 0, 10000000),
      Int("sim", "host_vcpus", &C::host_vcpus, 1, 100000),
      Int("sim", "host_ram_mb", &C::host_ram_mb, 1, 1LL << 40),
      Int("sim", "host_disk_gb", &C::host_disk_gb, 1, 1LL << 40),
      String("sim", "host_prefix", &C::host_prefix),
      String("sim", "api_latency", &C::api_latency),
      String("sim", "evacuate_latency", &C::evacuate_latency),
      String("sim", "power_latency", &C::power_latency),
      String("sim", "bmc_latency", &C::bmc_latency),
      Double("sim", "api_error_rate", &C::api_error_rate, 0, 1),
      Double("sim", "api_timeout_rate", &C::api_timeout_rate, 0, 1),
      Int("sim", "seed", &C::seed, 0, INT64_MAX),
  };
  return keys;
}

Result<SimOptions> MakeSimOptions(const SimConfig& c) {
  SimOptions o;
  for (auto [spec, key, out] :
       std::vector<std::tuple<const std::string*, const char*, Latency*>>{
           {&c.api_latency, "api_latency", &o.api_latency},
           {&c.evacuate_latency, "evacuate_latency", &o.evacuate_latency},
           {&c.power_latency, "power_latency", &o.power_latency},
           {&c.bmc_latency, "bmc_latency", &o.bmc_latency}}) {
    auto l = Latency::Parse(*spec);
    if (!l) return InvalidArgument(std::string("[sim] ") + key + ": " + l.error().message());
    *out = *l;
  }
  o.api_error_rate = c.api_error_rate;
  o.api_timeout_rate = c.api_timeout_rate;
  o.seed = uint64_t(c.seed);
  if (c.reserved_hosts >= c.hosts) {
    return InvalidArgument("[sim] reserved_hosts: must be below [sim] hosts");
  }
  return o;
}

}  // namespace warden::sim
