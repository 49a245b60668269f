// The documents anyone may read — the version list (/), the v1 version (/v1/), health and
// readiness — and, behind a token, the extension list and Prometheus metrics.
#include "api/answers.h"
#include "api/handlers/handlers.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/views.h"
#include "api/microversion.h"

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
                       Ext{"warden-recent-vmoves", "RecentVMoves",
                           "Warden: the VM moves of the most recent host notifications "
                           "(GET /v1/vmoves)."}}) {
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
