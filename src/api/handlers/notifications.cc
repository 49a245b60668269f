// Notifications: /v1/notifications (create answers 202 once the notification is durable, from
// the network thread when the transport allows it), /v1/notifications/{id}, and Warden's
// retry and cancel actions.
#include "api/answers.h"
#include "api/handlers/handlers.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/views.h"
#include "api/validation.h"
#include "core/time.h"

namespace warden::api {

HttpResponse ListNotifications(ApiContext& api, Call& call) {
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, api.options.max_limit);
  if (!page) return ErrorResponse(page.error());
  store::NotificationFilter filter;
  auto status = EnumQuery<NotificationStatus>(r, "status", ParseNotificationStatus);
  if (!status) return ErrorResponse(status.error());
  if (*status) filter.statuses.push_back(**status);
  filter.source_host_uuid = r.Query("source_host_uuid");
  auto type = EnumQuery<NotificationType>(r, "type", ParseNotificationType);
  if (!type) return ErrorResponse(type.error());
  filter.type = *type;
  if (auto since = r.Query("generated-since")) {
    auto t = ParseIsoTime(*since);
    if (!t) return FaultResponse(400, "badRequest", "Invalid generated-since value");
    filter.generated_since = t;
  }
  auto notifications = api.service.ListNotifications(filter, *page);
  if (!notifications) return ErrorResponse(notifications.error());
  JsonWriter w;
  w.BeginObject().Key("notifications").BeginArray();
  for (const Notification& n : *notifications) WriteNotification(w, n, false);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse CreateNotification(ApiContext& api, Call& call) {
  auto in = ParseNotificationCreate(call.body, api.clock.Now());
  if (!in) return ErrorResponse(in.error());
  auto n = api.service.CreateNotification(*in);
  if (!n) return ErrorResponse(n.error());
  return NotificationAnswer(202, *n, false);
}

void CreateNotificationAsync(ApiContext& api, const std::shared_ptr<Call>& call) {
  auto in = ParseNotificationCreate(call->body, api.clock.Now());
  if (!in) {
    call->respond([&api, call, error = in.error()] { return api.finish(*call, ErrorResponse(error)); });
    call->deferred = true;
    return;
  }
  call->deferred = true;
  // The store's writer thread only hands the outcome over; the response is built on the
  // network thread.
  api.service.CreateNotificationAsync(*in, [&api, call](Result<Notification> n) {
    call->respond([&api, call, n = std::move(n)] {
      if (!n) return api.finish(*call, ErrorResponse(n.error()));
      return api.finish(*call, NotificationAnswer(202, *n, false));
    });
  });
}

HttpResponse NotificationAction(ApiContext& api, Call& call) {
  const std::string& id = call.params[0];
  auto action = ActionOf(call.body, {"retry", "cancel"});
  if (!action) return ErrorResponse(action.error());
  // As for hosts: an unknown notification is 404 whether or not an engine runs.
  if (auto found = api.service.GetNotification(id); !found) return ErrorResponse(found.error());
  auto found_engine = api.Engine();
  if (!found_engine) return ErrorResponse(found_engine.error());
  const std::string who = call.Who();
  ha::RecoveryControl& engine = **found_engine;
  auto n = Await<Notification>("The recovery engine", 30,
                               [&](std::function<void(Result<Notification>)> done) {
                                 if (*action == "retry")
                                   return engine.Retry(id, who, std::move(done));
                                 engine.Cancel(id, who, std::move(done));
                               });
  if (!n) return ErrorResponse(n.error());
  return NotificationAnswer(200, *n, call.version.minor >= 1);
}

HttpResponse ShowNotification(ApiContext& api, Call& call) {
  const std::string& id = call.params[0];
  auto n = api.service.GetNotification(id);
  if (!n) return ErrorResponse(n.error());
  return NotificationAnswer(200, *n, call.version.minor >= 1);
}

}  // namespace warden::api
