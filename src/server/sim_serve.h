// `warden sim serve`: the simulated cloud as its own process, speaking Keystone, Nova and
// Placement over HTTP (sim/sim_openstack.h), for benchmarks and end-to-end tests of the
// `nova` driver. Reads [sim] of a warden.conf.
#pragma once

#include <cstdint>
#include <string>

namespace warden::server {

struct SimServeFlags {
  std::string config_path;
  std::string address = "127.0.0.1";
  uint16_t port = 0;      // 0: any free port
  std::string port_file;  // if set, the bound port is written there once listening
};

// Returns the process exit code: 0 on a clean stop (SIGTERM, SIGINT), 2 for a configuration
// error, 1 otherwise.
int RunSimServe(const SimServeFlags& flags);

}  // namespace warden::server
