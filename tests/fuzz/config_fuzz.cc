// config_fuzz: configuration files made from arbitrary bytes, read by ParseConfig (which also
// builds and checks every derived setting, as `warden server --check-config` does), and what
// must hold whatever came in:
//   - ParseConfig returns (no crash, no exception, nothing the sanitizers see);
//   - a refusal names where the problem is: the file and line, a [section] or key;
//   - an accepted file can be described (DescribeConfig, the --check-config listing).
// The command line is fuzz_main.h's. The seeds are every key with its default value (from
// DescribeConfig) and files using each kind of numbered section and Masakari's key names.
#include <map>
#include <string>
#include <vector>

#include "fuzz_main.h"
#include "server/config.h"

namespace warden {
namespace {

// Every key Warden knows, as an INI file of the defaults: "[section] key = value (env ...)"
// lines of DescribeConfig regrouped by section.
std::string DefaultsAsIni() {
  // (token auth needs a token file: noauth, the one default a bare file cannot keep)
  auto config = server::ParseConfig("[api]\nauth_strategy = noauth\n", "defaults", {});
  if (!config) fuzz::Die("config_fuzz", "defaults refused: " + config.error().ToString());
  std::map<std::string, std::string> sections;
  for (const std::string& line : server::DescribeConfig(*config)) {
    size_t close = line.find("] ");
    size_t env = line.rfind("   (env ");
    if (line.empty() || line[0] != '[' || close == std::string::npos) continue;
    std::string section = line.substr(1, close - 1);
    std::string rest =
        line.substr(close + 2, env == std::string::npos ? std::string::npos : env - close - 2);
    if (rest.find("***") != std::string::npos) continue;  // a masked secret
    sections[section] += rest + "\n";
  }
  std::string out;
  for (const auto& [section, keys] : sections) out += "[" + section + "]\n" + keys;
  return out;
}

// clang-format off
const char* const kDictionary[] = {
    "\n[", "]\n", " = ", "=", "\n", "#", ";", "[DEFAULT]\n", "[api]\n", "[database]\n",
    "[compute]\n", "[nova]\n", "[sim]\n", "[amqp]\n", "[host_failure]\n", "[keystone_authtoken]\n",
    "[amqp_rule:r]\n", "[fence_device:f]\n", "[custom_task:t]\n", "[custom_task:]\n",
    "[fence_device:a b]\n", "0", "-1", "1.5", "nan", "inf", "1e400", "9223372036854775807",
    "9223372036854775808", "-9223372036854775809", "18446744073709551616", "0x10", "true",
    "false", "yes", "off", "ms", "s", "m", "h", "d", "500ms", "1s", "2m", "fixed:", "uniform:",
    "exponential:", ":", "::", ",", ", ", "$", "$payload.", "*", "==", "!=", "older_than",
    "127.0.0.1:0", "[::1]:0", "localhost:", "65536", "sqlite:///", "postgresql://", "rabbit://",
    "amqp://", "http://", "https://", "noauth", "token", "keystone", "nova", "sim", "none",
    "ipmi", "redfish", "level", "COMPUTE_HOST", "VM", "PROCESS", "ignore", "\xff", "\xc3",
    "\r\n", "\t", "\\", "\"",
};
// clang-format on

const char* const kSeeds[] = {
    "[api]\nauth_strategy = noauth\nlisten = 127.0.0.1:0\n",
    "[DEFAULT]\nosapi_max_limit = 50\nauth_strategy = noauth\n"
    "[database]\nconnection = sqlite:////tmp/w.db\n",
    "[compute]\ndriver = sim\n[sim]\nhosts = 4\nreserved_hosts = 1\n"
    "api_latency = uniform:1ms:5ms\nevacuate_latency = fixed:2s\napi_error_rate = 0.1\n",
    "[compute]\ndriver = nova\n[nova]\nauth_url = http://127.0.0.1:5000/v3\nusername = w\n"
    "password = p\nproject_name = service\nmax_concurrent_calls = 4\n",
    "[host_failure]\napi_retry = exponential:3:500ms:10s\nstorm_guard_max_share = 0.25\n"
    "unfenced_hosts = refuse\n[fence_device:bmc1]\ntype = ipmi\nhosts = compute1, compute2\n"
    "address = 127.0.0.1\nusername = admin\npassword = x\n",
    "[amqp]\nenabled = true\nurl = rabbit://u:p@127.0.0.1:5672/\nbindings = nova:a.b\n"
    "[amqp_rule:mine]\nevent_type = compute.*.down\nwhen = $payload.x == y, $payload.t older_than "
    "2m\n"
    "type = COMPUTE_HOST\nhostname = $payload.host, $publisher_host\nevent = STOPPED\n",
    "[custom_task:notify]\ntype = command\ncommand = /bin/true\ntimeout = 10\n"
    "[taskflow_driver_recovery_flows]\nhost_auto_failure_recovery_tasks = "
    "{'pre': ['disable_compute_service_task', 'notify'], 'main': ['evacuate_instances_task'], "
    "'post': []}\n",
    "[api]\nauth_strategy = keystone\n[keystone_authtoken]\nauth_url = http://127.0.0.1:5000\n"
    "username = masakari\npassword = p\nproject_name = service\n",
};

// Mostly edits one value (what the parsers of numbers, durations, addresses and rules see),
// now and then the whole file as bytes.
std::string MutateConfig(const std::string& base, fuzz::Mutator& m,
                         const std::vector<std::string>& corpus) {
  std::string s = base;
  std::vector<size_t> values;  // offsets just after a "=" that starts a line's value
  for (size_t at = s.find('='); at != std::string::npos; at = s.find('=', at + 1)) {
    size_t line = s.rfind('\n', at);
    if (s.find('=', line == std::string::npos ? 0 : line + 1) == at) values.push_back(at + 1);
  }
  if (values.empty() || m.Below(4) == 0) {
    m.EditSome(s, corpus);
    return s;
  }
  size_t from = values[m.Below(values.size())];
  size_t to = std::min(s.find('\n', from), s.size());
  std::string value = s.substr(from, to - from);
  m.EditSome(value, corpus);
  return s.substr(0, from) + value + s.substr(to);
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  std::vector<std::string> seeds(std::begin(warden::kSeeds), std::end(warden::kSeeds));
  seeds.push_back(warden::DefaultsAsIni());
  std::map<std::string, int64_t> outcomes;
  auto check = [&](const std::string& input) -> warden::fuzz::Verdict {
    auto config = warden::server::ParseConfig(input, "fuzz.conf", {});
    if (!config) {
      ++outcomes["refused"];
      const std::string& why = config.error().message();
      if (why.find("fuzz.conf") == std::string::npos && why.find('[') == std::string::npos) {
        return {.failure = "a refusal that names no place: " + why};
      }
      return {.interesting = why.find("fuzz.conf:1:") == std::string::npos};
    }
    ++outcomes["accepted"];
    (void)warden::server::DescribeConfig(*config);
    return {};
  };
  return warden::fuzz::FuzzMain(argc, argv,
                                {.name = "config_fuzz",
                                 .seeds = seeds,
                                 .dictionary = warden::kDictionary,
                                 .check = check,
                                 .mutate = warden::MutateConfig,
                                 .summary = [&] {
                                   return "accepted:" + std::to_string(outcomes["accepted"]) +
                                          " refused:" + std::to_string(outcomes["refused"]);
                                 }});
}
