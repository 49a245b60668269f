// `warden agent`: runs on each compute host. This first part restarts the host's critical
// processes (nova-compute, libvirtd …) when the server asks — the engine's RestartProcessTask
// for a PROCESS notification — and reports whether each came back.
//
// HTTP on [agent] listen, token-authenticated like the server (a token file written by
// `warden token create`; admins may restart, readers may look):
//   GET  /healthz                             liveness, no token
//   GET  /v1/agent                            the host, its processes, each one's last restart
//   POST /v1/agent/processes/NAME/restart     runs NAME's restart_command, then its
//                                             check_command until it succeeds or time is up
// A restart answers 200 once the process is confirmed running (or, without a check_command,
// once the restart command succeeded); 404 for a process not configured; 409 while a
// restart of the same process runs; 500 `restartFailed` naming the failed command and its
// output, or the timeout. Errors have the server's body: {"<fault>": {"code", "message"}}.
//
// Heartbeats, conditions and the process and instance monitors of DESIGN.md come later.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/http.h"
#include "core/error.h"

namespace warden::agent {

struct ProcessSpec {
  std::string name;
  std::string restart_command;          // /bin/sh -c; must succeed (exit 0)
  std::string check_command;            // optional: exit 0 once the process runs again
  int64_t timeout_micros = 60'000'000;  // the restart and the checks together
  int64_t check_interval_micros = 1'000'000;
};

struct AgentConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 15869;
  std::string host;                     // the name reported; default: the machine's host name
  std::string auth_strategy = "token";  // token | noauth (loopback only)
  std::string token_file;
  std::string log_format = "logfmt";  // logfmt | json
  std::vector<ProcessSpec> processes;
};

// INI: [agent] listen, host, auth_strategy, token_file, log_format; one [process:NAME] per
// process with restart_command, check_command, timeout, check_interval. Any [agent] key is
// overridden by WARDEN_AGENT_<KEY> in `env`. Unknown sections and keys, bad values and a
// token strategy without token_file are errors naming the key.
Result<AgentConfig> ParseAgentConfig(const std::string& ini_text, const std::string& source,
                                     const std::map<std::string, std::string>& env);

// The agent's HTTP handler. `log` receives each formatted log line.
std::unique_ptr<api::HttpHandler> MakeAgentHandler(
    AgentConfig config, std::unique_ptr<api::Authenticator> auth,
    std::function<void(const std::string& line)> log);

struct AgentFlags {
  std::string config_path;
  bool check_config = false;
  std::string port_file;
};

// `warden agent`: 0 after SIGINT/SIGTERM, 2 for a bad configuration, 1 if it cannot start.
int RunAgent(const AgentFlags& flags);

}  // namespace warden::agent
