#include "server/config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <tuple>

#include "api/keystone_auth.h"
#include "core/strings.h"
#include "core/time.h"
#include "server/fencing_config.h"

namespace warden::server {
namespace {

struct Key {
  std::string section;
  std::string name;
  // Sets the value; returns an error message (without the key's name) or "".
  std::function<std::string(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> show;
};

Key IntKey(std::string section, std::string name, int64_t Config::*field, int64_t min,
           int64_t max) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               int64_t n = 0;
               auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
               if (ec != std::errc() || p != v.data() + v.size()) {
                 return "'" + v + "' is not an integer";
               }
               if (n < min || n > max) {
                 return "'" + v + "' is out of range [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]";
               }
               c.*field = n;
               return "";
             },
             [=](const Config& c) { return std::to_string(c.*field); }};
}

Key ChoiceKey(std::string section, std::string name, std::string Config::*field,
              std::vector<std::string> choices) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
                 std::string list;
                 for (auto& ch : choices) list += (list.empty() ? "" : ", ") + ch;
                 return "'" + v + "' is not one of: " + list;
               }
               c.*field = v;
               return "";
             },
             [=](const Config& c) { return c.*field; }};
}

Key BoolKey(std::string section, std::string name, bool Config::*field) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               std::string l = v;
               std::transform(l.begin(), l.end(), l.begin(), ::tolower);
               if (l == "true" || l == "yes" || l == "on" || l == "1") {
                 c.*field = true;
               } else if (l == "false" || l == "no" || l == "off" || l == "0") {
                 c.*field = false;
               } else {
                 return "'" + v + "' is not a boolean (true/false)";
               }
               return "";
             },
             [=](const Config& c) { return std::string(c.*field ? "true" : "false"); }};
}

Key StringKey(std::string section, std::string name, std::string Config::*field) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               c.*field = v;
               return "";
             },
             [=](const Config& c) { return c.*field; }};
}

// A string never shown by --check-config (only whether it is set).
Key SecretKey(std::string section, std::string name, std::string Config::*field) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               c.*field = v;
               return "";
             },
             [=](const Config& c) { return std::string((c.*field).empty() ? "" : "(set)"); }};
}

// keystoneauth's *_domain_id: Warden names domains, so only the Default domain's id is
// understood (it is what masakari.conf files usually say).
Key DefaultDomainIdKey(std::string name) {
  return Key{"keystone_authtoken", name,
             [name](Config& c, const std::string& v) -> std::string {
               if (v != "default") {
                 return "'" + v + "': only 'default' is understood; name the domain with " +
                        name.substr(0, name.size() - 3) + "_name instead";
               }
               (name == "user_domain_id" ? c.authtoken_user_domain_name
                                         : c.authtoken_project_domain_name) = "Default";
               return "";
             },
             [](const Config&) { return std::string("default"); }};
}

Key DoubleKey(std::string section, std::string name, double Config::*field, double min,
              double max) {
  return Key{section, name,
             [=](Config& c, const std::string& v) -> std::string {
               double d = 0;
               auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
               if (ec != std::errc() || p != v.data() + v.size()) return "'" + v + "' is not a number";
               if (d < min || d > max) {
                 return "'" + v + "' is out of range [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]";
               }
               c.*field = d;
               return "";
             },
             [=](const Config& c) { return std::to_string(c.*field); }};
}

std::string SetListen(Config& c, const std::string& v) {
  auto hp = ParseListenAddress(v);
  if (!hp) return hp.error().message();
  const std::string host = hp->host;
  const uint16_t p = hp->port;
  c.listen = v;
  c.listen_host = host;
  c.listen_port = p;
  return "";
}

std::string SetConnection(Config& c, const std::string& v) {
  const std::string prefix = "sqlite:///";
  if (v.rfind(prefix, 0) == 0 && v.size() > prefix.size()) {
    c.connection = v;
    c.sqlite_path = v.substr(prefix.size());  // SQLAlchemy: sqlite:////abs, sqlite:///rel
    return "";
  }
  if (v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0) {
    return "PostgreSQL is not supported by this build yet; use sqlite:///PATH";
  }
  return "'" + v + "' is not a database URL (sqlite:///relative/path or sqlite:////absolute/path)";
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      ChoiceKey("DEFAULT", "log_level", &Config::log_level, {"debug", "info", "warning", "error"}),
      ChoiceKey("DEFAULT", "log_format", &Config::log_format, {"logfmt", "json"}),
      IntKey("DEFAULT", "osapi_max_limit", &Config::osapi_max_limit, 1, 100000),
      IntKey("DEFAULT", "duplicate_notification_detection_interval",
             &Config::duplicate_notification_detection_interval, 0, 86400 * 7),
      Key{"api", "listen", SetListen, [](const Config& c) { return c.listen; }},
      ChoiceKey("api", "auth_strategy", &Config::auth_strategy, {"token", "noauth", "keystone"}),
      // Masakari's place for it, with its spelling of noauth.
      Key{"DEFAULT", "auth_strategy",
          [](Config& c, const std::string& v) -> std::string {
            if (v == "keystone") {
              c.auth_strategy = "keystone";
            } else if (v == "noauth2" || v == "noauth") {
              c.auth_strategy = "noauth";
            } else {
              return "'" + v + "' is not one of: keystone, noauth2";
            }
            return "";
          },
          [](const Config& c) {
            return c.auth_strategy == "noauth" ? "noauth2" : c.auth_strategy;
          }},
      StringKey("api", "admin_roles", &Config::admin_roles),
      StringKey("api", "reader_roles", &Config::reader_roles),
      IntKey("api", "token_cache_entries", &Config::token_cache_entries, 1, 10'000'000),
      IntKey("api", "invalid_token_cache_time", &Config::invalid_token_cache_time, 0, 3600),
      StringKey("keystone_authtoken", "auth_url", &Config::authtoken_auth_url),
      StringKey("keystone_authtoken", "www_authenticate_uri",
                &Config::authtoken_www_authenticate_uri),
      // keystonemiddleware's deprecated name of www_authenticate_uri.
      StringKey("keystone_authtoken", "auth_uri", &Config::authtoken_www_authenticate_uri),
      ChoiceKey("keystone_authtoken", "auth_type", &Config::authtoken_auth_type,
                {"password", "v3applicationcredential"}),
      StringKey("keystone_authtoken", "username", &Config::authtoken_username),
      SecretKey("keystone_authtoken", "password", &Config::authtoken_password),
      StringKey("keystone_authtoken", "project_name", &Config::authtoken_project_name),
      StringKey("keystone_authtoken", "user_domain_name", &Config::authtoken_user_domain_name),
      StringKey("keystone_authtoken", "project_domain_name",
                &Config::authtoken_project_domain_name),
      DefaultDomainIdKey("user_domain_id"),
      DefaultDomainIdKey("project_domain_id"),
      StringKey("keystone_authtoken", "application_credential_id",
                &Config::authtoken_application_credential_id),
      StringKey("keystone_authtoken", "application_credential_name",
                &Config::authtoken_application_credential_name),
      SecretKey("keystone_authtoken", "application_credential_secret",
                &Config::authtoken_application_credential_secret),
      StringKey("keystone_authtoken", "cafile", &Config::authtoken_cafile),
      BoolKey("keystone_authtoken", "insecure", &Config::authtoken_insecure),
      StringKey("keystone_authtoken", "region_name", &Config::authtoken_region_name),
      ChoiceKey("keystone_authtoken", "interface", &Config::authtoken_interface,
                {"public", "internal", "admin"}),
      IntKey("keystone_authtoken", "token_cache_time", &Config::authtoken_token_cache_time, 0,
             86400),
      IntKey("keystone_authtoken", "http_connect_timeout", &Config::authtoken_http_connect_timeout,
             1, 600),
      Key{"api", "token_file",
          [](Config& c, const std::string& v) -> std::string {
            c.token_file = v;
            return "";
          },
          [](const Config& c) { return c.token_file; }},
      IntKey("api", "workers", &Config::workers, 1, 512),
      IntKey("api", "io_threads", &Config::io_threads, 1, 64),
      IntKey("api", "max_body_bytes", &Config::max_body_bytes, 1024, 64 << 20),
      IntKey("api", "max_header_bytes", &Config::max_header_bytes, 1024, 1 << 20),
      IntKey("api", "max_connections", &Config::max_connections, 1, 1 << 20),
      IntKey("api", "request_timeout", &Config::request_timeout, 1, 3600),
      IntKey("api", "idle_timeout", &Config::idle_timeout, 1, 86400),
      BoolKey("api", "access_log", &Config::access_log),
      IntKey("api", "response_cache_entries", &Config::response_cache_entries, 0, 100000),
      Key{"database", "connection", SetConnection, [](const Config& c) { return c.connection; }},
      IntKey("DEFAULT", "process_unfinished_notifications_interval",
             &Config::process_unfinished_notifications_interval, 1, 86400),
      IntKey("DEFAULT", "retry_notification_new_status_interval",
             &Config::retry_notification_new_status_interval, 1, 86400),
      IntKey("DEFAULT", "check_expired_notifications_interval",
             &Config::check_expired_notifications_interval, 1, 86400),
      IntKey("DEFAULT", "notifications_expired_interval", &Config::notifications_expired_interval,
             60, 86400 * 365),
      IntKey("DEFAULT", "error_notification_retries", &Config::error_notification_retries, 0, 100),
      BoolKey("DEFAULT", "status_aware_duplicate_detection",
              &Config::status_aware_duplicate_detection),
      ChoiceKey("compute", "driver", &Config::compute_driver, {"none", "sim", "nova"}),
      StringKey("nova", "auth_url", &Config::nova_auth_url),
      ChoiceKey("nova", "auth_type", &Config::nova_auth_type,
                {"password", "v3applicationcredential"}),
      StringKey("nova", "username", &Config::nova_username),
      SecretKey("nova", "password", &Config::nova_password),
      StringKey("nova", "password_file", &Config::nova_password_file),
      StringKey("nova", "user_domain_name", &Config::nova_user_domain_name),
      StringKey("nova", "project_name", &Config::nova_project_name),
      StringKey("nova", "project_domain_name", &Config::nova_project_domain_name),
      StringKey("nova", "application_credential_id", &Config::nova_application_credential_id),
      SecretKey("nova", "application_credential_secret",
                &Config::nova_application_credential_secret),
      StringKey("nova", "region_name", &Config::nova_region_name),
      ChoiceKey("nova", "interface", &Config::nova_interface, {"public", "internal", "admin"}),
      StringKey("nova", "compute_url", &Config::nova_compute_url),
      StringKey("nova", "placement_url", &Config::nova_placement_url),
      StringKey("nova", "ca_file", &Config::nova_ca_file),
      BoolKey("nova", "insecure", &Config::nova_insecure),
      IntKey("nova", "max_concurrent_calls", &Config::nova_max_concurrent_calls, 1, 256),
      DoubleKey("nova", "max_calls_per_second", &Config::nova_max_calls_per_second, 0, 100000),
      IntKey("nova", "call_timeout", &Config::nova_call_timeout, 1, 3600),
      BoolKey("host_failure", "evacuate_all_instances", &Config::evacuate_all_instances),
      BoolKey("host_failure", "ignore_instances_in_error_state",
              &Config::ignore_instances_in_error_state),
      StringKey("host_failure", "service_disable_reason", &Config::service_disable_reason),
      IntKey("host_failure", "max_parallel_evacuations", &Config::max_parallel_evacuations, 1,
             10000),
      IntKey("host_failure", "max_parallel_evacuations_per_host",
             &Config::max_parallel_evacuations_per_host, 1, 10000),
      IntKey("host_failure", "evacuation_attempts", &Config::evacuation_attempts, 1, 100),
      IntKey("host_failure", "evacuation_timeout", &Config::evacuation_timeout, 1, 86400),
      IntKey("host_failure", "fence_timeout", &Config::fence_timeout, 1, 3600),
      ChoiceKey("host_failure", "unfenced_hosts", &Config::unfenced_hosts,
                {"trust_host_status", "refuse"}),
      BoolKey("host_failure", "stay_in_segment", &Config::stay_in_segment),
      BoolKey("host_failure", "add_reserved_host_to_aggregate",
              &Config::add_reserved_host_to_aggregate),
      BoolKey("host_failure", "lock_instances", &Config::lock_instances),
      DoubleKey("host_failure", "storm_guard_max_share", &Config::storm_guard_max_share, 0.0, 1.0),
      StringKey("host_failure", "api_retry", &Config::api_retry),
      IntKey("host_failure", "api_call_timeout", &Config::api_call_timeout, 1, 3600),
      DoubleKey("host_failure", "poll_interval", &Config::poll_interval, 0.01, 600),
      BoolKey("process_failure", "restart_through_agent", &Config::restart_through_agent),
      StringKey("process_failure", "agent_url", &Config::agent_url),
      StringKey("process_failure", "agent_token_file", &Config::agent_token_file),
      StringKey("process_failure", "agent_ca_file", &Config::agent_ca_file),
      IntKey("process_failure", "agent_restart_timeout", &Config::agent_restart_timeout, 1, 3600),
      BoolKey("instance_failure", "process_all_instances", &Config::process_all_instances),
      StringKey("instance_failure", "ha_enabled_instance_metadata_key",
                &Config::ha_enabled_instance_metadata_key),
      BoolKey("instance_failure", "recover_ignoring_error_instances",
              &Config::recover_ignoring_error_instances),
      ChoiceKey("instance_failure", "recover_instance_failure_method",
                &Config::recover_instance_failure_method, {"auto"}),
      IntKey("instance_failure", "wait_period_after_power_off",
             &Config::wait_period_after_power_off, 1, 86400),
      IntKey("instance_failure", "wait_period_after_power_on", &Config::wait_period_after_power_on,
             1, 86400),
      StringKey("taskflow_driver_recovery_flows", "host_auto_failure_recovery_tasks",
                &Config::host_auto_failure_recovery_tasks),
      StringKey("taskflow_driver_recovery_flows", "host_rh_failure_recovery_tasks",
                &Config::host_rh_failure_recovery_tasks),
      StringKey("taskflow_driver_recovery_flows", "instance_failure_recovery_tasks",
                &Config::instance_failure_recovery_tasks),
      StringKey("taskflow_driver_recovery_flows", "process_failure_recovery_tasks",
                &Config::process_failure_recovery_tasks),
      StringKey("recovery_workflow_on_stop", "targets", &Config::recovery_workflow_on_stop_targets),
      IntKey("sim", "hosts", &Config::sim_hosts, 1, 100000),
      IntKey("sim", "reserved_hosts", &Config::sim_reserved_hosts, 0, 100000),
      IntKey("sim", "instances", &Config::sim_instances, 0, 10000000),
      IntKey("sim", "host_vcpus", &Config::sim_host_vcpus, 1, 100000),
      IntKey("sim", "host_ram_mb", &Config::sim_host_ram_mb, 1, 1LL << 40),
      IntKey("sim", "host_disk_gb", &Config::sim_host_disk_gb, 1, 1LL << 40),
      StringKey("sim", "host_prefix", &Config::sim_host_prefix),
      StringKey("sim", "api_latency", &Config::sim_api_latency),
      StringKey("sim", "evacuate_latency", &Config::sim_evacuate_latency),
      StringKey("sim", "power_latency", &Config::sim_power_latency),
      StringKey("sim", "bmc_latency", &Config::sim_bmc_latency),
      DoubleKey("sim", "api_error_rate", &Config::sim_api_error_rate, 0, 1),
      DoubleKey("sim", "api_timeout_rate", &Config::sim_api_timeout_rate, 0, 1),
      IntKey("sim", "seed", &Config::sim_seed, 0, INT64_MAX),
      BoolKey("amqp", "enabled", &Config::amqp_enabled),
      Key{"amqp", "url",
          [](Config& c, const std::string& v) -> std::string {
            auto u = detect::ParseAmqpUrl(v);
            if (!u) return u.error().message();
            c.amqp_url = v;
            return "";
          },
          [](const Config& c) { return detect::RedactAmqpUrl(c.amqp_url); }},
      StringKey("amqp", "password_file", &Config::amqp_password_file),
      StringKey("amqp", "queue", &Config::amqp_queue),
      StringKey("amqp", "bindings", &Config::amqp_bindings),
      BoolKey("amqp", "declare_exchanges", &Config::amqp_declare_exchanges),
      ChoiceKey("amqp", "exchange_type", &Config::amqp_exchange_type,
                {"topic", "direct", "fanout", "headers"}),
      BoolKey("amqp", "exchange_durable", &Config::amqp_exchange_durable),
      IntKey("amqp", "prefetch", &Config::amqp_prefetch, 1, 65535),
      StringKey("amqp", "dead_letter_exchange", &Config::amqp_dead_letter_exchange),
      StringKey("amqp", "dead_letter_queue", &Config::amqp_dead_letter_queue),
      IntKey("amqp", "heartbeat", &Config::amqp_heartbeat, 0, 3600),
      StringKey("amqp", "connect_timeout", &Config::amqp_connect_timeout),
      StringKey("amqp", "reconnect_backoff_initial", &Config::amqp_reconnect_backoff_initial),
      StringKey("amqp", "reconnect_backoff_max", &Config::amqp_reconnect_backoff_max),
      IntKey("amqp", "requeue_limit", &Config::amqp_requeue_limit, 0, 1000),
      StringKey("amqp", "requeue_backoff_initial", &Config::amqp_requeue_backoff_initial),
      StringKey("amqp", "requeue_backoff_max", &Config::amqp_requeue_backoff_max),
      BoolKey("amqp", "default_rules", &Config::amqp_default_rules),
      StringKey("amqp", "service_down_time", &Config::amqp_service_down_time),
  };
  return keys;
}

const Key* FindKey(const std::string& section, const std::string& name) {
  for (const Key& k : Keys()) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

// A Masakari key that Warden reads in place of one of its own when that one is not set, so
// that an existing masakari.conf carries over.
struct MasakariAlias {
  std::string section;
  std::string name;
  std::string target_section;
  std::string target_name;
  // Turns Masakari's value into Warden's; returns an error message or "".
  std::function<std::string(const std::string&, std::string&)> translate;
};

// "compute:nova:publicURL" (service_type:service_name:endpoint_type) → "public".
std::string CatalogInfoToInterface(const std::string& v, std::string& out) {
  const size_t a = v.find(':');
  const size_t b = a == std::string::npos ? a : v.find(':', a + 1);
  if (b == std::string::npos) return "'" + v + "' is not service_type:service_name:endpoint_type";
  if (v.substr(0, a) != "compute") {
    return "service type '" + v.substr(0, a) + "' is not 'compute'";
  }
  out = v.substr(b + 1);
  if (out.ends_with("URL")) out.resize(out.size() - 3);
  return "";
}

const std::vector<MasakariAlias>& Aliases() {
  static const std::vector<MasakariAlias> aliases = {
      {"DEFAULT", "os_privileged_user_name", "nova", "username", {}},
      {"DEFAULT", "os_privileged_user_password", "nova", "password", {}},
      {"DEFAULT", "os_privileged_user_tenant", "nova", "project_name", {}},
      {"DEFAULT", "os_privileged_user_auth_url", "nova", "auth_url", {}},
      {"DEFAULT", "os_user_domain_name", "nova", "user_domain_name", {}},
      {"DEFAULT", "os_project_domain_name", "nova", "project_domain_name", {}},
      {"DEFAULT", "os_region_name", "nova", "region_name", {}},
      {"DEFAULT", "nova_ca_certificates_file", "nova", "ca_file", {}},
      {"DEFAULT", "nova_api_insecure", "nova", "insecure", {}},
      {"DEFAULT", "nova_catalog_admin_info", "nova", "interface", CatalogInfoToInterface},
      {"DEFAULT", "wait_period_after_evacuation", "host_failure", "evacuation_timeout", {}},
      {"DEFAULT", "verify_interval", "host_failure", "poll_interval", {}},
      {"DEFAULT", "wait_period_after_power_off", "instance_failure", "wait_period_after_power_off",
       {}},
      {"DEFAULT", "wait_period_after_power_on", "instance_failure", "wait_period_after_power_on",
       {}},
      {"host_failure", "ha_enabled_instance_metadata_key", "instance_failure",
       "ha_enabled_instance_metadata_key", {}},
  };
  return aliases;
}

// Masakari keys (or whole sections, name "*") that Warden accepts and does not use.
struct IgnoredKey {
  std::string section;
  std::string name;
  std::string reason;
};

const std::vector<IgnoredKey>& IgnoredKeys() {
  static const std::string kOsloLog = "oslo.log option; Warden logs by [DEFAULT] log_level, "
                                      "log_format and `warden server --log-file`";
  static const std::vector<IgnoredKey> ignored = {
      {"DEFAULT", "wait_period_after_service_update",
       "no sleep is needed: once fencing is confirmed Warden sets the service forced_down, "
       "which Nova honours at once"},
      {"DEFAULT", "host_failure_recovery_threads",
       "evacuations run in parallel up to [host_failure] max_parallel_evacuations and "
       "max_parallel_evacuations_per_host"},
      {"DEFAULT", "os_system_scope", "Warden's Nova user is scoped to [nova] project_name"},
      {"DEFAULT", "notification_driver", "Warden has one recovery engine"},
      {"DEFAULT", "masakari_topic", "API and engine run in one process; there is no RPC"},
      {"DEFAULT", "masakari_api_listen", "set [api] listen = HOST:PORT"},
      {"DEFAULT", "masakari_api_listen_port", "set [api] listen = HOST:PORT"},
      {"DEFAULT", "masakari_api_workers", "set [api] workers"},
      {"DEFAULT", "api_paste_config", "Warden has no paste pipeline"},
      {"DEFAULT", "graceful_shutdown_timeout", "Warden waits for requests in flight on stop"},
      {"DEFAULT", "state_path", "Warden keeps its state in [database] connection"},
      {"DEFAULT", "host", "not needed: one process"},
      {"DEFAULT", "debug", kOsloLog},
      {"DEFAULT", "verbose", kOsloLog},
      {"DEFAULT", "log_dir", kOsloLog},
      {"DEFAULT", "log_file", kOsloLog},
      {"DEFAULT", "use_syslog", kOsloLog},
      {"DEFAULT", "use_stderr", kOsloLog},
      {"DEFAULT", "use_journal", kOsloLog},
      {"DEFAULT", "log_config_append", kOsloLog},
      {"DEFAULT", "default_log_levels", kOsloLog},
      {"taskflow", "connection", "Warden keeps recovery progress in its own store"},
      {"process_failure", "service_disable_reason",
       "Warden uses [host_failure] service_disable_reason"},
      {"oslo_messaging_notifications", "*", "Warden does not emit oslo.messaging notifications"},
      {"oslo_messaging_rabbit", "*", "no RPC; AMQP intake has its own section"},
      {"oslo_concurrency", "*", "not used"},
      {"oslo_middleware", "*", "not used"},
      {"oslo_policy", "*", "Warden's policy is fixed: admin for mutations, reader for reads"},
      {"cors", "*", "not used"},
      {"coordination", "*", "per-host serialisation is built into Warden's engine"},
      {"wsgi", "*", "Warden's HTTP server is configured in [api]"},
      {"osapi_v1", "*", "not used"},
      {"ssl", "*", "terminate TLS in front of Warden"},
      {"healthcheck", "*", "Warden serves /healthz and /readyz"},
      // keystonemiddleware's keys that [api] auth_strategy = keystone does without.
      {"keystone_authtoken", "memcached_servers",
       "Warden keeps validated tokens in its own memory ([keystone_authtoken] token_cache_time)"},
      {"keystone_authtoken", "memcache_security_strategy", "no memcached is used"},
      {"keystone_authtoken", "memcache_secret_key", "no memcached is used"},
      {"keystone_authtoken", "memcache_use_advanced_pool", "no memcached is used"},
      {"keystone_authtoken", "memcache_pool_dead_retry", "no memcached is used"},
      {"keystone_authtoken", "memcache_pool_maxsize", "no memcached is used"},
      {"keystone_authtoken", "memcache_pool_socket_timeout", "no memcached is used"},
      {"keystone_authtoken", "memcache_pool_unused_timeout", "no memcached is used"},
      {"keystone_authtoken", "memcache_pool_conn_get_timeout", "no memcached is used"},
      {"keystone_authtoken", "cache", "Warden keeps validated tokens in its own memory"},
      {"keystone_authtoken", "auth_version", "Warden speaks Keystone v3 only"},
      {"keystone_authtoken", "delay_auth_decision",
       "Warden never passes an unauthenticated request on"},
      {"keystone_authtoken", "include_service_catalog", "no service catalog is passed on"},
      {"keystone_authtoken", "service_token_roles",
       "service tokens (X-Service-Token) are not used by Warden's API"},
      {"keystone_authtoken", "service_token_roles_required",
       "service tokens (X-Service-Token) are not used by Warden's API"},
      {"keystone_authtoken", "service_type", "Warden's catalog entry is registered in Keystone"},
      {"keystone_authtoken", "enforce_token_bind", "token binding is not supported"},
      {"keystone_authtoken", "http_request_max_retries",
       "a failed validation is answered 503 and not retried within the request"},
      {"keystone_authtoken", "auth_section", "all keys are read from [keystone_authtoken]"},
      {"keystone_authtoken", "certfile", "client certificates are not supported"},
      {"keystone_authtoken", "keyfile", "client certificates are not supported"},
      {"keystone_authtoken", "system_scope", "Warden's token is project-scoped"},
      {"keystone_authtoken", "region", "set region_name"},
      {"keystone_authtoken", "valid_interfaces", "set interface"},
  };
  return ignored;
}

const MasakariAlias* FindAlias(const std::string& section, const std::string& name) {
  for (const auto& a : Aliases()) {
    if (a.section == section && a.name == name) return &a;
  }
  return nullptr;
}

const IgnoredKey* FindIgnored(const std::string& section, const std::string& name) {
  for (const auto& i : IgnoredKeys()) {
    if (i.section == section && (i.name == name || i.name == "*")) return &i;
  }
  return nullptr;
}

bool KnownSection(const std::string& s) {
  return std::any_of(Keys().begin(), Keys().end(), [&](const Key& k) { return k.section == s; }) ||
         std::any_of(Aliases().begin(), Aliases().end(),
                     [&](const MasakariAlias& a) { return a.section == s; }) ||
         std::any_of(IgnoredKeys().begin(), IgnoredKeys().end(),
                     [&](const IgnoredKey& i) { return i.section == s; });
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s;
}

}  // namespace

Result<openstack::KeystoneAuth> MakeAuthtokenKeystoneAuth(const Config& c) {
  openstack::KeystoneAuth auth;
  auth.auth_url = c.authtoken_auth_url;
  auth.auth_type = c.authtoken_auth_type;
  auth.username = c.authtoken_username;
  auth.password = c.authtoken_password;
  auth.user_domain_name = c.authtoken_user_domain_name;
  auth.project_name = c.authtoken_project_name;
  auth.project_domain_name = c.authtoken_project_domain_name;
  auth.application_credential_id = c.authtoken_application_credential_id;
  auth.application_credential_name = c.authtoken_application_credential_name;
  auth.application_credential_secret = c.authtoken_application_credential_secret;
  auth.region_name = c.authtoken_region_name;
  auth.interface = c.authtoken_interface;
  auth.tls.ca_file = c.authtoken_cafile;
  auth.tls.insecure = c.authtoken_insecure;
  auth.timeout_seconds = double(c.authtoken_http_connect_timeout);
  if (auto ok = openstack::ValidateKeystoneAuth(auth); !ok) {
    return InvalidArgument("[keystone_authtoken] " + ok.error().message() +
                           " (with [api] auth_strategy = keystone)");
  }
  return auth;
}

namespace {

// Returns Warden's own Keystone credentials once [keystone_authtoken] checks out.
Result<openstack::KeystoneAuth> CheckKeystoneAuthtoken(Config& c) {
  const std::string s = "[keystone_authtoken] ";
  auto is_url = [](const std::string& u) {
    return u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0;
  };
  // The credentials and URLs: the same checks as the Keystone client's own.
  auto auth = MakeAuthtokenKeystoneAuth(c);
  if (!auth) return std::unexpected(auth.error());
  if (c.authtoken_www_authenticate_uri.empty()) {
    c.authtoken_www_authenticate_uri = c.authtoken_auth_url;
  } else if (!is_url(c.authtoken_www_authenticate_uri)) {
    return InvalidArgument(s + "www_authenticate_uri: '" + c.authtoken_www_authenticate_uri +
                           "' is not an http(s) URL");
  }
  if (c.authtoken_cafile.empty() == false && !std::ifstream(c.authtoken_cafile)) {
    return InvalidArgument(s + "cafile: cannot read " + c.authtoken_cafile);
  }
  if (api::SplitRoleList(c.admin_roles).empty()) {
    return InvalidArgument("[api] admin_roles: names no role");
  }
  return auth;
}

}  // namespace

Result<Config> ParseConfig(const std::string& ini_text, const std::string& source,
                           const std::map<std::string, std::string>& env) {
  Config c;
  struct PendingAlias {
    const MasakariAlias* alias;
    std::string value;
    std::string where;
  };
  std::vector<PendingAlias> pending;
  std::set<std::string> explicit_keys;  // "section.key" set by Warden's own keys
  auto lines = ReadIniLines(ini_text, source);
  if (!lines) return std::unexpected(lines.error());
  for (const IniLine& line : *lines) {
    const std::string& where = line.where;
    const std::string& section = line.section;
    if (line.is_section) {
      if (section.rfind("custom_task:", 0) == 0) {
        const std::string name = section.substr(12);
        if (name.empty() || name.find_first_of(" ,[]:") != std::string::npos) {
          return InvalidArgument(where + "[" + section + "]: a custom task needs a plain name");
        }
        if (c.custom_tasks.contains(name)) {
          return InvalidArgument(where + "[" + section + "] appears twice");
        }
        c.custom_tasks[name];
        continue;
      }
      if (section.rfind("amqp_rule:", 0) == 0) {
        const std::string name = section.substr(10);
        if (name.empty() || name.find_first_of(" ,[]:") != std::string::npos) {
          return InvalidArgument(where + "[" + section + "]: an AMQP rule needs a plain name");
        }
        for (const auto& [existing, keys] : c.amqp_rules) {
          if (existing == name) return InvalidArgument(where + "[" + section + "] appears twice");
        }
        c.amqp_rules.push_back({name, {}});
        continue;
      }
      if (section.rfind("fence_device:", 0) == 0) {
        const std::string name = section.substr(13);
        if (name.empty() || name.find_first_of(" ,[]:") != std::string::npos) {
          return InvalidArgument(where + "[" + section + "]: a fence device needs a plain name");
        }
        for (const auto& [existing, keys] : c.fence_devices) {
          if (existing == name) return InvalidArgument(where + "[" + section + "] appears twice");
        }
        c.fence_devices.push_back({name, {}});
        continue;
      }
      if (!KnownSection(section))
        return InvalidArgument(where + "unknown section [" + section + "]");
      continue;
    }
    const std::string& key = line.key;
    const std::string& value = line.value;
    if (section.rfind("custom_task:", 0) == 0) {
      static const std::set<std::string> kTaskKeys = {"type", "command", "url", "timeout", "retry"};
      if (!kTaskKeys.contains(key)) {
        return InvalidArgument(where + "unknown key [" + section + "] " + key +
                               " (type, command, url, timeout, retry)");
      }
      auto& task = c.custom_tasks[section.substr(12)];
      if (task.contains(key)) {
        return InvalidArgument(where + "[" + section + "] " + key + " is set twice");
      }
      task[key] = value;
      continue;
    }
    if (section.rfind("fence_device:", 0) == 0) {
      const auto& keys = FenceDeviceKeys();
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        std::string list;
        for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
        std::string hint;
        if (key == "password" || key == "username" || key == "user") {
          hint = "; credentials = file:/path or env:PREFIX holds them, never the config";
        }
        return InvalidArgument(where + "unknown key [" + section + "] " + key + " (" + list + ")" +
                               hint);
      }
      if (c.fence_devices.back().second.contains(key)) {
        return InvalidArgument(where + "[" + section + "] " + key + " is set twice");
      }
      c.fence_devices.back().second[key] = value;
      continue;
    }
    if (section.rfind("amqp_rule:", 0) == 0) {
      const auto& keys = detect::AmqpRuleKeys();
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        std::string list;
        for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
        return InvalidArgument(where + "unknown key [" + section + "] " + key + " (" + list + ")");
      }
      if (c.amqp_rules.back().second.contains(key)) {
        return InvalidArgument(where + "[" + section + "] " + key + " is set twice");
      }
      c.amqp_rules.back().second[key] = value;
      continue;
    }
    const Key* k = FindKey(section, key);
    if (k == nullptr) {
      if (const MasakariAlias* a = FindAlias(section, key)) {
        pending.push_back({a, value, where});
        continue;
      }
      if (const IgnoredKey* i = FindIgnored(section, key)) {
        c.notices.push_back("[" + section + "] " + key + " (Masakari) is ignored: " + i->reason);
        continue;
      }
      return InvalidArgument(where + "unknown key [" + section + "] " + key);
    }
    if (std::string err = k->set(c, value); !err.empty()) {
      return InvalidArgument(where + "[" + section + "] " + key + ": " + err);
    }
    explicit_keys.insert(section + "." + key);
  }
  // Environment overrides, applied after the file.
  for (const auto& [var, value] : env) {
    if (var.rfind("WARDEN_", 0) != 0) continue;
    std::set<std::string> sections;
    for (const Key& k : Keys()) sections.insert(k.section);
    for (const std::string& sec : sections) {
      const std::string prefix = "WARDEN_" + Upper(sec) + "_";
      if (var.rfind(prefix, 0) != 0) continue;
      std::string key = var.substr(prefix.size());
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      const Key* k = FindKey(sec, key);
      if (k == nullptr) {
        return InvalidArgument("environment " + var + ": unknown key [" + sec + "] " + key);
      }
      if (std::string err = k->set(c, value); !err.empty()) {
        return InvalidArgument("environment " + var + " ([" + sec + "] " + key + "): " + err);
      }
      explicit_keys.insert(sec + "." + key);
    }
  }
  // Masakari's keys, where Warden's own are not set.
  for (const PendingAlias& p : pending) {
    const MasakariAlias& a = *p.alias;
    const std::string masakari = "[" + a.section + "] " + a.name;
    const std::string warden = "[" + a.target_section + "] " + a.target_name;
    if (explicit_keys.contains(a.target_section + "." + a.target_name)) {
      c.notices.push_back(masakari + " (Masakari) is ignored: " + warden + " is set");
      continue;
    }
    std::string value = p.value;
    if (a.translate) {
      if (std::string err = a.translate(p.value, value); !err.empty()) {
        return InvalidArgument(p.where + masakari + ": " + err);
      }
    }
    if (std::string err = FindKey(a.target_section, a.target_name)->set(c, value); !err.empty()) {
      return InvalidArgument(p.where + masakari + " (read as " + warden + "): " + err);
    }
    c.notices.push_back(masakari + " (Masakari) is read as " + warden);
  }
  // Cross-key rules.
  if (c.auth_strategy == "noauth" && !IsLoopbackHost(c.listen_host)) {
    return InvalidArgument(
        "[api] auth_strategy: noauth is refused unless [api] listen is a "
        "loopback address (it is " +
        c.listen + ")");
  }
  if (c.auth_strategy == "token" && c.token_file.empty()) {
    return InvalidArgument(
        "[api] token_file: required when [api] auth_strategy = token "
        "(create one with `warden token create`)");
  }
  auto derived = std::make_shared<DerivedSettings>();
  if (c.auth_strategy == "keystone") {
    auto auth = CheckKeystoneAuthtoken(c);
    if (!auth) return std::unexpected(auth.error());
    derived->authtoken = std::move(*auth);
  }
  if (c.compute_driver == "nova") {
    auto n = MakeNovaSettings(c);
    if (!n) return std::unexpected(n.error());
    derived->nova = std::move(*n);
  }
  auto engine = MakeEngineOptions(c);
  if (!engine) return std::unexpected(engine.error());
  derived->engine = std::move(*engine);
  auto agent = MakeAgentRestarterOptions(c);
  if (!agent) return std::unexpected(agent.error());
  derived->agent = std::move(*agent);
  auto sim = MakeSimOptions(c);
  if (!sim) return std::unexpected(sim.error());
  derived->sim = std::move(*sim);
  if (c.sim_reserved_hosts >= c.sim_hosts) {
    return InvalidArgument("[sim] reserved_hosts: must be below [sim] hosts");
  }
  // Fence devices are checked (and their credentials read) whatever the compute driver.
  {
    auto getenv = [&env](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    };
    auto devices = MakeFenceDeviceSettings(c.fence_devices, getenv);
    if (!devices) return std::unexpected(devices.error());
    derived->fence_devices = std::move(*devices);
    for (const auto& [host, worst] : WorstFenceMicrosByHost(derived->fence_devices)) {
      if (worst > c.fence_timeout * 1'000'000) {
        c.notices.push_back("[host_failure] fence_timeout (" + std::to_string(c.fence_timeout) +
                            " s) is shorter than the worst case of host " + host +
                            "'s fencing levels (" + std::to_string(worst / 1'000'000) +
                            " s): the engine may give up before its last level is tried");
      }
    }
  }
  // The rule table is checked even while [amqp] is disabled, so that enabling it later
  // cannot reveal a typo; the password file only when it will be read.
  auto amqp = MakeAmqpSettings(c);
  if (!amqp) return std::unexpected(amqp.error());
  derived->amqp = std::move(*amqp);
  c.derived = std::move(derived);
  return c;
}

Result<AmqpSettings> MakeAmqpSettings(const Config& c) {
  AmqpSettings out;
  auto duration = [](const std::string& key, const std::string& v, bool positive,
                     int64_t& field) -> Result<void> {
    auto d = ParseDurationMicros(v);
    if (!d || (positive && *d <= 0)) {
      return InvalidArgument("[amqp] " + key + ": '" + v + "' is not a duration (500ms, 2s, 1m)");
    }
    field = *d;
    return {};
  };
  detect::AmqpConsumerOptions& o = out.consumer;
  auto url = detect::ParseAmqpUrl(c.amqp_url);
  if (!url) return InvalidArgument("[amqp] url: " + url.error().message());
  o.url = *url;
  if (c.amqp_enabled && !c.amqp_password_file.empty()) {
    std::ifstream f(c.amqp_password_file);
    std::string password;
    if (!f || !std::getline(f, password)) {
      return InvalidArgument("[amqp] password_file: cannot read " + c.amqp_password_file);
    }
    password = Trim(password);
    if (password.empty()) {
      return InvalidArgument("[amqp] password_file: " + c.amqp_password_file + " is empty");
    }
    for (auto& ep : o.url.endpoints) ep.password = password;
  }
  auto name = [](const std::string& key, const std::string& v) -> Result<void> {
    if (v.empty() || v.size() > 255) return InvalidArgument("[amqp] " + key + ": 1 to 255 characters");
    return {};
  };
  for (auto [key, v] : {std::pair{"queue", &c.amqp_queue},
                        {"dead_letter_exchange", &c.amqp_dead_letter_exchange},
                        {"dead_letter_queue", &c.amqp_dead_letter_queue}}) {
    if (auto r = name(key, *v); !r) return std::unexpected(r.error());
  }
  if (c.amqp_dead_letter_queue == c.amqp_queue) {
    return InvalidArgument("[amqp] dead_letter_queue: must differ from [amqp] queue");
  }
  o.queue = c.amqp_queue;
  o.dead_letter_exchange = c.amqp_dead_letter_exchange;
  o.dead_letter_queue = c.amqp_dead_letter_queue;
  std::stringstream bindings(c.amqp_bindings);
  for (std::string item; std::getline(bindings, item, ',');) {
    item = Trim(item);
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
      return InvalidArgument("[amqp] bindings: '" + item + "' is not exchange:routing_key");
    }
    o.bindings.push_back({item.substr(0, colon), item.substr(colon + 1)});
  }
  if (o.bindings.empty()) {
    return InvalidArgument("[amqp] bindings: at least one exchange:routing_key is needed");
  }
  o.declare_exchanges = c.amqp_declare_exchanges;
  o.exchange_type = c.amqp_exchange_type;
  o.exchange_durable = c.amqp_exchange_durable;
  o.prefetch = int(c.amqp_prefetch);
  o.heartbeat_seconds = int(c.amqp_heartbeat);
  if (auto r = duration("connect_timeout", c.amqp_connect_timeout, true, o.connect_timeout_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = duration("reconnect_backoff_initial", c.amqp_reconnect_backoff_initial, true,
                        o.reconnect_backoff_initial_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = duration("reconnect_backoff_max", c.amqp_reconnect_backoff_max, true,
                        o.reconnect_backoff_max_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (o.reconnect_backoff_max_micros < o.reconnect_backoff_initial_micros) {
    return InvalidArgument(
        "[amqp] reconnect_backoff_max: must not be below [amqp] reconnect_backoff_initial");
  }
  detect::AmqpIntakeOptions& in = out.intake;
  in.requeue_limit = int(c.amqp_requeue_limit);
  if (auto r = duration("requeue_backoff_initial", c.amqp_requeue_backoff_initial, true,
                        in.requeue_backoff_initial_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = duration("requeue_backoff_max", c.amqp_requeue_backoff_max, true,
                        in.requeue_backoff_max_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (in.requeue_backoff_max_micros < in.requeue_backoff_initial_micros) {
    return InvalidArgument(
        "[amqp] requeue_backoff_max: must not be below [amqp] requeue_backoff_initial");
  }
  // The consumer sends no heartbeat while it waits to requeue: the broker would drop it.
  if (o.heartbeat_seconds > 0 && in.requeue_backoff_max_micros >= o.heartbeat_seconds * 1'000'000LL) {
    return InvalidArgument("[amqp] requeue_backoff_max: must be below [amqp] heartbeat (" +
                           std::to_string(o.heartbeat_seconds) + "s)");
  }
  int64_t service_down = 0;
  if (auto r = duration("service_down_time", c.amqp_service_down_time, true, service_down); !r) {
    return std::unexpected(r.error());
  }
  for (const auto& [rule_name, keys] : c.amqp_rules) {
    auto rule = detect::ParseAmqpRule(rule_name, keys);
    if (!rule) {
      return InvalidArgument("[amqp_rule:" + rule_name + "] " + rule.error().message());
    }
    in.rules.push_back(std::move(*rule));
  }
  if (c.amqp_default_rules) {
    for (auto& r : detect::DefaultAmqpRules(service_down)) in.rules.push_back(std::move(r));
  }
  if (c.amqp_enabled && in.rules.empty()) {
    return InvalidArgument(
        "[amqp] default_rules: with no [amqp_rule:NAME] section, nothing would be mapped");
  }
  return out;
}

Result<engine::EngineOptions> MakeEngineOptions(const Config& c) {
  engine::EngineOptions o;
  constexpr int64_t kSec = 1'000'000;
  o.triage.duplicate_window_seconds = c.duplicate_notification_detection_interval;
  o.triage.status_aware_duplicates = c.status_aware_duplicate_detection;
  o.triage.storm_guard_max_share = c.storm_guard_max_share;
  o.triage.unfenced_hosts = c.unfenced_hosts == "refuse" ? engine::UnfencedHosts::kRefuse
                                                         : engine::UnfencedHosts::kTrustHostStatus;
  o.process_unfinished_interval_micros = c.process_unfinished_notifications_interval * kSec;
  o.retry_new_after_micros = c.retry_notification_new_status_interval * kSec;
  o.check_expired_interval_micros = c.check_expired_notifications_interval * kSec;
  o.expire_after_micros = c.notifications_expired_interval * kSec;
  o.max_error_retries = int(c.error_notification_retries);
  o.evacuate_all_instances = c.evacuate_all_instances;
  o.ignore_instances_in_error_state = c.ignore_instances_in_error_state;
  o.ha_enabled_key = c.ha_enabled_instance_metadata_key;
  o.service_disable_reason = c.service_disable_reason;
  o.max_parallel_evacuations = int(c.max_parallel_evacuations);
  o.max_parallel_per_destination = int(c.max_parallel_evacuations_per_host);
  o.evacuation_attempts = int(c.evacuation_attempts);
  o.evacuation_timeout_micros = c.evacuation_timeout * kSec;
  o.fence_timeout_micros = c.fence_timeout * kSec;
  o.poll_interval_micros = int64_t(c.poll_interval * kSec);
  o.call_timeout_micros = c.api_call_timeout * kSec;
  o.stay_in_segment = c.stay_in_segment;
  o.add_reserved_host_to_aggregate = c.add_reserved_host_to_aggregate;
  o.lock_instances = c.lock_instances;
  auto retry = ParseRetryPolicy(c.api_retry);
  if (!retry) return InvalidArgument("[host_failure] api_retry: " + retry.error().message());
  o.call_retry = *retry;
  o.process_all_instances = c.process_all_instances;
  o.recover_ignoring_error_instances = c.recover_ignoring_error_instances;
  o.power_off_timeout_micros = c.wait_period_after_power_off * kSec;
  o.power_on_timeout_micros = c.wait_period_after_power_on * kSec;
  for (const auto& [name, keys] : c.custom_tasks) {
    const std::string where = "[custom_task:" + name + "] ";
    engine::CustomTask t;
    t.name = name;
    auto get = [&](const char* k) {
      auto it = keys.find(k);
      return it == keys.end() ? std::string() : it->second;
    };
    const std::string type = get("type");
    if (type == "exec") {
      t.kind = engine::CustomTask::Kind::kExec;
      t.command = get("command");
      if (t.command.empty()) return InvalidArgument(where + "command: required for type = exec");
    } else if (type == "http") {
      t.kind = engine::CustomTask::Kind::kHttp;
      t.url = get("url");
      if (t.url.rfind("http://", 0) != 0 && t.url.rfind("https://", 0) != 0) {
        return InvalidArgument(where + "url: '" + t.url + "' is not an http(s) URL");
      }
    } else {
      return InvalidArgument(where + "type: '" + type + "' is not one of: exec, http");
    }
    if (auto v = get("timeout"); !v.empty()) {
      auto d = ParseDurationMicros(v);
      if (!d || *d <= 0) return InvalidArgument(where + "timeout: '" + v + "' is not a duration");
      t.timeout_micros = *d;
    }
    if (auto v = get("retry"); !v.empty()) {
      auto r = ParseRetryPolicy(v);
      if (!r) return InvalidArgument(where + "retry: " + r.error().message());
      t.retry = *r;
    }
    o.workflows.custom[name] = t;
  }
  auto flow = [&](const std::string& spec, const char* key, bool host,
                  std::vector<std::string>& out) -> Result<void> {
    if (spec.empty()) return {};
    auto f = engine::ParseFlow(spec, host, o.workflows.custom);
    if (!f) return InvalidArgument(std::string(key) + ": " + f.error().message());
    out = *f;
    return {};
  };
  const char* s = "[taskflow_driver_recovery_flows] ";
  if (auto r = flow(c.recovery_workflow_on_stop_targets, "[recovery_workflow_on_stop] targets", true,
                    o.workflows.host_auto);
      !r) {
    return std::unexpected(r.error());
  }
  if (!c.recovery_workflow_on_stop_targets.empty()) o.workflows.host_rh = o.workflows.host_auto;
  for (auto [spec, key, host, out] :
       std::vector<std::tuple<const std::string*, std::string, bool, std::vector<std::string>*>>{
           {&c.host_auto_failure_recovery_tasks, "host_auto_failure_recovery_tasks", true,
            &o.workflows.host_auto},
           {&c.host_rh_failure_recovery_tasks, "host_rh_failure_recovery_tasks", true,
            &o.workflows.host_rh},
           {&c.instance_failure_recovery_tasks, "instance_failure_recovery_tasks", false,
            &o.workflows.instance},
           {&c.process_failure_recovery_tasks, "process_failure_recovery_tasks", false,
            &o.workflows.process}}) {
    if (auto r = flow(*spec, (s + key).c_str(), host, *out); !r) return std::unexpected(r.error());
  }
  auto& process = o.workflows.process;
  const bool names_restart = std::find(process.begin(), process.end(),
                                       std::string(engine::kRestartProcess)) != process.end();
  if (c.restart_through_agent && !names_restart) {
    process.insert(process.begin(), std::string(engine::kRestartProcess));
  }
  if (names_restart && c.agent_url.empty()) {
    return InvalidArgument(std::string(s) +
                           "process_failure_recovery_tasks names RestartProcessTask: set "
                           "[process_failure] agent_url (and agent_token_file)");
  }
  return o;
}

Result<std::optional<drivers::AgentRestarterOptions>> MakeAgentRestarterOptions(const Config& c) {
  if (c.agent_url.empty()) {
    if (c.restart_through_agent) {
      return InvalidArgument(
          "[process_failure] agent_url: required with restart_through_agent = true "
          "(e.g. http://{host}:15869)");
    }
    return std::nullopt;
  }
  if (!c.agent_url.starts_with("http://") && !c.agent_url.starts_with("https://")) {
    return InvalidArgument("[process_failure] agent_url: an http:// or https:// URL, got '" +
                           c.agent_url + "'");
  }
  if (auto u = drivers::AgentUrlFor(c.agent_url, "h"); !u) {
    return InvalidArgument("[process_failure] agent_url: " + u.error().message() +
                           " (the host's name goes there)");
  }
  if (c.agent_token_file.empty()) {
    return InvalidArgument(
        "[process_failure] agent_token_file: required with agent_url (a file holding the "
        "token the agents accept)");
  }
  drivers::AgentRestarterOptions o;
  o.url_template = c.agent_url;
  o.timeout_micros = c.agent_restart_timeout * 1'000'000;
  o.tls.ca_file = c.agent_ca_file;
  if (!c.agent_ca_file.empty() && !std::ifstream(c.agent_ca_file)) {
    return InvalidArgument("[process_failure] agent_ca_file: cannot read " + c.agent_ca_file);
  }
  std::ifstream f(c.agent_token_file);
  if (!f || !std::getline(f, o.token) || Trim(o.token).empty()) {
    return InvalidArgument("[process_failure] agent_token_file: cannot read a token from " +
                           c.agent_token_file);
  }
  o.token = Trim(o.token);
  return o;
}

Result<NovaSettings> MakeNovaSettings(const Config& c) {
  NovaSettings s;
  openstack::KeystoneAuth& a = s.keystone;
  a.auth_url = c.nova_auth_url;
  a.auth_type = c.nova_auth_type;
  a.username = c.nova_username;
  a.password = c.nova_password;
  if (!c.nova_password_file.empty()) {
    if (!c.nova_password.empty()) {
      return InvalidArgument("[nova] password_file: set either password or password_file");
    }
    std::ifstream f(c.nova_password_file);
    if (!f || !std::getline(f, a.password)) {
      return InvalidArgument("[nova] password_file: cannot read " + c.nova_password_file);
    }
    a.password = Trim(a.password);
  }
  a.user_domain_name = c.nova_user_domain_name;
  a.project_name = c.nova_project_name;
  a.project_domain_name = c.nova_project_domain_name;
  a.application_credential_id = c.nova_application_credential_id;
  a.application_credential_secret = c.nova_application_credential_secret;
  a.region_name = c.nova_region_name;
  a.interface = c.nova_interface;
  a.tls = {c.nova_ca_file, c.nova_insecure};
  a.timeout_seconds = double(c.nova_call_timeout);
  if (auto r = openstack::ValidateKeystoneAuth(a); !r) {
    return InvalidArgument("[nova] " + r.error().message() +
                           " (with [compute] driver = nova; Masakari's [DEFAULT] "
                           "os_privileged_user_* keys are read too)");
  }
  s.nova.compute_url = c.nova_compute_url;
  s.nova.placement_url = c.nova_placement_url;
  s.nova.max_concurrent_calls = int(c.nova_max_concurrent_calls);
  s.nova.max_calls_per_second = c.nova_max_calls_per_second;
  s.nova.call_timeout_seconds = double(c.nova_call_timeout);
  // What the engine still waits once a request of call_timeout is under way: a call that
  // cannot start within it is never sent.
  s.nova.queue_timeout_seconds = double(c.api_call_timeout - c.nova_call_timeout);
  s.nova.tls = a.tls;
  if (auto r = drivers::ValidateNovaOptions(s.nova); !r) {
    return InvalidArgument("[nova] " + r.error().message());
  }
  if (c.nova_call_timeout >= c.api_call_timeout) {
    return InvalidArgument("[nova] call_timeout: must be below [host_failure] api_call_timeout (" +
                           std::to_string(c.api_call_timeout) + " s), or the engine gives up on "
                           "calls the driver is still making");
  }
  return s;
}

Result<sim::SimOptions> MakeSimOptions(const Config& c) {
  sim::SimOptions o;
  for (auto [spec, key, out] :
       std::vector<std::tuple<const std::string*, const char*, sim::Latency*>>{
           {&c.sim_api_latency, "api_latency", &o.api_latency},
           {&c.sim_evacuate_latency, "evacuate_latency", &o.evacuate_latency},
           {&c.sim_power_latency, "power_latency", &o.power_latency},
           {&c.sim_bmc_latency, "bmc_latency", &o.bmc_latency}}) {
    auto l = sim::Latency::Parse(*spec);
    if (!l) return InvalidArgument(std::string("[sim] ") + key + ": " + l.error().message());
    *out = *l;
  }
  o.api_error_rate = c.sim_api_error_rate;
  o.api_timeout_rate = c.sim_api_timeout_rate;
  o.seed = uint64_t(c.sim_seed);
  return o;
}

Result<Config> LoadConfig(const std::string& path) {
  std::string text;
  if (!path.empty()) {
    std::ifstream f(path);
    if (!f) return InvalidArgument("cannot read config file " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  return ParseConfig(text, path.empty() ? "(defaults)" : path, EnvironmentMap());
}

std::vector<std::string> DescribeConfig(const Config& config) {
  std::vector<std::string> out;
  for (const Key& k : Keys()) {
    out.push_back("[" + k.section + "] " + k.name + " = " + k.show(config) + "   (env " +
                  "WARDEN_" + Upper(k.section) + "_" + Upper(k.name) + ")");
  }
  // Fence devices hold no secret: credentials are a reference (file:/path or env:PREFIX).
  for (const auto& [name, keys] : config.fence_devices) {
    for (const auto& [key, value] : keys) {
      out.push_back("[fence_device:" + name + "] " + key + " = " + value);
    }
  }
  return out;
}

}  // namespace warden::server
