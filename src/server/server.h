// The composition root of `warden server`: reads the configuration, builds the store, the
// service, authentication and the API, serves until SIGINT/SIGTERM, then shuts down cleanly.
// The only place that names concrete implementations.
#pragma once

#include <string>

namespace warden::server {

struct ServerFlags {
  std::string config_path;
  bool check_config = false;
  std::string port_file;  // if set, the bound port is written there once listening
};

// Returns the process exit code: 0 on a clean stop, 2 for a configuration error, 1 otherwise.
int RunServer(const ServerFlags& flags);

}  // namespace warden::server
