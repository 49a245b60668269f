// VM moves (Warden's extension): the moves of one notification with their summary, one move,
// and the moves of the most recent host notifications.
#include "api/answers.h"
#include "api/handlers/handlers.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/views.h"

namespace warden::api {
namespace {

// GET /v1/vmoves: how many of the newest host notifications it looks at.
constexpr int64_t kDefaultRecentNotifications = 50;
constexpr int64_t kMaxRecentNotifications = 1000;

}  // namespace

HttpResponse ListVMoves(ApiContext& api, Call& call) {
  const std::string& notification_id = call.params[0];
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, api.options.max_limit);
  if (!page) return ErrorResponse(page.error());
  auto filter = VMoveFilterFromQuery(r);
  if (!filter) return ErrorResponse(filter.error());
  auto found = api.service.ListVMoves(notification_id, *filter, *page);
  if (!found) return ErrorResponse(found.error());
  JsonWriter w;
  w.BeginObject().Key("vmoves").BeginArray();
  for (const VMove& v : found->moves) WriteVMove(w, v);
  w.EndArray();
  w.Key("summary");
  WriteVMoveSummary(w, found->notification.status, found->counts);
  w.EndObject();
  return JsonResponse(200, w);
}

HttpResponse ListRecentVMoves(ApiContext& api, Call& call) {
  const HttpRequest& r = call.request;
  auto notifications =
      CountQuery(r, "notifications", kDefaultRecentNotifications, kMaxRecentNotifications);
  if (!notifications) return ErrorResponse(notifications.error());
  // Newest start first; moves not yet started sort as the earliest, as in every list.
  auto page = PageFromQuery(r, api.options.max_limit, "start_time");
  if (!page) return ErrorResponse(page.error());
  auto filter = VMoveFilterFromQuery(r);
  if (!filter) return ErrorResponse(filter.error());
  auto moves = api.service.ListRecentVMoves(*notifications, *filter, *page);
  if (!moves) return ErrorResponse(moves.error());
  JsonWriter w;
  w.BeginObject().Key("vmoves").BeginArray();
  for (const VMove& v : *moves) WriteVMove(w, v);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse ShowVMove(ApiContext& api, Call& call) {
  const std::string& notification_id = call.params[0];
  const std::string& id = call.params[1];
  auto v = api.service.GetVMove(notification_id, id);
  if (!v) return ErrorResponse(v.error());
  JsonWriter w;
  w.BeginObject().Key("vmove");
  WriteVMove(w, *v);
  w.EndObject();
  return JsonResponse(200, w);
}

}  // namespace warden::api
