#include "server/config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "core/strings.h"

namespace warden::server {
namespace {

using config::Key;
using config::Family;

// Every key of every module, as keys of the composed Config, in --check-config's order.
const std::vector<Key<Config>>& Keys() {
  static const std::vector<Key<Config>> keys = [] {
    std::vector<Key<Config>> all = {
        config::Choice("DEFAULT", "log_level", &Config::log_level,
                       {"debug", "info", "warning", "error"}),
        config::Choice("DEFAULT", "log_format", &Config::log_format, {"logfmt", "json"}),
        config::Choice("compute", "driver", &Config::compute_driver, {"none", "sim", "nova"}),
    };
    auto add = [&all](const auto& keys, auto member) {
      for (const auto& k : keys) all.push_back(k.Within(member));
    };
    add(api::ApiConfigKeys(), &Config::api);
    add(store::DatabaseConfigKeys(), &Config::database);
    add(engine::EngineConfigKeys(), &Config::engine);
    add(drivers::AgentClientConfigKeys(), &Config::agent);
    add(drivers::NovaConfigKeys(), &Config::nova);
    add(sim::SimConfigKeys(), &Config::sim);
    add(detect::AmqpConfigKeys(), &Config::amqp);
    return all;
  }();
  return keys;
}

// The [prefix:NAME] section families of every module.
const std::vector<Family<Config>>& Families() {
  static const std::vector<Family<Config>> families = {
      engine::CustomTaskSections().Within(&Config::engine),
      detect::AmqpRuleSections().Within(&Config::amqp),
      drivers::FenceDeviceSections().Within(&Config::fencing),
  };
  return families;
}

const Key<Config>* FindKey(const std::string& section, const std::string& name) {
  for (const Key<Config>& k : Keys()) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

// The family whose sections are [prefix:NAME], for a section so named.
const Family<Config>* FamilyOf(const std::string& section) {
  for (const Family<Config>& f : Families()) {
    if (section.rfind(f.prefix + ":", 0) == 0) return &f;
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
  return std::any_of(Keys().begin(), Keys().end(), [&](const auto& k) { return k.section == s; }) ||
         std::any_of(Aliases().begin(), Aliases().end(),
                     [&](const MasakariAlias& a) { return a.section == s; }) ||
         std::any_of(IgnoredKeys().begin(), IgnoredKeys().end(),
                     [&](const IgnoredKey& i) { return i.section == s; });
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s;
}

// Builds and checks every module's settings, in the order start-up needs them; the first
// problem stops it, naming the key.
Result<void> Derive(Config& c, const std::map<std::string, std::string>& env) {
  auto derived = std::make_shared<DerivedSettings>();
  auto authtoken = api::CheckApiConfig(c.api);
  if (!authtoken) return std::unexpected(authtoken.error());
  derived->authtoken = std::move(*authtoken);
  if (c.compute_driver == "nova") {
    auto n = drivers::MakeNovaSettings(c.nova, c.engine.api_call_timeout);
    if (!n) return std::unexpected(n.error());
    derived->nova = std::move(*n);
  }
  auto engine = engine::MakeEngineOptions(c.engine, !c.agent.agent_url.empty());
  if (!engine) return std::unexpected(engine.error());
  derived->engine = std::move(*engine);
  auto agent = drivers::MakeAgentRestarterOptions(c.agent, c.engine.restart_through_agent);
  if (!agent) return std::unexpected(agent.error());
  derived->agent = std::move(*agent);
  auto sim = sim::MakeSimOptions(c.sim);
  if (!sim) return std::unexpected(sim.error());
  derived->sim = std::move(*sim);
  // Fence devices are checked (and their credentials read) whatever the compute driver.
  auto getenv = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto devices = drivers::MakeFenceDeviceSettings(c.fencing.devices, getenv);
  if (!devices) return std::unexpected(devices.error());
  derived->fence_devices = std::move(*devices);
  const int64_t fence_timeout = c.engine.fence_timeout;
  for (const auto& [host, worst] : drivers::WorstFenceMicrosByHost(derived->fence_devices)) {
    if (worst > fence_timeout * 1'000'000) {
      c.notices.push_back("[host_failure] fence_timeout (" + std::to_string(fence_timeout) +
                          " s) is shorter than the worst case of host " + host +
                          "'s fencing levels (" + std::to_string(worst / 1'000'000) +
                          " s): the engine may give up before its last level is tried");
    }
  }
  auto amqp = detect::MakeAmqpSettings(c.amqp);
  if (!amqp) return std::unexpected(amqp.error());
  derived->amqp = std::move(*amqp);
  c.derived = std::move(derived);
  return {};
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
    const Family<Config>* family = FamilyOf(section);
    if (line.is_section) {
      if (family != nullptr) {
        const std::string name = section.substr(family->prefix.size() + 1);
        if (name.empty() || name.find_first_of(" ,[]:") != std::string::npos) {
          return InvalidArgument(where + "[" + section + "]: " + family->what +
                                 " needs a plain name");
        }
        config::NamedSections& sections = family->of(c);
        for (const auto& [existing, keys] : sections) {
          if (existing == name) return InvalidArgument(where + "[" + section + "] appears twice");
        }
        sections.push_back({name, {}});
        continue;
      }
      if (!KnownSection(section))
        return InvalidArgument(where + "unknown section [" + section + "]");
      continue;
    }
    const std::string& key = line.key;
    const std::string& value = line.value;
    if (family != nullptr) {
      const auto& keys = family->keys;
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        std::string list;
        for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
        const std::string hint = family->hint ? family->hint(key) : "";
        return InvalidArgument(where + "unknown key [" + section + "] " + key + " (" + list + ")" +
                               hint);
      }
      auto& set = family->of(c).back().second;
      if (set.contains(key)) {
        return InvalidArgument(where + "[" + section + "] " + key + " is set twice");
      }
      set[key] = value;
      continue;
    }
    const Key<Config>* k = FindKey(section, key);
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
  std::set<std::string> sections;
  for (const Key<Config>& k : Keys()) sections.insert(k.section);
  for (const auto& [var, value] : env) {
    if (var.rfind("WARDEN_", 0) != 0) continue;
    for (const std::string& sec : sections) {
      const std::string prefix = "WARDEN_" + Upper(sec) + "_";
      if (var.rfind(prefix, 0) != 0) continue;
      std::string key = var.substr(prefix.size());
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      const Key<Config>* k = FindKey(sec, key);
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
  if (auto derived = Derive(c, env); !derived) return std::unexpected(derived.error());
  return c;
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
  for (const Key<Config>& k : Keys()) {
    out.push_back("[" + k.section + "] " + k.name + " = " + k.show(config) + "   (env " +
                  "WARDEN_" + Upper(k.section) + "_" + Upper(k.name) + ")");
  }
  // Fence devices hold no secret: credentials are a reference (file:/path or env:PREFIX).
  for (const auto& [name, keys] : config.fencing.devices) {
    for (const auto& [key, value] : keys) {
      out.push_back("[fence_device:" + name + "] " + key + " = " + value);
    }
  }
  return out;
}

}  // namespace warden::server
