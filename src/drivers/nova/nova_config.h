// The Nova driver's part of warden.conf: [nova], Keystone credentials and limits of
// `[compute] driver = nova`. Masakari's [DEFAULT] os_privileged_user_* / nova_* keys fill in
// what is not set here (server/config.cc reads them as these keys).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_keys.h"
#include "core/error.h"
#include "drivers/nova/nova_compute.h"
#include "openstack/keystone.h"

namespace warden::drivers {

struct NovaConfig {
  std::string auth_url;
  std::string auth_type = "password";  // password | v3applicationcredential
  std::string username;
  std::string password;       // secret; or password_file
  std::string password_file;  // first line is the password
  std::string user_domain_name = "Default";
  std::string project_name;
  std::string project_domain_name = "Default";
  std::string application_credential_id;
  std::string application_credential_secret;  // secret
  std::string region_name;
  std::string interface = "public";  // public | internal | admin
  std::string compute_url;           // endpoint override; empty: from the catalog
  std::string placement_url;
  std::string ca_file;
  bool insecure = false;
  int64_t max_concurrent_calls = 64;
  double max_calls_per_second = 0;
  int64_t call_timeout = 20;  // seconds per HTTP exchange; below [host_failure] api_call_timeout
};

const std::vector<config::Key<NovaConfig>>& NovaConfigKeys();

// The driver's Keystone credentials and options; errors name the key. Reads password_file.
// `api_call_timeout`: the engine's bound on one call ([host_failure] api_call_timeout, s).
struct NovaSettings {
  openstack::KeystoneAuth keystone;
  NovaOptions nova;
};
Result<NovaSettings> MakeNovaSettings(const NovaConfig& config, int64_t api_call_timeout);

}  // namespace warden::drivers
