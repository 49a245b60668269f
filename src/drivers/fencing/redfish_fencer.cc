#include "drivers/fencing/redfish_fencer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "openstack/json_fields.h"

namespace warden::drivers {

using nlohmann::json;
using openstack::StringAt;

namespace {

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 |
                       uint8_t(in[i + 2]);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
            kAlphabet[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

// "https://bmc:8443/anything" → "https://bmc:8443".
std::string Origin(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? url : url.substr(0, slash);
}

// Redfish's error body: {"error": {"message": .., "@Message.ExtendedInfo": [{"Message": ..}]}}.
std::string RedfishMessage(const net::HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end() && e->is_object()) {
      if (auto x = e->find("@Message.ExtendedInfo"); x != e->end() && x->is_array()) {
        for (const auto& info : *x) {
          if (info.is_object() && !StringAt(info, "Message").empty()) return StringAt(info, "Message");
        }
      }
      if (!StringAt(*e, "message").empty()) return StringAt(*e, "message");
    }
  }
  std::string body = r.body.substr(0, 200);
  std::replace(body.begin(), body.end(), '\n', ' ');
  return body.empty() ? "no details" : body;
}

Result<PowerState> ParsePowerState(const json& system) {
  const std::string s = StringAt(system, "PowerState");
  if (s == "Off") return PowerState::kOff;
  // PoweringOff is not off yet; PoweringOn and Paused are running.
  if (s == "On" || s == "PoweringOn" || s == "PoweringOff" || s == "Paused") return PowerState::kOn;
  return PowerState::kUnknown;
}

}  // namespace

Result<void> ValidateRedfishUrl(const std::string& url) {
  const bool http = url.rfind("http://", 0) == 0, https = url.rfind("https://", 0) == 0;
  if (!http && !https) return InvalidArgument("'" + url + "' is not an http:// or https:// URL");
  const std::string origin = Origin(url);
  if (origin.size() <= (https ? 8u : 7u)) return InvalidArgument("'" + url + "' names no host");
  return {};
}

namespace {

class RedfishFencer final : public internal::BmcFencer {
 public:
  RedfishFencer(EventLoop& loop, RedfishOptions options)
      : BmcFencer(loop, options.name, options.hosts, options.retry),
        impl_(std::make_shared<Impl>(loop, std::move(options))) {
    impl_->pool = std::make_unique<net::HttpPool>(1, impl_->o.tls);
  }
  ~RedfishFencer() override {
    impl_->stopping = true;
    impl_->pool.reset();  // waits for the request in flight
  }

 protected:
  std::function<void(Callback<void>)> PowerOffOnce() override {
    return [impl = impl_](Callback<void> cb) {
      impl->Run<void>([impl](net::HttpClient& http) { return impl->ForceOff(http); }, cb);
    };
  }
  std::function<void(Callback<PowerState>)> PowerStateOnce() override {
    return [impl = impl_](Callback<PowerState> cb) {
      impl->Run<PowerState>(
          [impl](net::HttpClient& http) -> Result<PowerState> {
            auto system = impl->ReadSystem(http);
            if (!system) return std::unexpected(system.error());
            return ParsePowerState(*system);
          },
          cb);
    };
  }

 private:
  struct Impl : std::enable_shared_from_this<Impl> {
    Impl(EventLoop& l, RedfishOptions opt)
        : loop(l), o(std::move(opt)), origin(Origin(o.url)),
          authorization("Basic " + Base64(o.credentials.username + ":" + o.credentials.password)),
          system_path(o.system) {}

    // On the loop: runs `work` on the HTTP thread, answers on the loop.
    template <typename T>
    void Run(std::function<Result<T>(net::HttpClient&)> work, Callback<T> done) {
      if (stopping || !pool) {
        loop.Post([done] { done(Unavailable("fencer stopped")); });
        return;
      }
      auto finish = BindToLoop<Result<T>>(loop, [done](Result<T> r) { done(std::move(r)); });
      pool->Submit([work, finish, self = shared_from_this()](net::HttpClient& http) mutable {
        if (self->stopping) return finish(Unavailable("fencer stopped"));
        try {
          finish(work(http));
        } catch (const std::exception& e) {
          // A BMC answer the parsing did not expect is an error of this call, never a hang.
          finish(Internal(std::string("unexpected answer from the BMC: ") + e.what()));
        }
      });
    }

    // --- on the HTTP thread --------------------------------------------------------------------
    std::string Prefix() const { return "redfish " + o.name + " (" + origin + ")"; }

    Result<net::HttpResponse> Send(net::HttpClient& http, const std::string& method,
                                   const std::string& path, const std::string& body = "") {
      net::HttpRequest req;
      req.method = method;
      req.url = origin + path;
      req.headers = {{"Authorization", authorization}, {"Accept", "application/json"},
                     {"OData-Version", "4.0"}};
      if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
      req.body = body;
      req.timeout_micros = o.command_timeout_micros;
      auto r = http.Send(req);
      if (!r) return MakeError(r.error().code(), Prefix() + ": " + method + " " + path + ": " +
                                                     r.error().message());
      return r;
    }

    // A non-2xx answer as an error naming the request.
    Error Failure(const std::string& what, const net::HttpResponse& r) const {
      const std::string msg =
          Prefix() + ": " + what + " answered " + std::to_string(r.status) + ": " + RedfishMessage(r);
      if (r.status == 401) {
        return Error(ErrorCode::kPermissionDenied,
                     Prefix() + ": " + what + " answered 401: the BMC refused the credentials");
      }
      if (r.status == 403) return Error(ErrorCode::kPermissionDenied, msg);
      if (r.status == 404) return Error(ErrorCode::kNotFound, msg);
      if (r.status == 429 || r.status >= 500) return Error(ErrorCode::kUnavailable, msg);
      return Error(ErrorCode::kFailedPrecondition, msg);
    }

    Result<json> GetJson(net::HttpClient& http, const std::string& path) {
      auto r = Send(http, "GET", path);
      if (!r) return std::unexpected(r.error());
      if (r->status < 200 || r->status >= 300) return std::unexpected(Failure("GET " + path, *r));
      json j = json::parse(r->body, nullptr, false);
      if (!j.is_object()) return Internal(Prefix() + ": GET " + path + ": the answer is not a JSON object");
      return j;
    }

    Result<std::string> SystemPath(net::HttpClient& http) {
      {
        std::lock_guard lock(mu);
        if (!system_path.empty()) return system_path;
      }
      auto systems = GetJson(http, "/redfish/v1/Systems");
      if (!systems) return std::unexpected(systems.error());
      auto members = systems->find("Members");
      if (members == systems->end() || !members->is_array() || members->empty() ||
          !(*members)[0].is_object() || StringAt((*members)[0], "@odata.id").empty()) {
        return NotFound(Prefix() + ": /redfish/v1/Systems lists no system; set `system`");
      }
      std::lock_guard lock(mu);
      system_path = StringAt((*members)[0], "@odata.id");
      return system_path;
    }

    Result<json> ReadSystem(net::HttpClient& http) {
      auto path = SystemPath(http);
      if (!path) return std::unexpected(path.error());
      return GetJson(http, *path);
    }

    Result<void> ForceOff(net::HttpClient& http) {
      auto path = SystemPath(http);
      if (!path) return std::unexpected(path.error());
      auto system = GetJson(http, *path);
      if (!system) return std::unexpected(system.error());
      if (ParsePowerState(*system) == PowerState::kOff) return {};  // already off
      std::string target = *path + "/Actions/ComputerSystem.Reset";
      if (auto a = system->find("Actions"); a != system->end() && a->is_object()) {
        if (auto reset = a->find("#ComputerSystem.Reset"); reset != a->end() && reset->is_object()) {
          if (!StringAt(*reset, "target").empty()) target = StringAt(*reset, "target");
          auto allowed = reset->find("ResetType@Redfish.AllowableValues");
          if (allowed != reset->end() && allowed->is_array() &&
              std::find(allowed->begin(), allowed->end(), json("ForceOff")) == allowed->end()) {
            return FailedPrecondition(Prefix() + ": the system does not offer ResetType ForceOff (" +
                                      allowed->dump() + ")");
          }
        }
      }
      auto r = Send(http, "POST", target, json{{"ResetType", "ForceOff"}}.dump());
      if (!r) return std::unexpected(r.error());
      if (r->status >= 200 && r->status < 300) return {};
      // Some BMCs refuse ForceOff on a system that is (by now) off: that is what we wanted.
      if (r->status >= 400 && r->status < 500 && r->status != 401 && r->status != 403) {
        if (auto again = GetJson(http, *path); again && ParsePowerState(*again) == PowerState::kOff) {
          return {};
        }
      }
      return std::unexpected(Failure("POST " + target + " ForceOff", *r));
    }

    EventLoop& loop;
    const RedfishOptions o;
    const std::string origin;
    const std::string authorization;  // secret
    std::unique_ptr<net::HttpPool> pool;
    std::atomic<bool> stopping{false};
    std::mutex mu;
    std::string system_path;  // guarded by mu
  };

  std::shared_ptr<Impl> impl_;
};

}  // namespace

std::unique_ptr<Fencer> MakeRedfishFencer(EventLoop& loop, RedfishOptions options) {
  return std::make_unique<RedfishFencer>(loop, std::move(options));
}

}  // namespace warden::drivers
