#include "api/masakari_api.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "api/json_writer.h"
#include "api/validation.h"
#include "api/views.h"
#include "core/log_line.h"
#include "core/time.h"
#include "core/uuid.h"

#include <future>

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

const char* kMinVersion = "1.0";
const std::string kMaxVersion = "1." + std::to_string(kMaxMinorVersion);

// Parses the microversion of `OpenStack-API-Version: instance-ha X` (possibly one entry of a
// comma-separated list). No entry means 1.0; `latest` the maximum.
Result<ApiVersion> RequestedVersion(const HttpRequest& request, HttpResponse* not_acceptable) {
  const std::string* header = request.Header("openstack-api-version");
  if (header == nullptr) return ApiVersion{0};
  std::string_view all = *header;
  std::optional<std::string> wanted;
  while (!all.empty()) {
    size_t comma = all.find(',');
    std::string_view entry = all.substr(0, comma);
    all = comma == std::string_view::npos ? std::string_view() : all.substr(comma + 1);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    size_t space = entry.find(' ');
    if (space == std::string_view::npos) continue;
    std::string_view service = entry.substr(0, space);
    std::string_view value = entry.substr(space + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (service == "instance-ha") wanted = std::string(value);
  }
  if (!wanted) return ApiVersion{0};
  if (*wanted == "latest") return ApiVersion{kMaxMinorVersion};
  int major = 0, minor = 0;
  std::string_view v = *wanted;
  size_t dot = v.find('.');
  auto digits_ok = [](std::string_view d) {
    return !d.empty() && d.size() <= 6 && d.find_first_not_of("0123456789") == std::string::npos &&
           (d.size() == 1 || d[0] != '0');
  };
  if (dot == std::string_view::npos || !digits_ok(v.substr(0, dot)) ||
      !digits_ok(v.substr(dot + 1)) || v[0] == '0') {
    return InvalidArgument("API Version String " + *wanted +
                           " is of invalid format. Must be of format MajorNum.MinorNum.");
  }
  std::from_chars(v.data(), v.data() + dot, major);
  std::from_chars(v.data() + dot + 1, v.data() + v.size(), minor);
  if (major != 1 || minor > kMaxMinorVersion) {
    *not_acceptable =
        FaultResponse(406, "masakariFault",
                      "Version " + *wanted + " is not supported by the API. Minimum is " +
                          kMinVersion + " and maximum is " + kMaxVersion + ".");
    return MakeError(ErrorCode::kInvalidArgument, "not acceptable");
  }
  return ApiVersion{minor};
}

// Masakari's limit/marker/sort_key/sort_dir; without sort_key, default_sort_key.
Result<store::Page> PageFromQuery(const HttpRequest& r, int64_t max_limit,
                                  std::string_view default_sort_key = "created_at") {
  store::Page page;
  page.limit = max_limit;
  if (auto limit = r.Query("limit")) {
    std::string_view s = *limit;
    bool negative = !s.empty() && s[0] == '-';
    if (negative || (!s.empty() && s[0] == '+')) s.remove_prefix(1);
    if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) {
      return InvalidArgument("Invalid input received: limit must be an integer.");
    }
    bool all_zero = s.find_first_not_of('0') == std::string_view::npos;
    if (negative && !all_zero)
      return InvalidArgument("Invalid input received: limit must be >= 0.");
    int64_t value = max_limit;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec == std::errc::result_out_of_range) value = max_limit;
    page.limit = std::min(value, max_limit);
  }
  if (auto marker = r.Query("marker")) {
    int64_t id = 0;
    auto [ptr, ec] = std::from_chars(marker->data(), marker->data() + marker->size(), id);
    if (ec != std::errc() || ptr != marker->data() + marker->size()) {
      return InvalidArgument("Marker " + *marker + " could not be found.");
    }
    page.marker = id;
  }
  auto trim = [](std::string s) {
    size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  std::vector<std::string> keys = r.QueryAll("sort_key");
  std::vector<std::string> dirs = r.QueryAll("sort_dir");
  for (auto& d : dirs) {
    d = trim(d);
    if (d != "asc" && d != "desc") {
      return InvalidArgument(
          "Invalid input received: Unknown sort direction, must be 'asc' or "
          "'desc'");
    }
  }
  if (keys.empty()) keys.emplace_back(default_sort_key);
  if (dirs.size() > keys.size()) {
    return InvalidArgument("Invalid input received: Sort direction size exceeds sort key size");
  }
  std::string default_dir = dirs.empty() ? "desc" : dirs.front();
  for (size_t i = 0; i < keys.size(); ++i) {
    page.sort.push_back(
        store::SortKey{trim(keys[i]), (i < dirs.size() ? dirs[i] : default_dir) == "asc"});
  }
  return page;
}

Result<std::optional<bool>> BoolQuery(const HttpRequest& r, std::string_view name) {
  auto v = r.Query(name);
  if (!v) return std::optional<bool>();
  auto b = ParseBoolString(*v);
  if (!b) return InvalidArgument("Invalid value for " + std::string(name) + ": " + *v);
  return std::optional<bool>(*b);
}

// An enumerated filter: absent, or one of the values `parse` accepts (else 400 naming it).
template <typename E>
Result<std::optional<E>> EnumQuery(const HttpRequest& r, std::string_view name,
                                   std::optional<E> (*parse)(std::string_view)) {
  auto v = r.Query(name);
  if (!v) return std::optional<E>();
  auto e = parse(*v);
  if (!e) return InvalidArgument("Invalid value for " + std::string(name) + ": " + *v);
  return e;
}

// An integer parameter from 1 to max; absent: fallback.
Result<int64_t> CountQuery(const HttpRequest& r, std::string_view name, int64_t fallback,
                           int64_t max) {
  auto v = r.Query(name);
  if (!v) return fallback;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || ptr != v->data() + v->size() || n < 1 || n > max) {
    return InvalidArgument("Invalid value for " + std::string(name) + ": " + *v +
                           " (an integer from 1 to " + std::to_string(max) + ")");
  }
  return n;
}

// The filters of both vmoves lists.
Result<store::VMoveFilter> VMoveFilterFromQuery(const HttpRequest& r) {
  store::VMoveFilter filter;
  auto status = EnumQuery<VMoveStatus>(r, "status", ParseVMoveStatus);
  if (!status) return std::unexpected(status.error());
  filter.status = *status;
  auto type = EnumQuery<VMoveType>(r, "type", ParseVMoveType);
  if (!type) return std::unexpected(type.error());
  filter.type = *type;
  filter.source_host = r.Query("source_host");
  filter.dest_host = r.Query("dest_host");
  return filter;
}

// GET /v1/vmoves: how many of the newest host notifications it looks at.
constexpr int64_t kDefaultRecentNotifications = 50;
constexpr int64_t kMaxRecentNotifications = 1000;

bool IsJsonContentType(const HttpRequest& r) {
  const std::string* ct = r.Header("content-type");
  if (ct == nullptr) return false;
  std::string lower = *ct;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return lower.rfind("application/json", 0) == 0;
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

// Masakari's default project_id_regex: hex digits and dashes.
bool IsProjectIdSegment(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
  });
}

std::string HostUrl(const HttpRequest& r) {
  const std::string* host = r.Header("host");
  return "http://" + (host != nullptr && !host->empty() ? *host : std::string("localhost"));
}

void WriteVersion(JsonWriter& w, const std::string& base, bool describedby) {
  w.BeginObject();
  w.Key("id").String("v1.0").Key("status").String("CURRENT");
  w.Key("version").String(kMaxVersion).Key("min_version").String(kMinVersion);
  w.Key("updated").String("2016-07-01T11:33:21Z");
  w.Key("links").BeginArray();
  w.BeginObject().Key("rel").String("self").Key("href").String(base + "/v1/").EndObject();
  if (describedby) {
    w.BeginObject().Key("rel").String("describedby").Key("type").String("text/html");
    w.Key("href").String("https://docs.openstack.org/").EndObject();
  }
  w.EndArray();
  if (describedby) {
    w.Key("media-types").BeginArray().BeginObject();
    w.Key("base").String("application/json");
    w.Key("type").String("application/vnd.openstack.masakari+json;version=1");
    w.EndObject().EndArray();
  }
  w.EndObject();
}

}  // namespace

// GET responses valid for one store generation. Every write attempt moves the generation, so
// a response computed while the generation was G is served only while it is still G, and
// nothing written after it was computed can be missing from it. Bounded in entries and bytes;
// a response too large for a fair share of the budget is not kept. Thread-safe; hits copy
// the body outside the lock.
class ResponseCache {
 public:
  ResponseCache(size_t max_entries, size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  std::shared_ptr<const HttpResponse> Find(const std::string& key, int64_t generation) {
    std::lock_guard lock(mu_);
    if (generation != generation_) return nullptr;
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second;
  }

  void Put(const std::string& key, int64_t generation, const HttpResponse& response) {
    const size_t size = key.size() + response.body.size();
    if (size > max_bytes_ / 8) return;
    auto entry = std::make_shared<const HttpResponse>(response);
    std::lock_guard lock(mu_);
    if (generation != generation_) {
      if (generation < generation_) return;  // computed before a newer write: already stale
      entries_.clear();
      bytes_ = 0;
      generation_ = generation;
    }
    if (entries_.size() >= max_entries_ || bytes_ + size > max_bytes_) {
      entries_.clear();
      bytes_ = 0;
    }
    auto [it, inserted] = entries_.emplace(key, std::move(entry));
    if (inserted) bytes_ += size;
  }

 private:
  const size_t max_entries_;
  const size_t max_bytes_;
  std::mutex mu_;
  int64_t generation_ = -1;                                                       // GUARDED_BY(mu_)
  size_t bytes_ = 0;                                                              // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<const HttpResponse>> entries_;  // GUARDED_BY(mu_)
};

// Everything known about one request while it is handled.
struct MasakariApi::Call : std::enable_shared_from_this<MasakariApi::Call> {
  Call(const HttpRequest& r, MonoMicros started)
      : request(r), request_id("req-" + NewUuid()), start(started) {}

  std::shared_ptr<const HttpRequest> owner;  // keeps `request` alive for deferred answers
  const HttpRequest& request;
  std::string request_id;
  MonoMicros start;
  HttpHandler::Responder respond;   // set when the call may be answered later
  bool deferred = false;            // the answer will come through `respond`
  std::string route = "unmatched";  // the route template, for logs and metrics
  bool is_api = false;              // under /v1: carries microversion headers
  ApiVersion version;
  std::optional<Principal> principal;
  json body;
};

MasakariApi::MasakariApi(ha::HaService& service, store::Store& store, const Authenticator& auth,
                         const Clock& clock, ApiMetrics& metrics, ApiOptions options)
    : service_(service),
      store_(store),
      auth_(auth),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)) {
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
  // Masakari also routes /v1/{project_id}/...: catalog entries are commonly registered as
  // http://host:15868/v1/%(tenant_id)s. The project id is not checked, as in Masakari.
  if (p.size() >= 3 && p[0] == "v1" && IsProjectIdSegment(p[1])) p.erase(p.begin() + 1);
  const std::string& m = r.method;
  auto method_not_allowed = [&] {
    return FaultResponse(405, "badMethod",
                         "The request method: '" + m + "' is not allowed on this resource.");
  };
  auto not_found = [] {
    return FaultResponse(404, "itemNotFound", "The resource could not be found.");
  };

  // Public documents: no token needed.
  if (p.empty()) {
    call.route = "/";
    return m == "GET" ? Versions(call) : method_not_allowed();
  }
  if (p.size() == 1 && p[0] == "v1") {
    call.route = "/v1/";
    return m == "GET" ? VersionV1(call) : method_not_allowed();
  }
  if (p.size() == 1 && (p[0] == "healthz" || p[0] == "readyz")) {
    call.route = "/" + p[0];
    if (m != "GET") return method_not_allowed();
    if (p[0] == "healthz") return Healthz(call);
    if (inline_only) return std::nullopt;
    return Readyz(call);
  }

  const bool is_metrics = p.size() == 1 && p[0] == "metrics";
  if (!is_metrics && p[0] != "v1") return not_found();

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
  if (is_metrics) {
    call.route = "/metrics";
    if (m != "GET") return method_not_allowed();
    if (inline_only) return std::nullopt;
    return Metrics(call);
  }

  // /v1/...: find the route and the policy target first.
  call.is_api = true;
  std::string resource;  // policy resource name
  std::string action;
  const size_t n = p.size();
  if (n == 2 && p[1] == "extensions") {
    call.route = "/v1/extensions", resource = "extensions";
  } else if (n >= 2 && p[1] == "segments" && n <= 3) {
    call.route = n == 2 ? "/v1/segments" : "/v1/segments/{id}", resource = "segments";
  } else if (n == 6 && p[1] == "segments" && p[3] == "hosts" && p[5] == "action") {
    call.route = "/v1/segments/{id}/hosts/{host_id}/action", resource = "os-hosts";  // Warden's
  } else if (n >= 4 && p[1] == "segments" && p[3] == "hosts" && n <= 5) {
    call.route = n == 4 ? "/v1/segments/{id}/hosts" : "/v1/segments/{id}/hosts/{host_id}";
    resource = "os-hosts";
  } else if (n >= 2 && p[1] == "notifications" && n <= 3) {
    call.route = n == 2 ? "/v1/notifications" : "/v1/notifications/{id}";
    resource = "notifications";
  } else if (n == 4 && p[1] == "notifications" && p[3] == "action") {
    call.route = "/v1/notifications/{id}/action", resource = "notifications";  // Warden's
  } else if (n == 2 && p[1] == "vmoves") {
    call.route = "/v1/vmoves", resource = "vmoves";  // Warden's extension
  } else if (n >= 4 && p[1] == "notifications" && p[3] == "vmoves" && n <= 5) {
    call.route =
        n == 4 ? "/v1/notifications/{id}/vmoves" : "/v1/notifications/{id}/vmoves/{vmove_id}";
    resource = "vmoves";
  } else {
    return not_found();
  }
  const bool collection = (n == 2 || n == 4) && call.route != "/v1/notifications/{id}/action";
  if (call.route == "/v1/notifications/{id}/action" ||
      call.route == "/v1/segments/{id}/hosts/{host_id}/action") {
    if (m != "POST") return method_not_allowed();
    action = "action";
  } else if (m == "GET") {
    action = collection ? "index" : "detail";
  } else if (m == "POST" && collection && resource != "vmoves" && resource != "extensions") {
    action = "create";
  } else if ((m == "PUT" || m == "DELETE") && !collection &&
             (resource == "segments" || resource == "os-hosts")) {
    action = m == "PUT" ? "update" : "delete";
  } else {
    return method_not_allowed();
  }

  HttpResponse not_acceptable;
  auto version = RequestedVersion(r, &not_acceptable);
  if (!version) {
    if (not_acceptable.status == 406) return not_acceptable;
    return ErrorResponse(version.error());
  }
  call.version = *version;

  if (m != "GET" && call.principal->role != Role::kAdmin) {
    return FaultResponse(
        403, "forbidden",
        "Policy doesn't allow os_masakari_api:" + resource + ":" + action + " to be performed.");
  }

  // Reads may be answered from the cache; everything else needs the store.
  std::string cache_key;
  int64_t generation = 0;
  if (m == "GET" && cache_ != nullptr) {
    cache_key = std::to_string(call.version.minor) + ' ' + r.target;
    generation = store_.GetStats().generation;
    if (auto hit = cache_->Find(cache_key, generation)) return *hit;
  }
  const bool async_create =
      resource == "notifications" && n == 2 && m == "POST" && call.respond;
  if (inline_only && !async_create) return std::nullopt;
  if (!cache_key.empty()) {
    HttpResponse response = Dispatch(call, p, resource);
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
    CreateNotificationAsync(call.shared_from_this());
    return std::nullopt;
  }
  return Dispatch(call, p, resource);
}

HttpResponse MasakariApi::Dispatch(Call& call, const std::vector<std::string>& p,
                                   const std::string& resource) {
  const std::string& m = call.request.method;
  const size_t n = p.size();
  if (resource == "extensions") return Extensions(call);
  if (resource == "segments") {
    if (n == 2) return m == "GET" ? ListSegments(call) : CreateSegment(call);
    if (m == "GET") return ShowSegment(call, p[2]);
    return m == "PUT" ? UpdateSegment(call, p[2]) : DeleteSegment(call, p[2]);
  }
  if (resource == "os-hosts") {
    if (n == 6) return HostAction(call, p[2], p[4]);
    if (n == 4) return m == "GET" ? ListHosts(call, p[2]) : CreateHost(call, p[2]);
    if (m == "GET") return ShowHost(call, p[2], p[4]);
    return m == "PUT" ? UpdateHost(call, p[2], p[4]) : DeleteHost(call, p[2], p[4]);
  }
  if (resource == "notifications") {
    if (n == 2) return m == "GET" ? ListNotifications(call) : CreateNotification(call);
    if (n == 4) return NotificationAction(call, p[2]);
    return ShowNotification(call, p[2]);
  }
  if (n == 2) return ListRecentVMoves(call);
  return n == 4 ? ListVMoves(call, p[2]) : ShowVMove(call, p[2], p[4]);
}

// --- documents -----------------------------------------------------------------------------

HttpResponse MasakariApi::Versions(Call& call) {
  JsonWriter w;
  w.BeginObject().Key("versions").BeginArray();
  WriteVersion(w, HostUrl(call.request), false);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse MasakariApi::VersionV1(Call& call) {
  JsonWriter w;
  w.BeginObject().Key("version");
  WriteVersion(w, HostUrl(call.request), true);
  w.EndObject();
  return JsonResponse(200, w);
}

HttpResponse MasakariApi::Extensions(Call& call) {
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

HttpResponse MasakariApi::Healthz(Call&) {
  return HttpResponse{.status = 200, .body = R"({"status":"ok"})"};
}

HttpResponse MasakariApi::Readyz(Call&) {
  auto r = store_.Ping();
  if (!r) {
    JsonWriter w;
    w.BeginObject().Key("status").String("unavailable").Key("reason").String(r.error().message());
    w.EndObject();
    return JsonResponse(503, w);
  }
  return HttpResponse{.status = 200, .body = R"({"status":"ready"})"};
}

HttpResponse MasakariApi::Metrics(Call&) {
  std::vector<std::pair<std::string, int64_t>> counts;
  auto r = store_.Read([&](store::ReadTx& tx) -> Result<void> {
    for (int s = 0; s <= int(NotificationStatus::kFinished); ++s) {
      auto status = NotificationStatus(s);
      auto c = tx.CountNotifications({.statuses = {status}});
      if (!c) return std::unexpected(c.error());
      counts.emplace_back(std::string(ToString(status)), *c);
    }
    return {};
  });
  if (!r) counts.clear();
  std::string body = metrics_.Render(counts, store_.GetStats(), auth_.Stats());
  if (options_.extra_metrics) body += options_.extra_metrics();
  return HttpResponse{.status = 200,
                      .content_type = "text/plain; version=0.0.4; charset=utf-8",
                      .body = std::move(body)};
}

// --- segments ------------------------------------------------------------------------------

HttpResponse MasakariApi::ListSegments(Call& call) {
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, options_.max_limit);
  if (!page) return ErrorResponse(page.error());
  store::SegmentFilter filter;
  auto method = EnumQuery<RecoveryMethod>(r, "recovery_method", ParseRecoveryMethod);
  if (!method) return ErrorResponse(method.error());
  filter.recovery_method = *method;
  filter.service_type = r.Query("service_type");
  auto enabled = BoolQuery(r, "enabled");
  if (!enabled) return ErrorResponse(enabled.error());
  filter.enabled = *enabled;
  auto segments = service_.ListSegments(filter, *page);
  if (!segments) return ErrorResponse(segments.error());
  JsonWriter w;
  w.BeginObject().Key("segments").BeginArray();
  for (const Segment& s : *segments) WriteSegment(w, s);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse MasakariApi::CreateSegment(Call& call) {
  auto in = ParseSegmentCreate(call.body, call.version);
  if (!in) return ErrorResponse(in.error());
  auto s = service_.CreateSegment(*in);
  if (!s) return ErrorResponse(s.error());
  return SegmentAnswer(201, *s);
}

HttpResponse MasakariApi::ShowSegment(Call&, const std::string& id) {
  auto s = service_.GetSegment(id);
  if (!s) return ErrorResponse(s.error());
  return SegmentAnswer(200, *s);
}

HttpResponse MasakariApi::UpdateSegment(Call& call, const std::string& id) {
  auto in = ParseSegmentUpdate(call.body, call.version);
  if (!in) return ErrorResponse(in.error());
  auto s = service_.UpdateSegment(id, *in);
  if (!s) return ErrorResponse(s.error());
  return SegmentAnswer(200, *s);
}

HttpResponse MasakariApi::DeleteSegment(Call&, const std::string& id) {
  auto r = service_.DeleteSegment(id);
  if (!r) return ErrorResponse(r.error());
  return HttpResponse{.status = 204};
}

// --- hosts ---------------------------------------------------------------------------------

HttpResponse MasakariApi::ListHosts(Call& call, const std::string& segment_id) {
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, options_.max_limit);
  if (!page) return ErrorResponse(page.error());
  store::HostFilter filter;
  filter.type = r.Query("type");
  filter.name = r.Query("name");
  for (const char* key : {"on_maintenance", "reserved"}) {
    auto b = BoolQuery(r, key);
    if (!b) return ErrorResponse(b.error());
    (std::string_view(key) == "reserved" ? filter.reserved : filter.on_maintenance) = *b;
  }
  auto hosts = service_.ListHosts(segment_id, filter, *page);
  if (!hosts) return ErrorResponse(hosts.error());
  JsonWriter w;
  w.BeginObject().Key("hosts").BeginArray();
  for (const Host& h : hosts->second) WriteHost(w, h, hosts->first);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

namespace {

// Asks another component through `ask` (whose callback runs once, on that component's thread)
// and waits for the answer on this worker thread, at most `seconds`.
template <typename T>
Result<T> Await(std::string_view who, int seconds,
                const std::function<void(std::function<void(Result<T>)>)>& ask) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  ask([promise](Result<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready) {
    return Unavailable(std::string(who) + " did not answer in " + std::to_string(seconds) + " s.");
  }
  try {
    return future.get();
  } catch (const std::future_error&) {
    // The callback was dropped unanswered (its component is stopping).
    return Unavailable(std::string(who) + " gave no answer.");
  }
}

}  // namespace

Result<void> MasakariApi::CheckComputeHost(const std::string& name) {
  if (!options_.check_compute_host) return {};
  auto found = Await<void>("The compute API", 30, [&](std::function<void(Result<void>)> done) {
    options_.check_compute_host(name, std::move(done));
  });
  if (found) return {};
  if (found.error().code() == ErrorCode::kNotFound) {
    return InvalidArgument("Compute service with name " + name + " could not be found.");
  }
  return Unavailable("Cannot check that " + name +
                     " is a compute service of the cloud: " + found.error().message());
}

HttpResponse MasakariApi::CreateHost(Call& call, const std::string& segment_id) {
  auto in = ParseHostCreate(call.body);
  if (!in) return ErrorResponse(in.error());
  if (options_.check_compute_host) {
    // As Masakari: the segment first (404), then the name against the cloud (400).
    if (auto seg = service_.GetSegment(segment_id); !seg) return ErrorResponse(seg.error());
    if (auto ok = CheckComputeHost(in->name); !ok) return ErrorResponse(ok.error());
  }
  auto h = service_.CreateHost(segment_id, *in);
  if (!h) return ErrorResponse(h.error());
  return HostAnswer(201, *h);
}

HttpResponse MasakariApi::ShowHost(Call&, const std::string& segment_id, const std::string& id) {
  auto h = service_.GetHost(segment_id, id);
  if (!h) return ErrorResponse(h.error());
  return HostAnswer(200, *h);
}

HttpResponse MasakariApi::UpdateHost(Call& call, const std::string& segment_id,
                                     const std::string& id) {
  auto in = ParseHostUpdate(call.body);
  if (!in) return ErrorResponse(in.error());
  if (in->name && options_.check_compute_host) {
    auto current = service_.GetHost(segment_id, id);
    if (!current) return ErrorResponse(current.error());
    if (*in->name != current->host.name) {
      if (auto ok = CheckComputeHost(*in->name); !ok) return ErrorResponse(ok.error());
    }
  }
  auto h = service_.UpdateHost(segment_id, id, *in);
  if (!h) return ErrorResponse(h.error());
  return HostAnswer(200, *h);
}

HttpResponse MasakariApi::DeleteHost(Call&, const std::string& segment_id, const std::string& id) {
  auto r = service_.DeleteHost(segment_id, id);
  if (!r) return ErrorResponse(r.error());
  return HttpResponse{.status = 204};
}

// --- notifications -------------------------------------------------------------------------

HttpResponse MasakariApi::ListNotifications(Call& call) {
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, options_.max_limit);
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
  auto notifications = service_.ListNotifications(filter, *page);
  if (!notifications) return ErrorResponse(notifications.error());
  JsonWriter w;
  w.BeginObject().Key("notifications").BeginArray();
  for (const Notification& n : *notifications) WriteNotification(w, n, false);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse MasakariApi::CreateNotification(Call& call) {
  auto in = ParseNotificationCreate(call.body, clock_.Now());
  if (!in) return ErrorResponse(in.error());
  auto n = service_.CreateNotification(*in);
  if (!n) return ErrorResponse(n.error());
  return NotificationAnswer(202, *n, false);
}

void MasakariApi::CreateNotificationAsync(const std::shared_ptr<Call>& call) {
  auto in = ParseNotificationCreate(call->body, clock_.Now());
  if (!in) {
    call->respond([this, call, error = in.error()] { return Finish(*call, ErrorResponse(error)); });
    call->deferred = true;
    return;
  }
  call->deferred = true;
  // The store's writer thread only hands the outcome over; the response is built on the
  // network thread.
  service_.CreateNotificationAsync(*in, [this, call](Result<Notification> n) {
    call->respond([this, call, n = std::move(n)] {
      if (!n) return Finish(*call, ErrorResponse(n.error()));
      return Finish(*call, NotificationAnswer(202, *n, false));
    });
  });
}

namespace {

// The action an action body names: {"<action>": null} (or {}) with one of `actions`.
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

}  // namespace

HttpResponse MasakariApi::NotificationAction(Call& call, const std::string& id) {
  auto action = ActionOf(call.body, {"retry", "cancel"});
  if (!action) return ErrorResponse(action.error());
  // As for hosts: an unknown notification is 404 whether or not an engine runs.
  if (auto found = service_.GetNotification(id); !found) return ErrorResponse(found.error());
  if (options_.recovery_control == nullptr) {
    return ErrorResponse(Error(ErrorCode::kFailedPrecondition,
                               "No recovery engine runs here ([compute] driver = none)."));
  }
  const std::string who = call.principal ? call.principal->name : "unknown";
  ha::RecoveryControl& engine = *options_.recovery_control;
  auto n = Await<Notification>("The recovery engine", 30,
                               [&](std::function<void(Result<Notification>)> done) {
                                 if (*action == "retry")
                                   return engine.Retry(id, who, std::move(done));
                                 engine.Cancel(id, who, std::move(done));
                               });
  if (!n) return ErrorResponse(n.error());
  return NotificationAnswer(200, *n, call.version.minor >= 1);
}

HttpResponse MasakariApi::HostAction(Call& call, const std::string& segment_id,
                                     const std::string& id) {
  if (auto action = ActionOf(call.body, {"unfence"}); !action) {
    return ErrorResponse(action.error());
  }
  // The host must exist in this segment (and is then known by its uuid).
  auto found = service_.GetHost(segment_id, id);
  if (!found) return ErrorResponse(found.error());
  if (options_.recovery_control == nullptr) {
    return ErrorResponse(Error(ErrorCode::kFailedPrecondition,
                               "No recovery engine runs here ([compute] driver = none)."));
  }
  const std::string who = call.principal ? call.principal->name : "unknown";
  // The engine's own call timeout and retries bound this; 120 s covers them.
  auto h = Await<Host>("The recovery engine", 120, [&](std::function<void(Result<Host>)> done) {
    options_.recovery_control->Unfence(found->host.uuid, who, std::move(done));
  });
  if (!h) return ErrorResponse(h.error());
  ha::HostWithSegment out = *found;
  out.host = *h;
  out.host.segment_uuid = found->host.segment_uuid;  // shown with the segment it was found in
  return HostAnswer(200, out);
}

HttpResponse MasakariApi::ShowNotification(Call& call, const std::string& id) {
  auto n = service_.GetNotification(id);
  if (!n) return ErrorResponse(n.error());
  return NotificationAnswer(200, *n, call.version.minor >= 1);
}

// --- vmoves --------------------------------------------------------------------------------

HttpResponse MasakariApi::ListVMoves(Call& call, const std::string& notification_id) {
  const HttpRequest& r = call.request;
  auto page = PageFromQuery(r, options_.max_limit);
  if (!page) return ErrorResponse(page.error());
  auto filter = VMoveFilterFromQuery(r);
  if (!filter) return ErrorResponse(filter.error());
  auto found = service_.ListVMoves(notification_id, *filter, *page);
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

HttpResponse MasakariApi::ListRecentVMoves(Call& call) {
  const HttpRequest& r = call.request;
  auto notifications =
      CountQuery(r, "notifications", kDefaultRecentNotifications, kMaxRecentNotifications);
  if (!notifications) return ErrorResponse(notifications.error());
  // Newest start first; moves not yet started sort as the earliest, as in every list.
  auto page = PageFromQuery(r, options_.max_limit, "start_time");
  if (!page) return ErrorResponse(page.error());
  auto filter = VMoveFilterFromQuery(r);
  if (!filter) return ErrorResponse(filter.error());
  auto moves = service_.ListRecentVMoves(*notifications, *filter, *page);
  if (!moves) return ErrorResponse(moves.error());
  JsonWriter w;
  w.BeginObject().Key("vmoves").BeginArray();
  for (const VMove& v : *moves) WriteVMove(w, v);
  w.EndArray().EndObject();
  return JsonResponse(200, w);
}

HttpResponse MasakariApi::ShowVMove(Call&, const std::string& notification_id,
                                    const std::string& id) {
  auto v = service_.GetVMove(notification_id, id);
  if (!v) return ErrorResponse(v.error());
  JsonWriter w;
  w.BeginObject().Key("vmove");
  WriteVMove(w, *v);
  w.EndObject();
  return JsonResponse(200, w);
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
