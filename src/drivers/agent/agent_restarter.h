// The ProcessRestarter that asks each host's `warden agent` over HTTP:
// POST {url}/v1/agent/processes/{process}/restart with the agent's token.
//
// A 409 (a restart of the process already running there: Warden was restarted while the
// agent worked, or a second notification came for the same failure) is not a failure: that
// restart's outcome is this one's, read from GET {url}/v1/agent once it has finished.
#pragma once

#include <memory>
#include <string>

#include "core/event_loop.h"
#include "drivers/process_restarter.h"
#include "net/http_client.h"

namespace warden::drivers {

struct AgentRestarterOptions {
  // The agent's base URL; "{host}" is replaced by the host's name (http://{host}:15869).
  std::string url_template;
  std::string token;
  int64_t timeout_micros = 120'000'000;  // the whole call: the agent's restart and checks
  net::TlsOptions tls;
  int threads = 4;                           // restarts asked at once
  int64_t poll_interval_micros = 1'000'000;  // while a restart already under way is awaited
};

// The base URL for `host`, or an error if the template has no usable {host}.
Result<std::string> AgentUrlFor(const std::string& url_template, const std::string& host);

std::unique_ptr<ProcessRestarter> MakeAgentRestarter(EventLoop& loop,
                                                     AgentRestarterOptions options);

}  // namespace warden::drivers
