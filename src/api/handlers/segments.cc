// Failover segments: /v1/segments and /v1/segments/{id}; Warden's overview of them and their
// N+1 check.
#include "api/answers.h"
#include "api/handlers/handlers.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/views.h"
#include "api/validation.h"

namespace warden::api {

HttpResponse ListSegments(ApiContext& api, Call& call) {
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, api.options.max_limit);
  if (!page) return ErrorResponse(page.error());
  store::SegmentFilter filter;
  auto method = EnumQuery<RecoveryMethod>(r, "recovery_method", ParseRecoveryMethod);
  if (!method) return ErrorResponse(method.error());
  filter.recovery_method = *method;
  filter.service_type = r.Query("service_type");
  auto enabled = BoolQuery(r, "enabled");
  if (!enabled) return ErrorResponse(enabled.error());
  filter.enabled = *enabled;
  auto segments = api.service.ListSegments(filter, *page);
  if (!segments) return ErrorResponse(segments.error());
  JsonWriter w;
  w.BeginObject().Key("segments").BeginArray();
  for (const Segment& s : *segments) WriteSegment(w, s);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse CreateSegment(ApiContext& api, Call& call) {
  auto in = ParseSegmentCreate(call.body, call.version);
  if (!in) return ErrorResponse(in.error());
  auto s = api.service.CreateSegment(*in);
  if (!s) return ErrorResponse(s.error());
  return SegmentAnswer(201, *s);
}

HttpResponse ShowSegment(ApiContext& api, Call& call) {
  const std::string& id = call.params[0];
  auto s = api.service.GetSegment(id);
  if (!s) return ErrorResponse(s.error());
  return SegmentAnswer(200, *s);
}

HttpResponse UpdateSegment(ApiContext& api, Call& call) {
  const std::string& id = call.params[0];
  auto in = ParseSegmentUpdate(call.body, call.version);
  if (!in) return ErrorResponse(in.error());
  auto s = api.service.UpdateSegment(id, *in);
  if (!s) return ErrorResponse(s.error());
  return SegmentAnswer(200, *s);
}

HttpResponse DeleteSegment(ApiContext& api, Call& call) {
  const std::string& id = call.params[0];
  auto r = api.service.DeleteSegment(id);
  if (!r) return ErrorResponse(r.error());
  return HttpResponse{.status = 204};
}

HttpResponse GetOverview(ApiContext& api, Call&) {
  auto o = api.service.GetOverview();
  if (!o) return ErrorResponse(o.error());
  JsonWriter w;
  w.BeginObject().Key("overview");
  WriteOverview(w, *o);
  w.EndObject();
  return JsonResponse(200, w);
}

namespace {

HttpResponse HeadroomAnswer(const ha::SegmentHeadroom& h) {
  JsonWriter w;
  w.BeginObject().Key("headroom");
  WriteHeadroom(w, h);
  w.EndObject();
  return JsonResponse(200, w);
}

}  // namespace

HttpResponse SegmentHeadroom(ApiContext& api, Call& call) {
  auto segment = api.service.GetSegment(call.params[0]);
  if (!segment) return ErrorResponse(segment.error());
  auto engine = api.Engine();
  if (!engine) return ErrorResponse(engine.error());
  // Each of the engine's calls to the cloud is tried once, within the driver's timeout; a
  // check of many hosts may still take longer than this worker should wait.
  auto h = Await<ha::SegmentHeadroom>(
      "The recovery engine", 120, [&](std::function<void(Result<ha::SegmentHeadroom>)> done) {
        (*engine)->CheckHeadroom(segment->uuid, std::move(done));
      });
  if (!h) return ErrorResponse(h.error());
  return HeadroomAnswer(*h);
}

void SegmentHeadroomAsync(ApiContext& api, const std::shared_ptr<Call>& call) {
  call->deferred = true;
  auto engine = api.Engine();
  if (!engine) {
    call->respond([&api, call, e = engine.error()] { return api.finish(*call, ErrorResponse(e)); });
    return;
  }
  // The engine finds the segment (NotFound otherwise) and answers on its thread; the answer is
  // built on the network thread.
  (*engine)->CheckHeadroom(call->params[0], [&api, call](Result<ha::SegmentHeadroom> h) {
    call->respond([&api, call, h = std::move(h)] {
      return api.finish(*call, h ? HeadroomAnswer(*h) : ErrorResponse(h.error()));
    });
  });
}

}  // namespace warden::api
