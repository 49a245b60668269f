// Hosts of a segment: /v1/segments/{id}/hosts[/{host_id}], each name checked against the
// cloud's compute services when a compute driver is configured, and Warden's unfence action.
#include "api/answers.h"
#include "api/handlers/handlers.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/views.h"
#include "api/validation.h"

namespace warden::api {
namespace {

// Through options.check_compute_host: InvalidArgument when the cloud has no such compute
// service, Unavailable when it cannot tell.
Result<void> CheckComputeHost(ApiContext& api, const std::string& name) {
  if (!api.options.check_compute_host) return {};
  auto found = Await<void>("The compute API", 30, [&](std::function<void(Result<void>)> done) {
    api.options.check_compute_host(name, std::move(done));
  });
  if (found) return {};
  if (found.error().code() == ErrorCode::kNotFound) {
    return InvalidArgument("Compute service with name " + name + " could not be found.");
  }
  return Unavailable("Cannot check that " + name +
                     " is a compute service of the cloud: " + found.error().message());
}

}  // namespace

HttpResponse ListHosts(ApiContext& api, Call& call) {
  const std::string& segment_id = call.params[0];
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, api.options.max_limit);
  if (!page) return ErrorResponse(page.error());
  store::HostFilter filter;
  filter.type = r.Query("type");
  filter.name = r.Query("name");
  for (const char* key : {"on_maintenance", "reserved"}) {
    auto b = BoolQuery(r, key);
    if (!b) return ErrorResponse(b.error());
    (std::string_view(key) == "reserved" ? filter.reserved : filter.on_maintenance) = *b;
  }
  auto hosts = api.service.ListHosts(segment_id, filter, *page);
  if (!hosts) return ErrorResponse(hosts.error());
  JsonWriter w;
  w.BeginObject().Key("hosts").BeginArray();
  for (const Host& h : hosts->second) WriteHost(w, h, hosts->first);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse CreateHost(ApiContext& api, Call& call) {
  const std::string& segment_id = call.params[0];
  auto in = ParseHostCreate(call.body);
  if (!in) return ErrorResponse(in.error());
  if (api.options.check_compute_host) {
    // As Masakari: the segment first (404), then the name against the cloud (400).
    if (auto seg = api.service.GetSegment(segment_id); !seg) return ErrorResponse(seg.error());
    if (auto ok = CheckComputeHost(api, in->name); !ok) return ErrorResponse(ok.error());
  }
  auto h = api.service.CreateHost(segment_id, *in);
  if (!h) return ErrorResponse(h.error());
  return HostAnswer(201, *h);
}

HttpResponse ShowHost(ApiContext& api, Call& call) {
  const std::string& segment_id = call.params[0];
  const std::string& id = call.params[1];
  auto h = api.service.GetHost(segment_id, id);
  if (!h) return ErrorResponse(h.error());
  return HostAnswer(200, *h);
}

HttpResponse UpdateHost(ApiContext& api, Call& call) {
  const std::string& segment_id = call.params[0];
  const std::string& id = call.params[1];
  auto in = ParseHostUpdate(call.body);
  if (!in) return ErrorResponse(in.error());
  if (in->name && api.options.check_compute_host) {
    auto current = api.service.GetHost(segment_id, id);
    if (!current) return ErrorResponse(current.error());
    if (*in->name != current->host.name) {
      if (auto ok = CheckComputeHost(api, *in->name); !ok) return ErrorResponse(ok.error());
    }
  }
  auto h = api.service.UpdateHost(segment_id, id, *in);
  if (!h) return ErrorResponse(h.error());
  return HostAnswer(200, *h);
}

HttpResponse DeleteHost(ApiContext& api, Call& call) {
  const std::string& segment_id = call.params[0];
  const std::string& id = call.params[1];
  auto r = api.service.DeleteHost(segment_id, id);
  if (!r) return ErrorResponse(r.error());
  return HttpResponse{.status = 204};
}

// Warden's extension: {"unfence": null} returns a fenced host to service.
HttpResponse HostAction(ApiContext& api, Call& call) {
  const std::string& segment_id = call.params[0];
  const std::string& id = call.params[1];
  if (auto action = ActionOf(call.body, {"unfence"}); !action) {
    return ErrorResponse(action.error());
  }
  // The host must exist in this segment (and is then known by its uuid).
  auto found = api.service.GetHost(segment_id, id);
  if (!found) return ErrorResponse(found.error());
  auto engine = api.Engine();
  if (!engine) return ErrorResponse(engine.error());
  const std::string who = call.Who();
  // The engine's own call timeout and retries bound this; 120 s covers them.
  auto h = Await<Host>("The recovery engine", 120, [&](std::function<void(Result<Host>)> done) {
    (*engine)->Unfence(found->host.uuid, who, std::move(done));
  });
  if (!h) return ErrorResponse(h.error());
  ha::HostWithSegment out = *found;
  out.host = *h;
  out.host.segment_uuid = found->host.segment_uuid;  // shown with the segment it was found in
  return HostAnswer(200, out);
}

}  // namespace warden::api
