// Every handler of the API, by resource, one file each. A handler translates: HTTP in (the
// Call: microversion, query, path parameters, parsed JSON body) → an ha::HaService (or engine)
// call → HTTP out (Masakari's JSON view or error body). The router (masakari_api.cc) has
// already matched the route, authenticated the caller, checked the policy and parsed the body.
//
// To add a resource: a file here with its handlers, their declarations below, and its lines in
// masakari_api.cc's route table.
#pragma once

#include <memory>

#include "api/call.h"
#include "api/http.h"

namespace warden::api {

using Handler = HttpResponse (*)(ApiContext& api, Call& call);

// versions.cc: documents, health, metrics.
HttpResponse Versions(ApiContext& api, Call& call);
HttpResponse VersionV1(ApiContext& api, Call& call);
HttpResponse Extensions(ApiContext& api, Call& call);
HttpResponse Healthz(ApiContext& api, Call& call);
HttpResponse Readyz(ApiContext& api, Call& call);
HttpResponse Metrics(ApiContext& api, Call& call);
HttpResponse WhoAmI(ApiContext& api, Call& call);  // Warden's: the token's name and role
HttpResponse SignInMethods(ApiContext& api, Call& call);  // Warden's: how to sign in
HttpResponse SignIn(ApiContext& api, Call& call);         // Warden's: a password for a token

// dashboard.cc: /dashboard (a redirect to /dashboard/), /dashboard/ and /dashboard/NAME.
HttpResponse ServeDashboard(ApiContext& api, Call& call);

// segments.cc: params {id}.
HttpResponse ListSegments(ApiContext& api, Call& call);
HttpResponse CreateSegment(ApiContext& api, Call& call);
HttpResponse ShowSegment(ApiContext& api, Call& call);
HttpResponse UpdateSegment(ApiContext& api, Call& call);
HttpResponse DeleteSegment(ApiContext& api, Call& call);
HttpResponse SegmentHeadroom(ApiContext& api, Call& call);  // Warden's N+1 check
// The same without holding a thread: answers through call->respond once the engine has.
void SegmentHeadroomAsync(ApiContext& api, const std::shared_ptr<Call>& call);
HttpResponse GetOverview(ApiContext& api, Call& call);      // Warden's, for the dashboard

// hosts.cc: params {id} (the segment), {host_id}.
HttpResponse ListHosts(ApiContext& api, Call& call);
HttpResponse CreateHost(ApiContext& api, Call& call);
HttpResponse ShowHost(ApiContext& api, Call& call);
HttpResponse UpdateHost(ApiContext& api, Call& call);
HttpResponse DeleteHost(ApiContext& api, Call& call);
HttpResponse HostAction(ApiContext& api, Call& call);

// notifications.cc: params {id}.
HttpResponse ListNotifications(ApiContext& api, Call& call);
HttpResponse CreateNotification(ApiContext& api, Call& call);
// The non-blocking create: validates on the calling thread, then answers through
// call->respond once the notification is durable.
void CreateNotificationAsync(ApiContext& api, const std::shared_ptr<Call>& call);
HttpResponse ShowNotification(ApiContext& api, Call& call);
HttpResponse NotificationAction(ApiContext& api, Call& call);

// vmoves.cc: params {id} (the notification), {vmove_id}.
HttpResponse ListVMoves(ApiContext& api, Call& call);
HttpResponse ListRecentVMoves(ApiContext& api, Call& call);
HttpResponse ShowVMove(ApiContext& api, Call& call);

}  // namespace warden::api
