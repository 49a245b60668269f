// The agent client's configuration keys and its options (see agent_client_config.h).
#include "drivers/agent/agent_client_config.h"

#include <fstream>

#include "core/strings.h"

namespace warden::drivers {

const std::vector<config::Key<AgentClientConfig>>& AgentClientConfigKeys() {
  using C = AgentClientConfig;
  static const std::vector<config::Key<C>> keys = {
      config::String("process_failure", "agent_url", &C::agent_url),
      config::String("process_failure", "agent_token_file", &C::agent_token_file),
      config::String("process_failure", "agent_ca_file", &C::agent_ca_file),
      config::Int("process_failure", "agent_restart_timeout", &C::agent_restart_timeout, 1, 3600),
  };
  return keys;
}

Result<std::optional<AgentRestarterOptions>> MakeAgentRestarterOptions(const AgentClientConfig& c,
                                                                     bool restart_through_agent) {
  if (c.agent_url.empty()) {
    if (restart_through_agent) {
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
  if (auto u = AgentUrlFor(c.agent_url, "h"); !u) {
    return InvalidArgument("[process_failure] agent_url: " + u.error().message() +
                           " (the host's name goes there)");
  }
  if (c.agent_token_file.empty()) {
    return InvalidArgument(
        "[process_failure] agent_token_file: required with agent_url (a file holding the "
        "token the agents accept)");
  }
  AgentRestarterOptions o;
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

}  // namespace warden::drivers
