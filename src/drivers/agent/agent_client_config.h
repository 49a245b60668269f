// The agent client's part of warden.conf: [process_failure] agent_url, agent_token_file,
// agent_ca_file and agent_restart_timeout — how `warden server` reaches the `warden agent` of a
// host to restart a failed process (RestartProcessTask).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config_keys.h"
#include "core/error.h"
#include "drivers/agent/agent_restarter.h"

namespace warden::drivers {

struct AgentClientConfig {
  std::string agent_url;         // "http://{host}:15869"
  std::string agent_token_file;  // first line: the token the agents accept
  std::string agent_ca_file;     // for https:// agent URLs (a TLS proxy in front of the agent)
  int64_t agent_restart_timeout = 120;
};

const std::vector<config::Key<AgentClientConfig>>& AgentClientConfigKeys();

// The agent client, or nullopt when no agent_url is set; reads the token file. Errors name the
// key. `restart_through_agent`: [process_failure] restart_through_agent (needs agent_url).
Result<std::optional<AgentRestarterOptions>> MakeAgentRestarterOptions(const AgentClientConfig& c,
                                                                     bool restart_through_agent);

}  // namespace warden::drivers
