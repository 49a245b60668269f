#include "drivers/agent/agent_restarter.h"

#include <nlohmann/json.hpp>

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

class AgentRestarter final : public ProcessRestarter {
 public:
  AgentRestarter(EventLoop& loop, AgentRestarterOptions o)
      : loop_(loop), o_(std::move(o)), pool_(std::max(1, o_.threads), o_.tls) {}

  void Restart(const std::string& host, const std::string& process,
               const std::string& notification_uuid, Callback<std::string> done) override {
    auto reply = BindToLoop<Result<std::string>>(loop_, std::move(done));
    auto base = AgentUrlFor(o_.url_template, host);
    if (!base) return reply(std::unexpected(base.error()));
    net::HttpRequest req;
    req.method = "POST";
    req.url = *base + "/v1/agent/processes/" + net::UrlEncode(process) + "/restart";
    req.headers = {{"Content-Type", "application/json"}, {"X-Auth-Token", o_.token}};
    req.body = json{{"notification_uuid", notification_uuid}}.dump();
    req.timeout_micros = o_.timeout_micros;
    pool_.Submit([req = std::move(req), reply, host, process](net::HttpClient& client) {
      auto r = client.Send(req);
      if (!r) {
        return reply(MakeError(r.error().code(),
                               "the agent of " + host + " (" + req.url + "): " +
                                   r.error().message()));
      }
      const std::string message = FaultMessage(r->body);
      switch (r->status) {
        case 200: {
          json j = json::parse(r->body, nullptr, false);
          const bool confirmed = j.is_object() && j.contains("restart") &&
                                 j["restart"].is_object() &&
                                 j["restart"].value("running", false);
          return reply(process + " restarted on " + host + " by its agent" +
                       (confirmed ? " and confirmed running" : ""));
        }
        case 404:
          return reply(NotFound("the agent of " + host + ": " + message));
        case 401:
        case 403:
          return reply(MakeError(ErrorCode::kPermissionDenied, "the agent of " + host + " refused Warden's token (" +
                                        std::to_string(r->status) + "): " + message));
        case 409:
          return reply(MakeError(ErrorCode::kAborted, "the agent of " + host + ": " + message));
        default:
          return reply(MakeError(ErrorCode::kAborted, "the agent of " + host + " answered " +
                                                          std::to_string(r->status) + ": " +
                                                          message));
      }
    });
  }

 private:
  EventLoop& loop_;
  const AgentRestarterOptions o_;
  net::HttpPool pool_;
};

}  // namespace

Result<std::string> AgentUrlFor(const std::string& url_template, const std::string& host) {
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
