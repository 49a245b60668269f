// Warden's configuration: an INI file like Masakari's, every key overridable from the
// environment as WARDEN_<SECTION>_<KEY> (WARDEN_API_LISTEN, WARDEN_DEFAULT_LOG_LEVEL ...).
//
// Each module declares its own keys next to the code that uses them (core/config_keys.h):
//   api/api_config.h                  [api], [keystone_authtoken], [DEFAULT] osapi_max_limit
//   store/store_config.h              [database]
//   engine/engine_config.h            the life cycle in [DEFAULT], [host_failure],
//                                     [instance_failure], the flows, [custom_task:NAME]
//   drivers/nova/nova_config.h        [nova]
//   drivers/agent/agent_client_config.h  [process_failure] agent_*
//   drivers/fencing/fencing_config.h  [fence_device:NAME]
//   detect/amqp_config.h              [amqp], [amqp_rule:NAME]
//   sim/sim_config.h                  [sim]
// This file composes them with the server's own keys ([DEFAULT] log_level and log_format,
// [compute] driver) and Masakari's key names that carry over or are ignored (config.cc).
//
// Loading is strict: an unknown section or key, a value of the wrong type or range, or a key
// set twice in a [prefix:NAME] section, is an error naming the key (and the file line or
// environment variable it came from), so that a typo stops start-up instead of silently
// meaning a default. Every module's settings are built and checked once, by ParseConfig, and
// kept in `derived`: start-up uses those very settings.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/api_config.h"
#include "core/error.h"
#include "detect/amqp_config.h"
#include "drivers/agent/agent_client_config.h"
#include "drivers/fencing/fencing_config.h"
#include "drivers/nova/nova_config.h"
#include "engine/engine_config.h"
#include "sim/sim_config.h"
#include "store/store_config.h"

namespace warden::server {

struct DerivedSettings;

struct Config {
  // [DEFAULT]
  std::string log_level = "info";     // debug | info | warning | error
  std::string log_format = "logfmt";  // logfmt | json (application and access logs)
  // [compute]
  std::string compute_driver = "none";  // none | sim | nova

  api::ApiConfig api;
  store::DatabaseConfig database;
  engine::EngineConfig engine;
  drivers::NovaConfig nova;
  drivers::AgentClientConfig agent;
  drivers::FencingConfig fencing;
  detect::AmqpConfig amqp;
  sim::SimConfig sim;

  // What start-up should tell the operator: Masakari keys that were read in place of Warden's
  // ("[DEFAULT] os_privileged_user_name → [nova] username") and Masakari keys ignored, each
  // with the reason.
  std::vector<std::string> notices;

  // What ParseConfig built from the keys above while checking them: set by ParseConfig only.
  std::shared_ptr<const DerivedSettings> derived;
};

// Parses `ini_text` (from `source`, for messages), then applies `env` overrides.
Result<Config> ParseConfig(const std::string& ini_text, const std::string& source,
                           const std::map<std::string, std::string>& env);

// Reads the file at `path` (empty: defaults only) and the process environment.
Result<Config> LoadConfig(const std::string& path);

// "[section] key = value" lines of the effective configuration, for --check-config.
std::vector<std::string> DescribeConfig(const Config& config);

// The modules' settings ParseConfig built while it checked the keys (credential, token and
// password files read then, once): start-up uses these very settings, so nothing it runs on
// can differ from what --check-config accepted.
struct DerivedSettings {
  engine::EngineOptions engine;
  std::optional<openstack::KeystoneAuth> authtoken;     // [api] auth_strategy = keystone
  std::optional<drivers::NovaSettings> nova;            // [compute] driver = nova
  std::optional<drivers::AgentRestarterOptions> agent;  // [process_failure] agent_url set
  sim::SimOptions sim;
  std::vector<drivers::FenceDeviceSettings> fence_devices;
  detect::AmqpSettings amqp;
};

}  // namespace warden::server
