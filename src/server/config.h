// Warden's configuration: an INI file like Masakari's, every key overridable from the
// environment as WARDEN_<SECTION>_<KEY> (WARDEN_API_LISTEN, WARDEN_DEFAULT_LOG_LEVEL ...).
//
// Loading is strict: an unknown section or key, or a value of the wrong type or range, is an
// error naming the key (and the file line or environment variable it came from), so that a
// typo stops start-up instead of silently meaning a default.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "detect/amqp_consumer.h"
#include "drivers/agent/agent_restarter.h"
#include "drivers/nova/nova_compute.h"
#include "engine/recovery_engine.h"
#include "openstack/keystone.h"
#include "sim/sim_cloud.h"

namespace warden::server {

struct DerivedSettings;

struct Config {
  // [DEFAULT]
  std::string log_level = "info";     // debug | info | warning | error
  std::string log_format = "logfmt";  // logfmt | json (application and access logs)
  int64_t osapi_max_limit = 1000;
  int64_t duplicate_notification_detection_interval = 180;  // seconds

  // [api]
  std::string listen = "127.0.0.1:15868";
  std::string listen_host = "127.0.0.1";  // derived from listen
  uint16_t listen_port = 15868;           // derived from listen
  std::string auth_strategy = "token";    // token | noauth | keystone
  std::string token_file;
  // auth_strategy = keystone: Keystone roles that make a caller an admin (everything) or a
  // reader (GET only); comma-separated, compared without regard to case.
  std::string admin_roles = "admin";
  std::string reader_roles = "reader";
  int64_t token_cache_entries = 10000;   // valid tokens kept (and as many bad ones)
  int64_t invalid_token_cache_time = 10;  // seconds a bad token is answered 401 from memory
  int64_t workers = 16;
  int64_t io_threads = 1;
  int64_t max_body_bytes = 114688;
  int64_t max_header_bytes = 16384;
  int64_t max_connections = 1024;
  int64_t request_timeout = 30;  // seconds
  int64_t idle_timeout = 60;     // seconds
  bool access_log = true;
  int64_t response_cache_entries = 256;  // 0 disables the GET response cache

  // [keystone_authtoken]: keystonemiddleware's keys, as in masakari.conf. Warden's own
  // credentials, used to validate the tokens callers present.
  std::string authtoken_auth_url;
  std::string authtoken_www_authenticate_uri;  // default: auth_url
  std::string authtoken_auth_type = "password";  // password | v3applicationcredential
  std::string authtoken_username;
  std::string authtoken_password;  // secret: never shown
  std::string authtoken_project_name;
  std::string authtoken_user_domain_name = "Default";
  std::string authtoken_project_domain_name = "Default";
  std::string authtoken_application_credential_id;
  std::string authtoken_application_credential_name;
  std::string authtoken_application_credential_secret;  // secret: never shown
  std::string authtoken_cafile;
  bool authtoken_insecure = false;
  std::string authtoken_region_name;
  std::string authtoken_interface = "public";
  int64_t authtoken_token_cache_time = 300;     // seconds; 0: validate every request
  int64_t authtoken_http_connect_timeout = 30;  // seconds, per exchange with Keystone

  // [database]
  std::string connection = "sqlite:///warden.db";
  std::string sqlite_path = "warden.db";  // derived from connection

  // [DEFAULT] the notification life cycle (Masakari's keys, seconds)
  int64_t process_unfinished_notifications_interval = 120;
  int64_t retry_notification_new_status_interval = 60;
  int64_t check_expired_notifications_interval = 600;
  int64_t notifications_expired_interval = 86400;
  int64_t error_notification_retries = 1;
  bool status_aware_duplicate_detection = false;

  // [compute]
  std::string compute_driver = "none";  // none | sim | nova

  // [nova]: Keystone credentials and limits of `[compute] driver = nova`. Masakari's [DEFAULT]
  // os_privileged_user_* / nova_* keys fill in what is not set here.
  std::string nova_auth_url;
  std::string nova_auth_type = "password";  // password | v3applicationcredential
  std::string nova_username;
  std::string nova_password;       // secret; or nova_password_file
  std::string nova_password_file;  // first line is the password
  std::string nova_user_domain_name = "Default";
  std::string nova_project_name;
  std::string nova_project_domain_name = "Default";
  std::string nova_application_credential_id;
  std::string nova_application_credential_secret;  // secret
  std::string nova_region_name;
  std::string nova_interface = "public";  // public | internal | admin
  std::string nova_compute_url;           // endpoint override; empty: from the catalog
  std::string nova_placement_url;
  std::string nova_ca_file;
  bool nova_insecure = false;
  int64_t nova_max_concurrent_calls = 8;
  double nova_max_calls_per_second = 20;
  int64_t nova_call_timeout = 20;  // seconds per HTTP exchange; below [host_failure] api_call_timeout

  // [host_failure]
  bool evacuate_all_instances = true;
  bool ignore_instances_in_error_state = false;
  std::string service_disable_reason = "Warden detected host failed.";
  int64_t max_parallel_evacuations = 100;
  int64_t max_parallel_evacuations_per_host = 20;
  int64_t evacuation_attempts = 3;
  int64_t evacuation_timeout = 600;
  int64_t fence_timeout = 60;
  std::string unfenced_hosts = "trust_host_status";
  bool stay_in_segment = true;
  bool add_reserved_host_to_aggregate = false;
  bool lock_instances = true;
  // [process_failure]: restart a failed process through the host's `warden agent` first.
  bool restart_through_agent = false;
  std::string agent_url;         // "http://{host}:15869"
  std::string agent_token_file;  // first line: the token the agents accept
  std::string agent_ca_file;     // for https:// agent URLs (a TLS proxy in front of the agent)
  int64_t agent_restart_timeout = 120;
  double storm_guard_max_share = 0.5;
  std::string api_retry = "exponential:5:1s:30s";
  int64_t api_call_timeout = 30;
  double poll_interval = 1.0;

  // [instance_failure]
  bool process_all_instances = false;
  std::string ha_enabled_instance_metadata_key = "HA_Enabled";
  bool recover_ignoring_error_instances = false;
  std::string recover_instance_failure_method = "auto";
  int64_t wait_period_after_power_off = 180;
  int64_t wait_period_after_power_on = 60;

  // [taskflow_driver_recovery_flows] and the seeds' [recovery_workflow_on_stop] targets
  std::string host_auto_failure_recovery_tasks;
  std::string host_rh_failure_recovery_tasks;
  std::string instance_failure_recovery_tasks;
  std::string process_failure_recovery_tasks;
  std::string recovery_workflow_on_stop_targets;
  // [custom_task:NAME] key → value
  std::map<std::string, std::map<std::string, std::string>> custom_tasks;

  // [sim]: the simulated cloud of `[compute] driver = sim`
  int64_t sim_hosts = 8;
  int64_t sim_reserved_hosts = 1;
  int64_t sim_instances = 60;
  int64_t sim_host_vcpus = 32;
  int64_t sim_host_ram_mb = 131072;
  int64_t sim_host_disk_gb = 2000;
  std::string sim_host_prefix = "compute";
  std::string sim_api_latency = "fixed:20ms";
  std::string sim_evacuate_latency = "uniform:3s:8s";
  std::string sim_power_latency = "fixed:1s";
  std::string sim_bmc_latency = "fixed:300ms";
  double sim_api_error_rate = 0;
  double sim_api_timeout_rate = 0;
  int64_t sim_seed = 1;

  // What start-up should tell the operator: Masakari keys that were read in place of Warden's
  // ("[DEFAULT] os_privileged_user_name → [nova] username") and Masakari keys ignored, each
  // with the reason.
  std::vector<std::string> notices;

  // [amqp]: notifications consumed from RabbitMQ (Nova's, the seeds' compute.*.error events)
  bool amqp_enabled = false;
  std::string amqp_url = "rabbit://guest:guest@127.0.0.1:5672/";  // shown with "***" passwords
  std::string amqp_password_file;
  std::string amqp_queue = "warden.notifications";
  std::string amqp_bindings =
      "nova:versioned_notifications.error, nova:versioned_notifications.info, "
      "nova:notifications.error";
  bool amqp_declare_exchanges = true;
  std::string amqp_exchange_type = "topic";
  bool amqp_exchange_durable = false;
  int64_t amqp_prefetch = 10;
  std::string amqp_dead_letter_exchange = "warden.dead-letter";
  std::string amqp_dead_letter_queue = "warden.notifications.dead";
  int64_t amqp_heartbeat = 60;  // seconds; 0 disables
  std::string amqp_connect_timeout = "5s";
  std::string amqp_reconnect_backoff_initial = "1s";
  std::string amqp_reconnect_backoff_max = "60s";
  int64_t amqp_requeue_limit = 10;
  std::string amqp_requeue_backoff_initial = "1s";
  std::string amqp_requeue_backoff_max = "30s";
  bool amqp_default_rules = true;
  std::string amqp_service_down_time = "60s";
  // [amqp_rule:NAME] sections in file order: name → key → value
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> amqp_rules;

  // [fence_device:NAME] sections in file order: name → key → value (server/fencing_config.h)
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> fence_devices;

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

// The Nova driver's Keystone credentials and options; errors name the key. Reads
// [nova] password_file.
struct NovaSettings {
  openstack::KeystoneAuth keystone;
  drivers::NovaOptions nova;
};
Result<NovaSettings> MakeNovaSettings(const Config& config);

// Warden's own Keystone credentials from [keystone_authtoken] (for validating callers' tokens
// with [api] auth_strategy = keystone); errors name the key.
Result<openstack::KeystoneAuth> MakeAuthtokenKeystoneAuth(const Config& config);

// The engine's and the sim's options from the configuration; errors name the key.
Result<engine::EngineOptions> MakeEngineOptions(const Config& config);
// The agent client for RestartProcessTask, or nullopt when no [process_failure] agent_url is
// set. Reads the token file.
Result<std::optional<drivers::AgentRestarterOptions>> MakeAgentRestarterOptions(
    const Config& config);
Result<sim::SimOptions> MakeSimOptions(const Config& config);

// The AMQP consumer's and intake's options ([amqp], [amqp_rule:NAME]); reads password_file.
// Errors name the key. The logs of both are left unset.
struct AmqpSettings {
  detect::AmqpConsumerOptions consumer;
  detect::AmqpIntakeOptions intake;
};
Result<AmqpSettings> MakeAmqpSettings(const Config& config);

struct FenceDeviceSettings;  // server/fencing_config.h

// The drivers' settings ParseConfig built while it checked the keys (credential, token and
// password files read then, once): start-up uses these very settings, so nothing it runs on
// can differ from what --check-config accepted.
struct DerivedSettings {
  engine::EngineOptions engine;
  std::optional<openstack::KeystoneAuth> authtoken;     // [api] auth_strategy = keystone
  std::optional<NovaSettings> nova;                     // [compute] driver = nova
  std::optional<drivers::AgentRestarterOptions> agent;  // [process_failure] agent_url set
  sim::SimOptions sim;
  std::vector<FenceDeviceSettings> fence_devices;
  AmqpSettings amqp;
};

// True for 127.0.0.0/8, ::1 and localhost.

}  // namespace warden::server
