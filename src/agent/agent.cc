#include "agent/agent.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "api/http_server.h"
#include "core/clock.h"
#include "core/daemon.h"
#include "core/domain.h"
#include "core/log_line.h"
#include "core/strings.h"
#include "core/subprocess.h"
#include "core/time.h"

namespace warden::agent {
namespace {

using json = nlohmann::json;

bool PlainName(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '@')) {
      return false;
    }
  }
  return true;
}

Result<void> SetAgentKey(AgentConfig& c, const std::string& key, const std::string& value,
                         const std::string& where) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument(where + "[agent] " + key + ": " + why);
  };
  if (key == "listen") {
    auto hp = ParseListenAddress(value);
    if (!hp) return bad(hp.error().message());
    c.listen_host = hp->host;
    c.listen_port = hp->port;
  } else if (key == "host") {
    if (value.empty()) return bad("must not be empty");
    c.host = value;
  } else if (key == "auth_strategy") {
    if (value != "token" && value != "noauth") return bad("token or noauth, got '" + value + "'");
    c.auth_strategy = value;
  } else if (key == "token_file") {
    c.token_file = value;
  } else if (key == "log_format") {
    if (value != "logfmt" && value != "json") return bad("logfmt or json, got '" + value + "'");
    c.log_format = value;
  } else {
    return InvalidArgument(where + "unknown key [agent] " + key +
                           " (listen, host, auth_strategy, token_file, log_format)");
  }
  return {};
}

Result<void> SetProcessKey(ProcessSpec& p, const std::string& key, const std::string& value,
                           const std::string& where) {
  const std::string section = "[process:" + p.name + "] ";
  auto duration = [&](int64_t& out) -> Result<void> {
    auto d = ParseDurationMicros(value);
    if (!d || *d <= 0) {
      return InvalidArgument(where + section + key + ": a positive duration (30s, 2m), got '" +
                             value + "'");
    }
    out = *d;
    return {};
  };
  if (key == "restart_command") {
    p.restart_command = value;
  } else if (key == "check_command") {
    p.check_command = value;
  } else if (key == "timeout") {
    return duration(p.timeout_micros);
  } else if (key == "check_interval") {
    return duration(p.check_interval_micros);
  } else {
    return InvalidArgument(where + "unknown key " + section + key +
                           " (restart_command, check_command, timeout, check_interval)");
  }
  return {};
}

// ------------------------------------------------------------------------------ handler

struct LastRestart {
  WallMicros at = 0;
  bool ok = false;
  std::string message;
  int64_t duration_ms = 0;
};

api::HttpResponse Json(int status, const json& body) {
  api::HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

class AgentHandler final : public api::HttpHandler {
 public:
  AgentHandler(AgentConfig config, std::unique_ptr<api::Authenticator> auth,
               std::function<void(const std::string&)> log)
      : c_(std::move(config)), auth_(std::move(auth)), log_(std::move(log)) {}

  api::HttpResponse Handle(const api::HttpRequest& request) override {
    const MonoMicros start = clock_.Monotonic();
    std::string who = "-";
    api::HttpResponse r = Route(request, who);
    Log("info", "request",
        {{"method", request.method},
         {"path", request.path},
         {"status", std::to_string(r.status)},
         {"duration_ms", std::to_string((clock_.Monotonic() - start) / 1000)},
         {"user", who},
         {"peer", request.peer}});
    return r;
  }

 private:
  api::HttpResponse Route(const api::HttpRequest& req, std::string& who) {
    if (req.path == "/healthz") {
      if (req.method != "GET") return api::FaultResponse(405, "methodNotAllowed", "GET only");
      return Json(200, {{"status", "ok"}});
    }
    const bool info = req.path == "/v1/agent";
    static const std::string kPrefix = "/v1/agent/processes/";
    static const std::string kSuffix = "/restart";
    const bool restart =
        req.path.size() > kPrefix.size() + kSuffix.size() && req.path.rfind(kPrefix, 0) == 0 &&
        req.path.compare(req.path.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
    if (!info && !restart) return api::FaultResponse(404, "itemNotFound", "no route " + req.path);
    auto principal = auth_->Authenticate(req);
    if (!principal) {
      if (principal.error().code() == ErrorCode::kPermissionDenied) {
        return api::FaultResponse(403, "forbidden", principal.error().message());
      }
      return api::FaultResponse(401, "unauthorized", principal.error().message());
    }
    who = principal->name;
    if (info) {
      if (req.method != "GET") return api::FaultResponse(405, "methodNotAllowed", "GET only");
      return Info(principal->role == api::Role::kAdmin);
    }
    if (req.method != "POST") return api::FaultResponse(405, "methodNotAllowed", "POST only");
    if (principal->role != api::Role::kAdmin) {
      return api::FaultResponse(403, "forbidden", "restarting a process needs the admin role");
    }
    const std::string name =
        req.path.substr(kPrefix.size(), req.path.size() - kPrefix.size() - kSuffix.size());
    return Restart(name, req);
  }

  // The commands only to admins: they may hold what a reader should not see.
  api::HttpResponse Info(bool admin) {
    json procs = json::array();
    std::lock_guard lock(mu_);
    for (const ProcessSpec& p : c_.processes) {
      json entry = {{"name", p.name},
                    {"timeout_seconds", p.timeout_micros / 1'000'000},
                    {"restarting", running_.contains(p.name)},
                    {"last_restart", nullptr}};
      if (admin) {
        entry["restart_command"] = p.restart_command;
        entry["check_command"] = p.check_command;
      }
      if (auto it = last_.find(p.name); it != last_.end()) {
        entry["last_restart"] = {{"at", FormatIsoTime(it->second.at)},
                                 {"ok", it->second.ok},
                                 {"message", it->second.message},
                                 {"duration_ms", it->second.duration_ms}};
      }
      procs.push_back(std::move(entry));
    }
    return Json(200, {{"agent", {{"host", c_.host}, {"processes", std::move(procs)}}}});
  }

  api::HttpResponse Restart(const std::string& name, const api::HttpRequest& req) {
    const ProcessSpec* spec = nullptr;
    for (const ProcessSpec& p : c_.processes) {
      if (p.name == name) spec = &p;
    }
    if (spec == nullptr) {
      return api::FaultResponse(404, "itemNotFound",
                                "process " + name + " is not configured on " + c_.host);
    }
    {
      std::lock_guard lock(mu_);
      if (!running_.insert(name).second) {
        return api::FaultResponse(409, "conflict", "a restart of " + name + " is already running");
      }
    }
    // The server sends the notification it acts for (for the log) and how long it waits:
    // the restart never goes on after the server has given up on it.
    std::string notification = "-";
    int64_t timeout = spec->timeout_micros;
    if (!req.body.empty()) {
      json body = json::parse(req.body, nullptr, false);
      if (body.is_object() && body.contains("notification_uuid") &&
          body["notification_uuid"].is_string()) {
        notification = body["notification_uuid"].get<std::string>();
      }
      if (body.is_object() && body.contains("timeout_seconds") &&
          body["timeout_seconds"].is_number_integer() && body["timeout_seconds"] > 0) {
        timeout = std::min(timeout, body["timeout_seconds"].get<int64_t>() * 1'000'000);
      }
    }
    Log("info", "restarting process",
        {{"process", name},
         {"notification", notification},
         {"timeout_s", std::to_string(timeout / 1'000'000)}});
    const MonoMicros start = clock_.Monotonic();
    Result<std::optional<bool>> outcome = RunRestart(*spec, start, timeout);
    const int64_t took_ms = (clock_.Monotonic() - start) / 1000;
    LastRestart last{.at = clock_.Now(), .ok = outcome.has_value(), .duration_ms = took_ms};
    last.message = outcome ? "restarted" : outcome.error().message();
    {
      std::lock_guard lock(mu_);
      running_.erase(name);
      last_[name] = last;
    }
    if (!outcome) {
      Log("error", "process restart failed",
          {{"process", name}, {"error", last.message}, {"duration_ms", std::to_string(took_ms)}});
      return api::FaultResponse(
          500, "restartFailed",
          "restart of " + name + " on " + c_.host + " failed: " + last.message);
    }
    Log("info", "process restarted", {{"process", name}, {"duration_ms", std::to_string(took_ms)}});
    json running = outcome->has_value() ? json(**outcome) : json(nullptr);
    return Json(
        200, {{"restart",
               {{"process", name},
                {"host", c_.host},
                {"running", running},
                {"confirmed_by", spec->check_command.empty() ? "restart_command" : "check_command"},
                {"duration_ms", took_ms}}}});
  }

  // Ok(true): confirmed running by the check; Ok(nullopt): no check configured.
  Result<std::optional<bool>> RunRestart(const ProcessSpec& p, MonoMicros start, int64_t timeout) {
    const MonoMicros deadline = start + timeout;
    auto left = [&] { return deadline - clock_.Monotonic(); };
    auto restarted = RunCommand(p.restart_command, "", left());
    if (!restarted) {
      return MakeError(restarted.error().code(), "restart_command: " + restarted.error().message());
    }
    if (p.check_command.empty()) return std::optional<bool>();
    std::string last_failure;
    while (left() > 0) {
      auto checked = RunCommand(p.check_command, "", left());
      if (checked) return std::optional<bool>(true);
      last_failure = checked.error().message();
      const int64_t wait = std::min(p.check_interval_micros, left());
      if (wait <= 0) break;
      clock_.SleepFor(wait);
    }
    return MakeError(ErrorCode::kDeadlineExceeded,
                     "not running " + std::to_string(timeout / 1'000'000) +
                         " s after the restart (check_command: " + last_failure + ")");
  }

  void Log(const char* level, std::string_view msg, std::initializer_list<LogField> fields) {
    if (!log_) return;
    log_(FormatLogLine(format_, clock_.Now(), level, msg, fields));
  }

  const AgentConfig c_;
  const std::unique_ptr<api::Authenticator> auth_;
  const std::function<void(const std::string&)> log_;
  const LogFormat format_ = c_.log_format == "json" ? LogFormat::kJson : LogFormat::kLogfmt;
  const RealClock clock_;
  std::mutex mu_;
  std::set<std::string> running_;            // guarded by mu_
  std::map<std::string, LastRestart> last_;  // guarded by mu_
};

}  // namespace

Result<AgentConfig> ParseAgentConfig(const std::string& ini_text, const std::string& source,
                                     const std::map<std::string, std::string>& env) {
  AgentConfig c;
  auto lines = ReadIniLines(ini_text, source);
  if (!lines) return std::unexpected(lines.error());
  std::set<std::string> seen;  // "section.key"
  for (const IniLine& line : *lines) {
    const std::string& where = line.where;
    const std::string& section = line.section;
    if (line.is_section) {
      if (section.rfind("process:", 0) == 0) {
        const std::string name = section.substr(8);
        if (!PlainName(name)) {
          return InvalidArgument(where + "[" + section +
                                 "]: a process needs a plain name (letters, digits, - _ . @)");
        }
        for (const ProcessSpec& p : c.processes) {
          if (p.name == name) return InvalidArgument(where + "[" + section + "] appears twice");
        }
        c.processes.push_back({.name = name});
      } else if (section != "agent" && section != "DEFAULT") {
        return InvalidArgument(where + "unknown section [" + section + "] (agent, process:NAME)");
      }
      continue;
    }
    if (!seen.insert(section + "." + line.key).second) {
      return InvalidArgument(where + "[" + section + "] " + line.key + " is set twice");
    }
    Result<void> r;
    if (section == "agent") {
      r = SetAgentKey(c, line.key, line.value, where);
    } else if (section == "DEFAULT") {
      r = InvalidArgument(where + "unknown key [DEFAULT] " + line.key +
                          " (the agent's keys are in [agent])");
    } else {
      r = SetProcessKey(c.processes.back(), line.key, line.value, where);
    }
    if (!r) return std::unexpected(r.error());
  }
  for (const auto& [var, value] : env) {
    static const std::string kPrefix = "WARDEN_AGENT_";
    if (var.rfind(kPrefix, 0) != 0) continue;
    std::string key = var.substr(kPrefix.size());
    for (char& ch : key) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (auto r = SetAgentKey(c, key, value, "environment " + var + ": "); !r) {
      return std::unexpected(r.error());
    }
  }
  for (const ProcessSpec& p : c.processes) {
    if (p.restart_command.empty()) {
      return InvalidArgument(source + ": [process:" + p.name + "] restart_command is required");
    }
  }
  if (c.auth_strategy == "token" && c.token_file.empty()) {
    return InvalidArgument(source +
                           ": [agent] token_file: required with auth_strategy = token (create "
                           "one with `warden token create --name server --file FILE`)");
  }
  if (c.auth_strategy == "noauth" && !IsLoopbackHost(c.listen_host)) {
    return InvalidArgument(source +
                           ": [agent] auth_strategy: noauth is refused unless listen is "
                           "a loopback address (got " +
                           c.listen_host + ")");
  }
  if (c.host.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
      return InvalidArgument(source + ": [agent] host: not set and the host name is unknown");
    }
    c.host = name;
  }
  return c;
}

std::unique_ptr<api::HttpHandler> MakeAgentHandler(AgentConfig config,
                                                   std::unique_ptr<api::Authenticator> auth,
                                                   std::function<void(const std::string&)> log) {
  return std::make_unique<AgentHandler>(std::move(config), std::move(auth), std::move(log));
}

int RunAgent(const AgentFlags& flags) {
  if (flags.config_path.empty()) {
    std::fprintf(stderr, "warden agent: --config FILE is required\n");
    return 2;
  }
  std::ifstream f(flags.config_path);
  if (!f) {
    std::fprintf(stderr, "warden agent: cannot read %s\n", flags.config_path.c_str());
    return 2;
  }
  std::stringstream text;
  text << f.rdbuf();
  auto config = ParseAgentConfig(text.str(), flags.config_path, EnvironmentMap());
  if (!config) {
    std::fprintf(stderr, "warden agent: %s\n", config.error().message().c_str());
    return 2;
  }
  Result<std::unique_ptr<api::Authenticator>> auth =
      config->auth_strategy == "noauth" ? api::MakeNoAuthAuthenticator()
                                        : api::MakeTokenAuthenticator(config->token_file);
  if (!auth) {
    std::fprintf(stderr, "warden agent: [agent] token_file: %s\n", auth.error().message().c_str());
    return 2;
  }
  if (flags.check_config) {
    std::printf("host = %s\nlisten = %s:%u\nauth_strategy = %s\n", config->host.c_str(),
                config->listen_host.c_str(), unsigned(config->listen_port),
                config->auth_strategy.c_str());
    for (const ProcessSpec& p : config->processes) {
      std::printf("process %s: restart_command = %s; check_command = %s; timeout = %llds\n",
                  p.name.c_str(), p.restart_command.c_str(),
                  p.check_command.empty() ? "(none)" : p.check_command.c_str(),
                  static_cast<long long>(p.timeout_micros / 1'000'000));
    }
    std::printf("configuration OK\n");
    return 0;
  }
  const sigset_t signals = BlockStopSignals();
  std::mutex log_mu;
  auto log = [&log_mu](const std::string& line) {
    std::lock_guard lock(log_mu);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  };
  const LogFormat format = config->log_format == "json" ? LogFormat::kJson : LogFormat::kLogfmt;
  api::HttpServerOptions options;
  options.address = config->listen_host;
  options.port = config->listen_port;
  options.worker_threads = 4;
  options.max_connections = 64;
  // A restart may take its whole timeout; the server's request waits that long.
  const std::string host = config->host;
  const size_t processes = config->processes.size();
  auto handler = MakeAgentHandler(std::move(*config), std::move(*auth), log);
  auto server = api::StartHttpServer(options, *handler);
  if (!server) {
    log(FormatLogLine(format, RealClock().Now(), "error", "cannot start",
                      {{"error", server.error().message()}}));
    return 1;
  }
  log(FormatLogLine(format, RealClock().Now(), "info", "agent started",
                    {{"host", host},
                     {"port", std::to_string((*server)->port())},
                     {"processes", std::to_string(processes)}}));
  if (!flags.port_file.empty()) {
    if (auto w = WritePortFile(flags.port_file, (*server)->port()); !w) {
      log(FormatLogLine(format, RealClock().Now(), "error", "cannot start",
                        {{"error", "--port-file: " + w.error().message()}}));
      (*server)->Stop();
      return 1;
    }
  }
  const int sig = WaitForStopSignal(signals);
  log(FormatLogLine(format, RealClock().Now(), "info", "stopping", {{"signal", SignalName(sig)}}));
  (*server)->Stop();
  return 0;
}

}  // namespace warden::agent
