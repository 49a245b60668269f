// The simulated cloud's configuration keys and its options (see sim_config.h).
#include "sim/sim_config.h"

#include <cstdio>
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
      Int("sim", "fail_evacuations", &C::fail_evacuations, 0, 1000000),
      Double("sim", "rate_limit", &C::rate_limit, 0, 1e9),
      Int("sim", "retry_after", &C::retry_after, 0, 3600),
      config::Bool("sim", "placement", &C::placement),
      config::Secret("sim", "password", &C::password),
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

void PopulateSim(const SimConfig& config, SimCloud& sim) {
  const int64_t n = config.hosts;
  const int64_t working = std::max<int64_t>(1, n - config.reserved_hosts);
  for (int64_t h = 1; h <= n; ++h) {
    sim.AddHost(config.host_prefix + std::to_string(h),
                {config.host_vcpus, config.host_ram_mb, config.host_disk_gb});
  }
  static const int64_t kSizes[] = {1, 2, 4, 2, 1, 2};
  for (int64_t i = 0; i < config.instances; ++i) {
    const std::string host = config.host_prefix + std::to_string(1 + i % working);
    const int64_t vcpus = kSizes[i % 6];
    char name[32];
    std::snprintf(name, sizeof name, "vm-%03lld", static_cast<long long>(i + 1));
    char uuid[64];
    std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012lld",
                  static_cast<long long>(i + 1));
    sim.AddInstance(uuid, name, host, {vcpus, vcpus * 2048, vcpus * 20}, i % 3 != 2);
  }
  if (config.fail_evacuations > 0) sim.FailNextEvacuations(config.fail_evacuations);
}

}  // namespace warden::sim
