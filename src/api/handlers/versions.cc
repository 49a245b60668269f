// The documents anyone may read — the version list (/), the v1 version (/v1/), health and
// readiness, the dashboard's sign-in — and, behind a token, the extension list, who the token
// is and Prometheus metrics.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/answers.h"
#include "api/handlers/handlers.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/views.h"
#include "api/microversion.h"
#include "core/time.h"

namespace warden::api {
namespace {

std::string HostUrl(const HttpRequest& r) {
  const std::string* host = r.Header("host");
  return "http://" + (host != nullptr && !host->empty() ? *host : std::string("localhost"));
}

}  // namespace

HttpResponse Versions(ApiContext& api, Call& call) {
  JsonWriter w;
  w.BeginObject().Key("versions").BeginArray();
  WriteVersion(w, HostUrl(call.request), false);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse VersionV1(ApiContext& api, Call& call) {
  JsonWriter w;
  w.BeginObject().Key("version");
  WriteVersion(w, HostUrl(call.request), true);
  w.EndObject();
  return JsonResponse(200, w);
}

// How a person signs in here (Warden's, for the dashboard): {"methods": ["password", "token"]}.
HttpResponse SignInMethods(ApiContext& api, Call&) {
  JsonWriter w;
  w.BeginObject().Key("methods").BeginArray();
  for (const std::string& m : api.auth.SignInMethods()) w.String(m);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

// A password exchanged for a token (Warden's, for the dashboard; with Keystone). The values are
// never echoed, logged or kept.
HttpResponse SignIn(ApiContext& api, Call& call) {
  const HttpRequest& r = call.request;
  if (!IsJsonContentType(r)) return FaultResponse(415, "badMediaType", "Unsupported Content-Type");
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
  if (!body.is_object()) {
    return FaultResponse(400, "badRequest", "The body must be a JSON object.");
  }
  PasswordSignIn in;
  const std::pair<const char*, std::string*> fields[] = {
      {"username", &in.username}, {"password", &in.password}, {"project", &in.project},
      {"user_domain", &in.user_domain}, {"project_domain", &in.project_domain}};
  for (const auto& [key, value] : body.items()) {
    auto f = std::find_if(std::begin(fields), std::end(fields),
                          [&](const auto& f) { return key == f.first; });
    if (f == std::end(fields)) {
      return FaultResponse(400, "badRequest", "Unknown field in the sign-in (only username, "
                                              "password, project, user_domain, project_domain).");
    }
    if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
        value.get_ref<const std::string&>().size() > 255) {
      return FaultResponse(400, "badRequest",
                           std::string("'") + f->first + "' must be a string of 1 to 255 characters.");
    }
    *f->second = value.get<std::string>();
  }
  for (const char* required : {"username", "password", "project"}) {
    if (!body.contains(required)) {
      return FaultResponse(400, "badRequest", std::string("'") + required + "' is required.");
    }
  }
  std::optional<SignInGate::Pass> pass;
  if (api.sign_ins != nullptr) {
    const int64_t wait = api.sign_ins->Enter(SignInGate::AddressOf(r.peer), api.clock.Monotonic());
    if (wait > 0) {
      HttpResponse busy = FaultResponse(
          429, "overLimit", "Too many sign-in attempts; try again in " + std::to_string(wait) + " s.");
      busy.headers.emplace_back("Retry-After", std::to_string(wait));
      return busy;
    }
    pass.emplace(*api.sign_ins);  // leaves the gate however the sign-in ends
  }
  auto token = api.auth.SignIn(in);
  if (!token) return ErrorResponse(token.error());
  JsonWriter w;
  w.BeginObject().Key("token").String(token->token).Key("expires_at");
  if (token->expires_at > 0) {
    w.String(FormatIsoTime(token->expires_at));
  } else {
    w.Null();
  }
  w.EndObject();
  HttpResponse out = JsonResponse(201, w);
  out.headers.emplace_back("Cache-Control", "no-store");
  return out;
}

// Who the token is (Warden's): the dashboard shows action buttons to admins only.
HttpResponse WhoAmI(ApiContext& api, Call& call) {
  JsonWriter w;
  w.BeginObject()
      .Key("name").String(call.principal ? call.principal->name : "")
      .Key("role").String(call.principal ? std::string(ToString(call.principal->role)) : "")
      .EndObject();
  return JsonResponse(200, w);
}

HttpResponse Extensions(ApiContext& api, Call& call) {
  JsonWriter w;
  w.BeginObject().Key("extensions").BeginArray();
  struct Ext {
    const char* alias;
    const char* name;
    const char* description;
  };
  for (const Ext& e : {Ext{"extensions", "Extensions", "Extension information."},
                       Ext{"notifications", "Notifications", "Notifications support."},
                       Ext{"os-hosts", "Hosts", "Hosts controller."},
                       Ext{"segments", "Segments", "Segments Extension."},
                       Ext{"versions", "Versions", "API Version information."},
                       Ext{"vmoves", "VMoves", "VM moves of host recoveries."},
                       Ext{"warden-host-unfence", "HostUnfence",
                           "Warden: return a fenced host to service (POST "
                           "/v1/segments/{id}/hosts/{host_id}/action {\"unfence\": null})."},
                       Ext{"warden-overview", "Overview",
                           "Warden: segments, host states, recoveries under way, the last 24 h "
                           "and recent recoveries' timings (GET /v1/overview)."},
                       Ext{"warden-recent-vmoves", "RecentVMoves",
                           "Warden: the VM moves of the most recent host notifications "
                           "(GET /v1/vmoves)."},
                       Ext{"warden-segment-headroom", "SegmentHeadroom",
                           "Warden: the N+1 check of a segment on the cloud's live capacity "
                           "(GET /v1/segments/{id}/headroom)."}}) {
    w.BeginObject().Key("alias").String(e.alias).Key("name").String(e.name);
    w.Key("description").String(e.description).Key("links").BeginArray().EndArray();
    w.Key("namespace").String("").Key("updated").String("2016-07-01T11:33:21Z").EndObject();
  }
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse Healthz(ApiContext& api, Call& call) {
  return HttpResponse{.status = 200, .body = R"({"status":"ok"})"};
}

HttpResponse Readyz(ApiContext& api, Call& call) {
  auto r = api.store.Ping();
  if (!r) {
    JsonWriter w;
    w.BeginObject().Key("status").String("unavailable").Key("reason").String(r.error().message());
    w.EndObject();
    return JsonResponse(503, w);
  }
  return HttpResponse{.status = 200, .body = R"({"status":"ready"})"};
}

HttpResponse Metrics(ApiContext& api, Call& call) {
  std::vector<std::pair<std::string, int64_t>> counts;
  auto r = api.store.Read([&](store::ReadTx& tx) -> Result<void> {
    for (int s = 0; s <= int(NotificationStatus::kFinished); ++s) {
      auto status = NotificationStatus(s);
      auto c = tx.CountNotifications({.statuses = {status}});
      if (!c) return std::unexpected(c.error());
      counts.emplace_back(std::string(ToString(status)), *c);
    }
    return {};
  });
  if (!r) counts.clear();
  std::string body = api.metrics.Render(counts, api.store.GetStats(), api.auth.Stats());
  if (api.options.extra_metrics) body += api.options.extra_metrics();
  return HttpResponse{.status = 200,
                      .content_type = "text/plain; version=0.0.4; charset=utf-8",
                      .body = std::move(body)};
}

}  // namespace warden::api
