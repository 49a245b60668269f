#include "api/masakari_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "api/answers.h"
#include "api/call.h"
#include "api/handlers/handlers.h"
#include "api/microversion.h"
#include "api/response_cache.h"
#include "core/log_line.h"

namespace warden::api {
namespace {

using json = nlohmann::json;

// Who may call a route.
enum class Access {
  kPublic,  // anyone: version documents, health, readiness
  kToken,   // a valid token: /metrics
  kApi,     // a valid token, a microversion, and the policy: writes need the admin role
};

struct Route {
  const char* method;
  const char* path;    // literal segments and {parameters}; logged and counted as the route
  Access access;
  const char* policy;  // checked as os_masakari_api:<policy>
  Handler handler;
  bool inline_ok = false;  // answered on the network thread (needs no store, no waiting)
  bool live = false;       // asks the cloud: never answered from the response cache
  // Depends on the time as well as the store: a cached answer lasts at most this long.
  int64_t cache_seconds = 0;
};

// Every endpoint. A path not listed is 404; a path listed with other methods is 405.
// Masakari also routes /v1/{project_id}/...: the project id is dropped before matching.
const Route kRoutes[] = {
    // method   path                                         access          policy
    {"GET",    "/",                                          Access::kPublic, "",                      Versions, true},
    {"GET",    "/v1/",                                       Access::kPublic, "",                      VersionV1, true},
    {"GET",    "/healthz",                                   Access::kPublic, "",                      Healthz, true},
    {"GET",    "/readyz",                                    Access::kPublic, "",                      Readyz},
    {"GET",    "/metrics",                                   Access::kToken,  "",                      Metrics},
    {"GET",    "/whoami",                                    Access::kToken,  "",                      WhoAmI},  // Warden's
    {"GET",    "/signin",                                    Access::kPublic, "",                      SignInMethods, true},  // Warden's
    {"POST",   "/signin",                                    Access::kPublic, "",                      SignIn},  // Warden's
    {"GET",    "/dashboard",                                 Access::kPublic, "",                      ServeDashboard, true},
    {"GET",    "/dashboard/{asset}",                         Access::kPublic, "",                      ServeDashboard, true},
    {"GET",    "/v1/extensions",                             Access::kApi,    "extensions:index",      Extensions},
    {"GET",    "/v1/overview",                               Access::kApi,    "overview:index",        GetOverview, false, false, 10},  // Warden's
    {"GET",    "/v1/segments",                               Access::kApi,    "segments:index",        ListSegments},
    {"POST",   "/v1/segments",                               Access::kApi,    "segments:create",       CreateSegment},
    {"GET",    "/v1/segments/{id}",                          Access::kApi,    "segments:detail",       ShowSegment},
    {"PUT",    "/v1/segments/{id}",                          Access::kApi,    "segments:update",       UpdateSegment},
    {"DELETE", "/v1/segments/{id}",                          Access::kApi,    "segments:delete",       DeleteSegment},
    {"GET",    "/v1/segments/{id}/headroom",                 Access::kApi,    "segments:headroom",     SegmentHeadroom, false, true},  // Warden's
    {"GET",    "/v1/segments/{id}/hosts",                    Access::kApi,    "os-hosts:index",        ListHosts},
    {"POST",   "/v1/segments/{id}/hosts",                    Access::kApi,    "os-hosts:create",       CreateHost},
    {"GET",    "/v1/segments/{id}/hosts/{host_id}",          Access::kApi,    "os-hosts:detail",       ShowHost},
    {"PUT",    "/v1/segments/{id}/hosts/{host_id}",          Access::kApi,    "os-hosts:update",       UpdateHost},
    {"DELETE", "/v1/segments/{id}/hosts/{host_id}",          Access::kApi,    "os-hosts:delete",       DeleteHost},
    {"POST",   "/v1/segments/{id}/hosts/{host_id}/action",   Access::kApi,    "os-hosts:action",       HostAction},  // Warden's
    {"GET",    "/v1/notifications",                          Access::kApi,    "notifications:index",   ListNotifications},
    {"POST",   "/v1/notifications",                          Access::kApi,    "notifications:create",  CreateNotification},
    {"GET",    "/v1/notifications/{id}",                     Access::kApi,    "notifications:detail",  ShowNotification},
    {"POST",   "/v1/notifications/{id}/action",              Access::kApi,    "notifications:action",  NotificationAction},  // Warden's
    {"GET",    "/v1/notifications/{id}/vmoves",              Access::kApi,    "vmoves:index",          ListVMoves},  // Warden's
    {"GET",    "/v1/notifications/{id}/vmoves/{vmove_id}",   Access::kApi,    "vmoves:detail",         ShowVMove},  // Warden's
    {"GET",    "/v1/vmoves",                                 Access::kApi,    "vmoves:index",          ListRecentVMoves},  // Warden's
};

// Masakari's default project_id_regex: hex digits and dashes.
bool IsProjectIdSegment(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
  });
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

// Whether `path` (split) is route number `i`'s path; its {parameters} go to `params`.
bool Matches(size_t i, const std::vector<std::string>& path, std::vector<std::string>* params) {
  static const std::vector<std::vector<std::string>> patterns = [] {
    std::vector<std::vector<std::string>> split;
    for (const Route& route : kRoutes) split.push_back(SplitPath(route.path));
    return split;
  }();
  const std::vector<std::string>& pattern = patterns[i];
  if (pattern.size() != path.size()) return false;
  params->clear();
  for (size_t k = 0; k < path.size(); ++k) {
    if (pattern[k].front() == '{') {
      params->push_back(path[k]);
    } else if (pattern[k] != path[k]) {
      return false;
    }
  }
  return true;
}

}  // namespace

MasakariApi::MasakariApi(ha::HaService& service, store::Store& store, const Authenticator& auth,
                         const Clock& clock, ApiMetrics& metrics, ApiOptions options)
    : store_(store),
      auth_(auth),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)) {
  context_.reset(new ApiContext{service, store_, auth_, clock_, metrics_, options_,
                                [this](Call& call, HttpResponse response) {
                                  return Finish(call, std::move(response));
                                }});
  // Ten password sign-ins a minute per address, four at once (sign_in_gate.h).
  sign_ins_ = std::make_unique<SignInGate>(10, 4);
  context_->sign_ins = sign_ins_.get();
  if (options_.response_cache_entries > 0) {
    cache_ = std::make_unique<ResponseCache>(options_.response_cache_entries,
                                             options_.response_cache_bytes);
  }
}

MasakariApi::~MasakariApi() = default;

HttpResponse MasakariApi::Handle(const HttpRequest& request) {
  auto call = std::make_shared<Call>(request, clock_.Monotonic());
  return Finish(*call, *RouteGuarded(*call, /*inline_only=*/false));
}

bool MasakariApi::HandleWithoutBlocking(std::shared_ptr<const HttpRequest> request,
                                        Responder respond) {
  auto call = std::make_shared<Call>(*request, clock_.Monotonic());
  call->owner = std::move(request);
  call->respond = std::move(respond);
  std::optional<HttpResponse> response = RouteGuarded(*call, /*inline_only=*/true);
  if (call->deferred) return true;
  if (!response) return false;
  call->respond([this, call, response = std::move(*response)]() mutable {
    return Finish(*call, std::move(response));
  });
  return true;
}

std::optional<HttpResponse> MasakariApi::RouteGuarded(Call& call, bool inline_only) {
  try {
    auto response = Route(call, inline_only);
    if (response || inline_only) return response;
  } catch (const std::exception& e) {
    spdlog::error("{}",
                  FormatLogLine(CurrentLogFormat(), clock_.Now(), "error", "unexpected exception",
                                {{"request_id", call.request_id}, {"what", e.what()}}));
  }
  return FaultResponse(500, "masakariFault",
                       "Unexpected API Error. Please report this at your operator.");
}

HttpResponse MasakariApi::Finish(Call& call, HttpResponse response) const {
  const HttpRequest& request = call.request;
  response.headers.emplace_back("X-Openstack-Request-Id", call.request_id);
  if (call.is_api) {
    std::string v = "1." + std::to_string(call.version.minor);
    response.headers.emplace_back("OpenStack-API-Version",
                                  (response.status < 400 ? "masakari " : "instance-ha ") + v);
    response.headers.emplace_back("Vary", "OpenStack-API-Version");
  }
  if (response.status == 204) response.content_type.clear();
  const double seconds = double(clock_.Monotonic() - call.start) / 1e6;
  metrics_.ObserveRequest(request.method, call.route, response.status, seconds);
  Log(call, response, seconds);
  return response;
}

std::optional<HttpResponse> MasakariApi::Route(Call& call, bool inline_only) {
  const HttpRequest& r = call.request;
  std::vector<std::string> p = SplitPath(r.path);
  if (p.size() >= 3 && p[0] == "v1" && IsProjectIdSegment(p[1])) p.erase(p.begin() + 1);
  const std::string& m = r.method;
  auto method_not_allowed = [&] {
    return FaultResponse(405, "badMethod",
                         "The request method: '" + m + "' is not allowed on this resource.");
  };
  auto not_found = [] {
    return FaultResponse(404, "itemNotFound", "The resource could not be found.");
  };

  // The path's routes: one per method it allows.
  const ::warden::api::Route* route = nullptr;
  const ::warden::api::Route* path_route = nullptr;
  std::vector<std::string> params;
  for (size_t i = 0; i < std::size(kRoutes); ++i) {
    const auto& candidate = kRoutes[i];
    if (!Matches(i, p, &params)) continue;
    path_route = &candidate;
    if (candidate.method == m) {
      route = &candidate;
      break;
    }
  }
  // Outside /v1 an unknown path is refused before authentication; inside, after it.
  if (path_route == nullptr && (p.empty() || p[0] != "v1")) return not_found();
  const Access access = path_route != nullptr ? path_route->access : Access::kApi;

  if (path_route != nullptr && access == Access::kPublic) {
    call.route = path_route->path;
    if (route == nullptr) return method_not_allowed();
    if (inline_only && !route->inline_ok) return std::nullopt;
    return route->handler(*context_, call);
  }

  // On the network thread only what needs no other service (a cached Keystone verdict).
  std::optional<Result<Principal>> principal;
  if (inline_only) {
    principal = auth_.AuthenticateWithoutBlocking(r);
    if (!principal) return std::nullopt;
  } else {
    principal = auth_.Authenticate(r);
  }
  if (!*principal) {
    HttpResponse refused = ErrorResponse(principal->error());
    if (refused.status == 401) {
      if (std::string challenge = auth_.Challenge(); !challenge.empty()) {
        refused.headers.emplace_back("WWW-Authenticate", std::move(challenge));
      }
    }
    return refused;
  }
  call.principal = **principal;
  if (access == Access::kToken) {
    call.route = path_route->path;
    if (route == nullptr) return method_not_allowed();
    if (inline_only) return std::nullopt;
    return route->handler(*context_, call);
  }

  // /v1/...: microversion headers on every answer from here.
  call.is_api = true;
  if (path_route == nullptr) return not_found();
  call.route = path_route->path;
  if (route == nullptr) return method_not_allowed();
  call.params = std::move(params);

  HttpResponse not_acceptable;
  auto version = RequestedVersion(r, &not_acceptable);
  if (!version) {
    if (not_acceptable.status == 406) return not_acceptable;
    return ErrorResponse(version.error());
  }
  call.version = *version;

  if (m != "GET" && call.principal->role != Role::kAdmin) {
    return FaultResponse(403, "forbidden",
                         "Policy doesn't allow os_masakari_api:" + std::string(route->policy) +
                             " to be performed.");
  }

  // Reads may be answered from the cache; everything else needs the store.
  std::string cache_key;
  int64_t generation = 0;
  if (m == "GET" && cache_ != nullptr && !route->live) {
    cache_key = std::to_string(call.version.minor) + ' ' + r.target;
    if (route->cache_seconds > 0) {
      cache_key += " @" + std::to_string(clock_.Now() / (route->cache_seconds * 1'000'000));
    }
    generation = store_.GetStats().generation;
    if (auto hit = cache_->Find(cache_key, generation)) {
      metrics_.ObserveResponseCache(true);
      return *hit;
    }
  }
  const bool async_create = route->handler == CreateNotification && call.respond;
  // The N+1 check waits for the cloud: answered later, holding no thread meanwhile.
  // (Without an engine the worker's path answers: an unknown segment is 404 before the 409.)
  const bool async_headroom =
      route->handler == SegmentHeadroom && call.respond && context_->Engine().has_value();
  if (inline_only && !async_create && !async_headroom) return std::nullopt;
  if (!cache_key.empty()) {
    metrics_.ObserveResponseCache(false);
    HttpResponse response = route->handler(*context_, call);
    if (response.status == 200) cache_->Put(cache_key, generation, response);
    return response;
  }

  if (m == "POST" || m == "PUT") {
    if (!IsJsonContentType(r)) {
      return FaultResponse(415, "badMediaType", "Unsupported Content-Type");
    }
    // No request body of this API nests deeper than 3; refuse absurd nesting early.
    constexpr int kMaxDepth = 32;
    bool too_deep = false;
    try {
      call.body = json::parse(r.body, [&](int depth, json::parse_event_t, json&) {
        if (depth > kMaxDepth) {
          too_deep = true;
          throw std::length_error("nesting");
        }
        return true;
      });
    } catch (const std::exception&) {
      return FaultResponse(400, "badRequest",
                           too_deep ? "Malformed request body: nested deeper than 32 levels"
                                    : "Malformed request body");
    }
  }

  if (async_create) {
    CreateNotificationAsync(*context_, call.shared_from_this());
    return std::nullopt;
  }
  if (async_headroom) {
    SegmentHeadroomAsync(*context_, call.shared_from_this());
    return std::nullopt;
  }
  return route->handler(*context_, call);
}

// --- access log ----------------------------------------------------------------------------

void MasakariApi::Log(const Call& call, const HttpResponse& response, double seconds) const {
  if (options_.access_log == AccessLogFormat::kOff) return;
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", seconds * 1000);
  const std::string status = std::to_string(response.status);
  std::string line = FormatLogLine(
      options_.access_log == AccessLogFormat::kJson ? LogFormat::kJson : LogFormat::kLogfmt,
      clock_.Now(), "info", "request",
      {{"method", call.request.method},
       {"route", call.route},
       {"path", call.request.path},
       {"status", status},
       {"duration_ms", duration},
       {"request_id", call.request_id},
       {"user", call.principal ? std::string_view(call.principal->name) : "-"},
       {"peer", call.request.peer}});
  if (options_.access_log_sink) {
    options_.access_log_sink(line);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace warden::api
