#include "drivers/agent/agent_restarter.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace warden::drivers {
namespace {

using json = nlohmann::json;

// The message of the agent's error body {"<fault>": {"code", "message"}}, or the body.
std::string FaultMessage(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.size() == 1) {
    const json& fault = j.begin().value();
    if (fault.is_object() && fault.contains("message") && fault["message"].is_string()) {
      return fault["message"].get<std::string>();
    }
  }
  return body.substr(0, 300);
}

// The entry of `process` in the agent's GET /v1/agent answer, or nullptr.
const json* ProcessEntry(const json& info, const std::string& process) {
  if (!info.is_object() || !info.contains("agent") || !info["agent"].is_object()) return nullptr;
  const json& agent = info["agent"];
  if (!agent.contains("processes") || !agent["processes"].is_array()) return nullptr;
  for (const json& p : agent["processes"]) {
    if (p.is_object() && p.value("name", "") == process) return &p;
  }
  return nullptr;
}

class AgentRestarter final : public ProcessRestarter {
 public:
  AgentRestarter(EventLoop& loop, AgentRestarterOptions o)
      : loop_(loop), o_(std::move(o)), pool_(std::max(1, o_.threads), o_.tls) {}

  // Restarts still queued are answered without being sent; one under way is waited for (the
  // pool, the last member, joins its threads before anything else of this goes).
  ~AgentRestarter() override { stopping_ = true; }

  void Restart(const std::string& host, const std::string& process,
               const std::string& notification_uuid, Callback<std::string> done) override {
    auto reply = BindToLoop<Result<std::string>>(loop_, std::move(done));
    auto base = AgentUrlFor(o_.url_template, host);
    if (!base) return reply(std::unexpected(base.error()));
    net::HttpRequest req;
    req.method = "POST";
    req.url = *base + "/v1/agent/processes/" + net::UrlEncode(process) + "/restart";
    req.headers = {{"Content-Type", "application/json"}, {"X-Auth-Token", o_.token}};
    // The agent gives up before we do (2 s of margin for the answer), so a restart never
    // goes on on the host after Warden has moved on to disabling the service.
    const int64_t agent_seconds = std::max<int64_t>(1, o_.timeout_micros / 1'000'000 - 2);
    req.body =
        json{{"notification_uuid", notification_uuid}, {"timeout_seconds", agent_seconds}}.dump();
    req.timeout_micros = o_.timeout_micros;
    pool_.Submit([this, req = std::move(req), reply, host, process,
                  base = *base](net::HttpClient& client) {
      if (stopping_) return reply(Unavailable("Warden is stopping: the agent was not asked"));
      // From when the call goes out, not from when it was queued behind other restarts.
      const MonoMicros deadline = RealClock().Monotonic() + o_.timeout_micros;
      auto r = client.Send(req);
      if (!r) {
        return reply(MakeError(r.error().code(), "the agent of " + host + " (" + req.url +
                                                     "): " + r.error().message()));
      }
      const std::string message = FaultMessage(r->body);
      switch (r->status) {
        case 200: {
          // Only a warden agent's account of this restart counts: a 200 from anything else
          // (agent_url pointing at another service) must not skip the recovery.
          json j = json::parse(r->body, nullptr, false);
          const json* restart = j.is_object() && j.contains("restart") && j["restart"].is_object()
                                    ? &j["restart"]
                                    : nullptr;
          if (restart == nullptr || restart->value("process", "") != process) {
            return reply(MakeError(ErrorCode::kAborted,
                                   req.url +
                                       " answered 200 without an account of the restart "
                                       "of " +
                                       process + ": is it a warden agent?"));
          }
          const bool confirmed = restart->value("running", false);
          return reply(process + " restarted on " + host + " by its agent" +
                       (confirmed ? " and confirmed running" : ""));
        }
        case 404:
          return reply(NotFound("the agent of " + host + ": " + message));
        case 401:
        case 403:
          return reply(MakeError(ErrorCode::kPermissionDenied,
                                 "the agent of " + host + " refused Warden's token (" +
                                     std::to_string(r->status) + "): " + message));
        case 409:
          return reply(AwaitRestartUnderWay(client, base, host, process, deadline));
        default:
          return reply(MakeError(
              ErrorCode::kAborted,
              "the agent of " + host + " answered " + std::to_string(r->status) + ": " + message));
      }
    });
  }

 private:
  // The outcome of the restart of `process` already running on `host`: its agent's account
  // once it is no longer restarting. Runs on a pool thread, polling in real time like the
  // HTTP calls' own timeouts; each poll waits at most kPollTimeout for its answer, and
  // stopping_ ends the wait at the next poll (the destructor waits for this thread).
  Result<std::string> AwaitRestartUnderWay(net::HttpClient& client, const std::string& base,
                                           const std::string& host, const std::string& process,
                                           MonoMicros deadline) {
    const RealClock clock;
    net::HttpRequest get;
    get.method = "GET";
    get.url = base + "/v1/agent";
    get.headers = {{"X-Auth-Token", o_.token}};
    const std::string who = "the agent of " + host;
    while (true) {
      if (stopping_) return Unavailable("Warden is stopping: stopped waiting for " + who);
      get.timeout_micros =
          std::clamp<int64_t>(deadline - clock.Monotonic(), 1'000'000, kPollTimeoutMicros);
      auto r = client.Send(get);
      if (!r) {
        return MakeError(r.error().code(), who + " (" + get.url + "): " + r.error().message());
      }
      if (r->status != 200) {
        return MakeError(ErrorCode::kAborted, who + " answered " + std::to_string(r->status) +
                                                  " to " + get.url + ": " + FaultMessage(r->body));
      }
      const json info = json::parse(r->body, nullptr, false);
      const json* entry = ProcessEntry(info, process);
      if (entry == nullptr) {
        return MakeError(ErrorCode::kAborted,
                         who + " does not list " + process + " (is it a warden agent?)");
      }
      if (!entry->value("restarting", false)) {
        const json last = entry->value("last_restart", json());
        if (last.is_object() && last.value("ok", false)) {
          return process + " restarted on " + host + " by its agent (a restart already under way)";
        }
        const std::string why = last.is_object() ? last.value("message", std::string("no reason"))
                                                 : std::string("no outcome recorded");
        return MakeError(
            ErrorCode::kAborted,
            "the restart of " + process + " already under way on " + host + " failed: " + why);
      }
      const int64_t left = deadline - clock.Monotonic();
      if (left <= 0) {
        return MakeError(ErrorCode::kDeadlineExceeded,
                         who + ": " + process + " was still restarting when Warden's wait (" +
                             std::to_string(o_.timeout_micros / 1'000'000) + " s) ended");
      }
      clock.SleepFor(std::min(left, o_.poll_interval_micros));
    }
  }

  static constexpr int64_t kPollTimeoutMicros = 5'000'000;

  EventLoop& loop_;
  const AgentRestarterOptions o_;
  std::atomic<bool> stopping_{false};
  net::HttpPool pool_;  // last: its threads end before the rest goes
};

}  // namespace

Result<std::string> AgentUrlFor(const std::string& url_template, const std::string& host) {
  // A host name, not a path or a userinfo: nothing that could change where the call goes.
  const bool plain = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
  if (!plain) {
    return InvalidArgument("host name '" + host + "' cannot be put into the agent URL");
  }
  const size_t at = url_template.find("{host}");
  if (at == std::string::npos) {
    return InvalidArgument("the agent URL '" + url_template + "' has no {host}");
  }
  std::string url = url_template;
  url.replace(at, 6, host);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::unique_ptr<ProcessRestarter> MakeAgentRestarter(EventLoop& loop,
                                                     AgentRestarterOptions options) {
  return std::make_unique<AgentRestarter>(loop, std::move(options));
}

}  // namespace warden::drivers
