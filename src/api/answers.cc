// The error-code table and the JSON answers every handler shares (see answers.h).
#include "api/answers.h"

#include <nlohmann/json.hpp>

#include "api/views.h"

namespace warden::api {
namespace {

using json = nlohmann::json;

// The one table from error codes to HTTP statuses and Masakari's fault names.
struct Fault {
  int status;
  const char* name;
};

Fault FaultFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return {400, "badRequest"};
    case ErrorCode::kUnauthenticated:
      return {401, "unauthorized"};
    case ErrorCode::kPermissionDenied:
      return {403, "forbidden"};
    case ErrorCode::kNotFound:
      return {404, "itemNotFound"};
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kAborted:
      return {409, "conflictingRequest"};
    case ErrorCode::kResourceExhausted:
      return {413, "overLimit"};
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
      return {503, "serviceUnavailable"};
    case ErrorCode::kUnimplemented:
      return {501, "notImplemented"};
    case ErrorCode::kInternal:
      return {500, "masakariFault"};
  }
  return {500, "masakariFault"};
}

}  // namespace

HttpResponse ErrorResponse(const Error& e) {
  Fault f = FaultFor(e.code());
  return FaultResponse(f.status, f.name, e.message());
}

HttpResponse JsonResponse(int status, JsonWriter& w) {
  return HttpResponse{.status = status, .body = w.Take()};
}

HttpResponse SegmentAnswer(int status, const Segment& segment) {
  JsonWriter w;
  w.BeginObject().Key("segment");
  WriteSegment(w, segment);
  w.EndObject();
  return JsonResponse(status, w);
}

HttpResponse HostAnswer(int status, const ha::HostWithSegment& found) {
  JsonWriter w;
  w.BeginObject().Key("host");
  WriteHost(w, found.host, found.segment);
  w.EndObject();
  return JsonResponse(status, w);
}

HttpResponse NotificationAnswer(int status, const Notification& n, bool with_workflow_details) {
  JsonWriter w;
  w.BeginObject().Key("notification");
  WriteNotification(w, n, with_workflow_details);
  w.EndObject();
  return JsonResponse(status, w);
}

Result<std::string> ActionOf(const json& body, std::initializer_list<std::string_view> actions) {
  std::string forms;
  bool known = false;
  for (std::string_view a : actions) {
    forms += std::string(forms.empty() ? "" : " or ") + "{\"" + std::string(a) + "\": null}";
    known |= body.is_object() && body.size() == 1 && body.contains(a);
  }
  if (!known) return InvalidArgument("The body must be " + forms + ".");
  const json& arg = body.begin().value();
  if (!arg.is_null() && !(arg.is_object() && arg.empty())) {
    return InvalidArgument("'" + body.begin().key() + "' takes null or {}, nothing else.");
  }
  return body.begin().key();
}

}  // namespace warden::api
