// [fence_device:NAME] sections checked and turned into fence devices (see fencing_config.h).
#include "drivers/fencing/fencing_config.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "core/domain.h"
#include "core/strings.h"
#include "core/time.h"

namespace warden::drivers {
namespace {

std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t end = v.find_first_of(", ", start);
    if (end == std::string::npos) end = v.size();
    std::string item = Trim(std::string_view(v).substr(start, end - start));
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

Result<int64_t> Integer(const std::string& v, int64_t min, int64_t max) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return InvalidArgument("'" + v + "' is not an integer");
  if (n < min || n > max) {
    return InvalidArgument("'" + v + "' is out of range [" + std::to_string(min) + ", " +
                           std::to_string(max) + "]");
  }
  return n;
}

Result<int64_t> Duration(const std::string& v, int64_t min_micros, int64_t max_micros) {
  auto d = ParseDurationMicros(v);
  if (!d) return InvalidArgument("'" + v + "' is not a duration (e.g. 10s, 500ms)");
  if (*d < min_micros || *d > max_micros) {
    return InvalidArgument("'" + v + "' is out of range [" + std::to_string(min_micros / 1000) +
                           " ms, " + std::to_string(max_micros / 1'000'000) + " s]");
  }
  return *d;
}

Result<bool> Bool(const std::string& v) {
  if (auto b = ParseBoolString(v)) return *b;  // Masakari's (oslo's) boolean spellings
  return InvalidArgument("'" + v + "' is not a boolean (true/false)");
}

const std::set<std::string> kIpmiOnly = {"address", "port", "interface", "cipher_suite",
                                         "privilege_level", "ipmitool"};
const std::set<std::string> kRedfishOnly = {"url", "system", "ca_file", "insecure"};

}  // namespace

const std::vector<std::string>& FenceDeviceKeys() {
  static const std::vector<std::string> keys = {
      "driver",  "hosts",     "level",     "credentials",  "timeout",        "confirm_timeout",
      "retries", "address",   "port",      "interface",    "cipher_suite",   "privilege_level",
      "ipmitool", "url",      "system",    "ca_file",      "insecure"};
  return keys;
}

Result<std::vector<FenceDeviceSettings>> MakeFenceDeviceSettings(
    const std::vector<std::pair<std::string, std::map<std::string, std::string>>>& sections,
    const std::function<const char*(const char*)>& getenv) {
  std::vector<FenceDeviceSettings> out;
  for (const auto& [name, keys] : sections) {
    const std::string section = "[fence_device:" + name + "] ";
    auto err = [&](const std::string& key, const std::string& msg) {
      return InvalidArgument(section + key + ": " + msg);
    };
    auto get = [&](const std::string& key) -> std::string {
      auto it = keys.find(key);
      return it == keys.end() ? "" : it->second;
    };
    FenceDeviceSettings d;
    d.name = name;
    d.driver = get("driver");
    if (d.driver.empty()) return err("driver", "missing (ipmi or redfish)");
    if (d.driver != "ipmi" && d.driver != "redfish") {
      return err("driver", "'" + d.driver + "' is not one of: ipmi, redfish");
    }
    for (const auto& [key, value] : keys) {
      if (d.driver == "ipmi" && kRedfishOnly.contains(key)) {
        return err(key, "is a key of driver = redfish, not ipmi");
      }
      if (d.driver == "redfish" && kIpmiOnly.contains(key)) {
        return err(key, "is a key of driver = ipmi, not redfish");
      }
    }
    std::vector<std::string> hosts = SplitList(get("hosts"));
    if (hosts.empty()) return err("hosts", "missing: the compute hosts this device fences");
    if (keys.contains("level")) {
      auto l = Integer(get("level"), 1, 99);
      if (!l) return err("level", l.error().message());
      d.level = int(*l);
    }
    int64_t timeout = 10'000'000;
    if (keys.contains("timeout")) {
      auto t = Duration(get("timeout"), 100'000, 600'000'000);
      if (!t) return err("timeout", t.error().message());
      timeout = *t;
    }
    if (keys.contains("confirm_timeout")) {
      auto t = Duration(get("confirm_timeout"), 100'000, 3'600'000'000);
      if (!t) return err("confirm_timeout", t.error().message());
      d.confirm_timeout_micros = *t;
    }
    RetryPolicy retry = internal::kBmcRetry;
    if (keys.contains("retries")) {
      auto r = Integer(get("retries"), 0, 10);
      if (!r) return err("retries", r.error().message());
      retry.attempts = int(*r) + 1;
    }
    if (get("credentials").empty()) {
      return err("credentials", "missing: file:/path or env:PREFIX (never the password itself)");
    }
    auto credentials = LoadBmcCredentials(get("credentials"), getenv);
    if (!credentials) return err("credentials", credentials.error().message());

    if (d.driver == "ipmi") {
      IpmiOptions& o = d.ipmi;
      o.name = name;
      o.hosts = hosts;
      o.address = get("address");
      if (o.address.empty()) return err("address", "missing: the BMC's address");
      if (o.address.find_first_of(" \t") != std::string::npos || o.address[0] == '-') {
        return err("address", "'" + o.address + "' is not a host name or address");
      }
      if (keys.contains("port")) {
        auto p = Integer(get("port"), 1, 65535);
        if (!p) return err("port", p.error().message());
        o.port = int(*p);
      }
      if (keys.contains("interface")) {
        o.interface = get("interface");
        if (o.interface != "lanplus" && o.interface != "lan") {
          return err("interface", "'" + o.interface + "' is not one of: lanplus, lan");
        }
      }
      if (keys.contains("cipher_suite")) {
        auto c = Integer(get("cipher_suite"), 0, 17);
        if (!c) return err("cipher_suite", c.error().message());
        o.cipher_suite = std::to_string(*c);
      }
      if (keys.contains("privilege_level")) {
        std::string p = get("privilege_level");
        std::transform(p.begin(), p.end(), p.begin(), ::toupper);
        if (p != "CALLBACK" && p != "USER" && p != "OPERATOR" && p != "ADMINISTRATOR") {
          return err("privilege_level",
                     "'" + get("privilege_level") + "' is not one of: operator, administrator, "
                     "user, callback");
        }
        o.privilege_level = p;
      }
      if (keys.contains("ipmitool")) o.ipmitool = get("ipmitool");
      if (credentials->username.empty() || credentials->username[0] == '-') {
        return err("credentials", "the user name must not be empty or start with '-'");
      }
      o.credentials = *credentials;
      o.command_timeout_micros = timeout;
      o.retry = retry;
    } else {
      RedfishOptions& o = d.redfish;
      o.name = name;
      o.hosts = hosts;
      o.url = get("url");
      if (o.url.empty()) return err("url", "missing: the BMC's URL (https://bmc.example.org)");
      if (auto v = ValidateRedfishUrl(o.url); !v) return err("url", v.error().message());
      o.system = get("system");
      if (!o.system.empty() && o.system[0] != '/') {
        return err("system", "'" + o.system + "' is not a path (e.g. /redfish/v1/Systems/1)");
      }
      o.tls.ca_file = get("ca_file");
      if (keys.contains("insecure")) {
        auto b = Bool(get("insecure"));
        if (!b) return err("insecure", b.error().message());
        o.tls.insecure = *b;
      }
      o.credentials = *credentials;
      o.command_timeout_micros = timeout;
      o.retry = retry;
    }
    // A power off is one ipmitool run, or up to three Redfish requests (system, reset,
    // re-read), each tried again `retries` times after growing delays; plus a margin.
    int64_t delays = 0;
    std::mt19937_64 unused;  // the BMC policy has no jitter
    for (int attempt = 2; attempt <= retry.attempts; ++attempt) {
      delays += retry.DelayBefore(attempt, unused);
    }
    d.power_off_timeout_micros =
        (d.driver == "ipmi" ? 1 : 3) * timeout * retry.attempts + delays + 5'000'000;
    out.push_back(std::move(d));
  }
  return out;
}

std::map<std::string, int64_t> WorstFenceMicrosByHost(
    const std::vector<FenceDeviceSettings>& devices) {
  std::map<std::string, int64_t> worst;
  for (const FenceDeviceSettings& d : devices) {
    for (const std::string& h : d.driver == "ipmi" ? d.ipmi.hosts : d.redfish.hosts) {
      worst[h] += d.power_off_timeout_micros + d.confirm_timeout_micros;
    }
  }
  return worst;
}

const config::Family<FencingConfig>& FenceDeviceSections() {
  static const config::Family<FencingConfig> family = {
      "fence_device", "a fence device", FenceDeviceKeys(),
      [](FencingConfig& c) -> config::NamedSections& { return c.devices; },
      [](const std::string& key) -> std::string {
        if (key == "password" || key == "username" || key == "user") {
          return "; credentials = file:/path or env:PREFIX holds them, never the config";
        }
        return "";
      }};
  return family;
}

}  // namespace warden::drivers
