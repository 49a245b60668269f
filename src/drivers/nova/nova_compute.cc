#include "drivers/nova/nova_compute.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "core/time.h"
#include "drivers/nova/pacer.h"
#include "net/http_client.h"
#include "openstack/json_fields.h"

namespace warden::drivers {

using nlohmann::json;
using openstack::IntAt;
using openstack::StringAt;

namespace {

// The highest compute microversion Warden asks for: from 2.95 on, Nova leaves evacuated
// servers stopped, which would change what "recovered" means.
constexpr int kMaxMinor = 93;
constexpr int kMinMinor = 53;  // service ids, forced_down through PUT /os-services/{id}
constexpr const char* kPlacementVersion = "placement 1.29";
constexpr int kInitialWindow = 8;   // calls in flight before the cloud has answered any
constexpr int kMaxTurnedAway = 20;  // times one operation is queued again without a queue timeout

enum class Service { kCompute, kPlacement };

// "2.93" → 93; -1 if it is not 2.x.
int MinorOf(const std::string& v) {
  if (!v.starts_with("2.")) return -1;
  int minor = -1;
  auto [p, ec] = std::from_chars(v.data() + 2, v.data() + v.size(), minor);
  return ec == std::errc() && p == v.data() + v.size() ? minor : -1;
}

// Nova's {"badRequest": {"message": ..}} / Placement's {"errors": [{"detail": ..}]}.
std::string ErrorMessage(const net::HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("errors"); e != j.end() && e->is_array() && !e->empty()) {
      std::string d = StringAt((*e)[0], "detail");
      if (!d.empty()) return d;
    }
    for (const auto& [k, v] : j.items()) {
      if (v.is_object() && v.contains("message") && v["message"].is_string()) {
        return v["message"].get<std::string>();
      }
    }
  }
  std::string body = r.body.substr(0, 200);
  std::replace(body.begin(), body.end(), '\n', ' ');
  return body;
}

Result<json> Interpret(const net::HttpResponse& r, const std::string& what) {
  if (r.status >= 200 && r.status < 300) {
    if (r.body.empty()) return json();
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return Internal(what + ": the answer is not JSON");
    return j;
  }
  const std::string msg = what + " answered " + std::to_string(r.status) + ": " + ErrorMessage(r);
  switch (r.status) {
    case 400:
      return FailedPrecondition(msg);
    case 403:
      return MakeError(ErrorCode::kPermissionDenied, msg);
    case 404:
      return NotFound(msg);
    case 409:
      return MakeError(ErrorCode::kAborted, msg);
    case 429:
      return Unavailable(msg);
    default:
      if (r.status >= 500) return Unavailable(msg);
      return Internal(msg);
  }
}

Instance ParseServer(const json& s) {
  Instance i;
  i.uuid = StringAt(s, "id");
  i.name = StringAt(s, "name");
  i.host = StringAt(s, "OS-EXT-SRV-ATTR:host");
  i.vm_state = StringAt(s, "OS-EXT-STS:vm_state");
  if (auto t = s.find("OS-EXT-STS:task_state"); t != s.end() && t->is_string()) {
    i.task_state = t->get<std::string>();
  }
  i.power_state = int(IntAt(s, "OS-EXT-STS:power_state"));
  if (auto l = s.find("locked"); l != s.end() && l->is_boolean()) i.locked = l->get<bool>();
  if (auto r = s.find("locked_reason"); r != s.end() && r->is_string()) {
    i.locked_reason = r->get<std::string>();
  }
  if (auto m = s.find("metadata"); m != s.end() && m->is_object()) {
    for (const auto& [k, v] : m->items()) {
      if (v.is_string()) i.metadata[k] = v.get<std::string>();
    }
  }
  if (auto f = s.find("flavor"); f != s.end() && f->is_object()) {
    i.flavor = {IntAt(*f, "vcpus"), IntAt(*f, "ram"), IntAt(*f, "disk")};
  }
  return i;
}

Migration ParseMigration(const json& m) {
  Migration g;
  g.seq = IntAt(m, "id");
  g.id = StringAt(m, "uuid");
  if (g.id.empty()) g.id = std::to_string(g.seq);
  g.instance_uuid = StringAt(m, "instance_uuid");
  g.source_host = StringAt(m, "source_compute");
  g.dest_host = StringAt(m, "dest_compute");
  g.type = StringAt(m, "migration_type");
  g.status = StringAt(m, "status");
  g.created_at = ParseIsoTime(StringAt(m, "created_at")).value_or(0);
  return g;
}

ComputeService ParseService(const json& s) {
  ComputeService c;
  if (auto id = s.find("id"); id != s.end()) {
    c.id = id->is_string() ? id->get<std::string>() : id->dump();
  }
  c.host = StringAt(s, "host");
  c.enabled = StringAt(s, "status") == "enabled";
  c.up = StringAt(s, "state") == "up";
  if (auto f = s.find("forced_down"); f != s.end() && f->is_boolean()) c.forced_down = *f;
  c.disabled_reason = StringAt(s, "disabled_reason");
  return c;
}

// Whether a paginated answer links to a next page.
bool HasNextLink(const json& j, const char* key) {
  auto links = j.find(key);
  if (links == j.end() || !links->is_array()) return false;
  for (const json& l : *links) {
    if (l.is_object() && StringAt(l, "rel") == "next") return true;
  }
  return false;
}

// Keystone refusing Warden's own credentials is not the caller's fault and no retry helps.
Error FromKeystone(const Error& e) {
  if (e.code() != ErrorCode::kUnauthenticated) return e;
  return Error(ErrorCode::kPermissionDenied, e.message());
}

}  // namespace

struct NovaCompute::Impl {
  Impl(EventLoop& l, openstack::KeystoneClient& k, NovaOptions opt)
      : loop(l),
        keystone(k),
        o(std::move(opt)),
        pacer({.max_window = std::max(1, o.max_concurrent_calls),
               .max_rate = std::max(0.0, o.max_calls_per_second),
               .initial_window = std::min(kInitialWindow, std::max(1, o.max_concurrent_calls))}) {
    pool = std::make_unique<net::HttpPool>(std::max(1, o.max_concurrent_calls), o.tls);
    pace_window = pacer.window();
    pace_rate = pacer.rate();
  }

  // --- on the loop ---------------------------------------------------------------------------
  // Queues `work`; Pump starts it on the pool when the pace allows. Only then does it count
  // as an outstanding external operation, so a simulated loop can move time to the pacer's
  // timer meanwhile. An operation the cloud turned away unexecuted (429, or 503 with
  // Retry-After) is queued again at the front, until the queue timeout: the pacer holds it
  // for the Retry-After and the caller sees only the delay.
  template <typename T>
  void Run(std::shared_ptr<Impl> self, std::function<Result<T>(net::HttpClient&)> work,
           Callback<T> done) {
    ++operations;
    auto op = std::make_shared<Operation<T>>(
        Operation<T>{std::move(work), std::move(done), loop.clock().Monotonic()});
    Enqueue<T>(self, op, /*front=*/false);
  }

  template <typename T>
  struct Operation {
    std::function<Result<T>(net::HttpClient&)> work;
    Callback<T> done;
    MonoMicros queued_at = 0;
    int turned_away = 0;  // times the cloud answered 429 / 503 with Retry-After
  };

  template <typename T>
  void Enqueue(const std::shared_ptr<Impl>& self, std::shared_ptr<Operation<T>> op, bool front,
               MonoMicros not_before = 0) {
    Pending p;
    p.queued_at = op->queued_at;
    p.not_before = not_before;
    p.expire = [self, op](Error e) { self->loop.Post([op, e] { op->done(std::unexpected(e)); }); };
    p.start = [self, op]() -> std::function<void(net::HttpClient&)> {
      auto away = std::make_shared<int64_t>(-1);
      auto finish = BindToLoop<Result<T>>(self->loop, [self, op, away](Result<T> r) {
        --self->in_flight;
        self->TakeFeedback();
        if (!r && *away >= 0 && !self->stopping.load() &&
            self->MayRequeue(op->queued_at, ++op->turned_away)) {
          ++self->requeued;
          // Sent again once its Retry-After has passed (a 503's holds every call anyway).
          self->Enqueue<T>(self, op, /*front=*/true, self->loop.clock().Monotonic() + *away);
          return;
        }
        self->Pump(self);
        op->done(std::move(r));
      });
      return [self, op, away, finish](net::HttpClient& http) mutable {
        if (self->stopping.load()) return finish(MakeError(ErrorCode::kAborted, "shutting down"));
        turned_away_for = -1;
        try {
          Result<T> r = op->work(http);
          *away = turned_away_for;
          finish(std::move(r));
        } catch (const std::exception& e) {
          // A malformed answer the parsing did not expect must not end the process.
          finish(Internal(std::string("unexpected answer from the cloud: ") + e.what()));
        }
      };
    };
    if (not_before > loop.clock().Monotonic()) {
      deferred.push_back(std::move(p));
    } else if (front) {
      waiting.push_front(std::move(p));
    } else {
      waiting.push_back(std::move(p));
    }
    Pump(self);
  }

  // Pump again at `at` (0: no need), keeping the earliest of what is asked.
  void ArmPumpTimer(const std::shared_ptr<Impl>& self, MonoMicros at) {
    if (at == 0 || (pump_timer != 0 && pump_timer_at <= at)) return;
    if (pump_timer != 0) loop.Cancel(pump_timer);
    pump_timer_at = at;
    pump_timer = loop.RunAt(at, [self] {
      self->pump_timer = 0;
      self->Pump(self);
    });
  }

  bool MayRequeue(MonoMicros queued_at, int times) const {
    if (o.queue_timeout_seconds > 0) {
      return loop.clock().Monotonic() - queued_at < int64_t(o.queue_timeout_seconds * 1e6);
    }
    return times <= kMaxTurnedAway;
  }

  // The answers the pool's threads saw, into the pacer.
  void TakeFeedback() {
    std::vector<Feedback> got;
    {
      std::lock_guard lock(feedback_mu);
      got.swap(feedback);
    }
    for (const Feedback& f : got) pacer.Answered(f.outcome, f.started_at, f.answered_at, f.retry_after);
    const PaceSnapshot pace = pacer.Snapshot(loop.clock().Monotonic());
    pace_window = pace.window;
    pace_rate = pace.rate;
    pace_cuts = pace.cuts;
  }

  void Pump(const std::shared_ptr<Impl>& self) {
    const MonoMicros now = loop.clock().Monotonic();
    // Calls turned away whose Retry-After has passed go first again.
    for (auto it = deferred.begin(); it != deferred.end();) {
      if (it->not_before <= now) {
        waiting.push_front(std::move(*it));
        it = deferred.erase(it);
      } else {
        ++it;
      }
    }
    // In one pass: calls the caller has stopped waiting for are answered now, free slot or not,
    // and the next time something still queued may change (a deferred call due, one expiring).
    const int64_t timeout = o.queue_timeout_seconds > 0 ? int64_t(o.queue_timeout_seconds * 1e6) : 0;
    MonoMicros wake = 0;
    auto sooner = [&wake](MonoMicros t) { wake = wake == 0 ? t : std::min(wake, t); };
    for (std::deque<Pending>* queue : {&waiting, &deferred}) {
      std::erase_if(*queue, [&](Pending& p) {
        if (timeout > 0 && now - p.queued_at > timeout) {
          ++expired;
          p.expire(Error(ErrorCode::kDeadlineExceeded,
                         "not sent: waited over " +
                             std::to_string(int64_t(o.queue_timeout_seconds)) +
                             " s for the pace of calls to Nova (the cloud's answers and "
                             "Retry-After, [nova] max_concurrent_calls, max_calls_per_second)"));
          return true;
        }
        if (timeout > 0) sooner(p.queued_at + timeout + 1);
        if (queue == &deferred) sooner(p.not_before);
        return false;
      });
    }
    ArmPumpTimer(self, wake);
    while (!waiting.empty() && pool) {
      MonoMicros again = 0;
      if (!pacer.MayStart(in_flight, now, &again)) {
        ArmPumpTimer(self, again);  // when the pace allows (0: when a call ends)
        return;
      }
      pacer.Started(now);
      ++in_flight;
      auto start = std::move(waiting.front().start);
      waiting.pop_front();
      pool->Submit(start());
    }
  }

  // --- on the pool's threads -------------------------------------------------------------------
  Result<std::string> Base(Service svc) {
    {
      std::lock_guard lock(mu);
      const std::string& cached = svc == Service::kCompute ? compute_base : placement_base;
      if (!cached.empty()) return cached;
    }
    std::string url = svc == Service::kCompute ? o.compute_url : o.placement_url;
    if (url.empty()) {
      auto e = keystone.Endpoint(svc == Service::kCompute ? "compute" : "placement");
      if (!e) return std::unexpected(FromKeystone(e.error()));
      url = *e;
    }
    while (!url.empty() && url.back() == '/') url.pop_back();
    std::lock_guard lock(mu);
    (svc == Service::kCompute ? compute_base : placement_base) = url;
    return url;
  }

  // One request with Warden's token; a 401 renews the token and sends it again, once.
  Result<net::HttpResponse> Send(net::HttpClient& http, net::HttpRequest req) {
    for (int attempt = 0;; ++attempt) {
      if (stopping.load()) return MakeError(ErrorCode::kAborted, "shutting down");
      auto token = keystone.Token();
      if (!token) return std::unexpected(FromKeystone(token.error()));
      net::HttpRequest r = req;
      r.headers.push_back({"X-Auth-Token", *token});
      r.timeout_micros = int64_t(o.call_timeout_seconds * 1e6);
      ++http_requests;
      const MonoMicros sent_at = loop.clock().Monotonic();
      auto resp = http.Send(r);
      Note(sent_at, resp);
      if (!resp) return resp;
      if (resp->status == 401 && attempt == 0) {
        ++reauthentications;
        keystone.InvalidateToken(*token);
        continue;
      }
      return resp;
    }
  }

  // Tells the pacer (at the operation's end, on the loop) how the cloud answered; a 429, or a
  // 503 with Retry-After, marks the operation as turned away unexecuted.
  void Note(MonoMicros sent_at, const Result<net::HttpResponse>& resp) {
    Feedback f{.started_at = sent_at, .answered_at = loop.clock().Monotonic()};
    // The operation's last answer decides whether it was turned away unexecuted.
    turned_away_for = -1;
    if (!resp) {
      f.outcome = resp.error().code() == ErrorCode::kDeadlineExceeded ||
                          resp.error().code() == ErrorCode::kUnavailable
                      ? CallOutcome::kTimedOut
                      : CallOutcome::kRefused;
    } else if (resp->status == 429 || resp->status >= 500) {
      f.outcome = resp->status == 429 ? CallOutcome::kThrottled : CallOutcome::kUnavailable;
      if (resp->status == 429 || resp->status == 503) {
        f.retry_after = ParseRetryAfter(resp->Header("retry-after"));
      }
      if (resp->status == 429 || f.retry_after) turned_away_for = f.retry_after.value_or(0);
    } else if (resp->status >= 400) {
      f.outcome = CallOutcome::kRefused;
    }
    if (f.outcome == CallOutcome::kThrottled) ++throttled;
    std::lock_guard lock(feedback_mu);
    feedback.push_back(f);
  }

  // The microversion, found from the compute endpoint's version document on first use.
  Result<std::string> Microversion(net::HttpClient& http) {
    std::lock_guard discovering(discover_mu);
    {
      std::lock_guard lock(mu);
      if (!microversion.empty()) return microversion;
    }
    auto base = Base(Service::kCompute);
    if (!base) return std::unexpected(base.error());
    // Nova serves its version document at ".../v2.1/" in every release (without the slash,
    // older api-paste files answer a redirect). The catalog's URL may end in the project id
    // (…/v2.1/<project>): try its parent too.
    std::vector<std::string> candidates = {*base + "/"};
    if (size_t slash = base->rfind('/'); slash != std::string::npos && slash > 8) {
      candidates.push_back(base->substr(0, slash + 1));
    }
    std::string last_error;
    for (const std::string& url : candidates) {
      auto r = Send(http, {.method = "GET", .url = url, .headers = {{"Accept", "application/json"}}});
      if (!r) return std::unexpected(r.error());
      json j = json::parse(r->body, nullptr, false);
      if (r->status != 200 || !j.is_object() || !j.contains("version") ||
          !j["version"].is_object()) {
        last_error = "GET " + url + " answered " + std::to_string(r->status);
        continue;
      }
      const std::string max = StringAt(j["version"], "version");
      const int minor = MinorOf(max);
      if (minor < kMinMinor) {
        return FailedPrecondition("Nova at " + url + " supports microversions up to " +
                                  (max.empty() ? "2.1" : max) + "; Warden needs 2." +
                                  std::to_string(kMinMinor) + " (Nova Pike) or later");
      }
      std::lock_guard lock(mu);
      microversion = "2." + std::to_string(std::min(minor, kMaxMinor));
      return microversion;
    }
    return FailedPrecondition("cannot read Nova's version document (is [nova] compute_url or "
                              "the catalog's compute endpoint right?): " + last_error);
  }

  Result<json> Call(net::HttpClient& http, Service svc, const std::string& method,
                    const std::string& path, const json* body = nullptr) {
    auto base = Base(svc);
    if (!base) return std::unexpected(base.error());
    net::HttpRequest req{.method = method, .url = *base + path};
    req.headers.push_back({"Accept", "application/json"});
    if (svc == Service::kCompute) {
      auto mv = Microversion(http);
      if (!mv) return std::unexpected(mv.error());
      req.headers.push_back({"OpenStack-API-Version", "compute " + *mv});
      req.headers.push_back({"X-OpenStack-Nova-API-Version", *mv});
    } else {
      req.headers.push_back({"OpenStack-API-Version", kPlacementVersion});
    }
    if (body != nullptr) {
      req.body = body->dump();
      req.headers.push_back({"Content-Type", "application/json"});
    }
    const std::string what = method + " " + path;
    auto r = Send(http, std::move(req));
    if (!r) return std::unexpected(r.error());
    return Interpret(*r, what);
  }

  // GETs a compute listing page by page (`path` has its query), following Nova's "next" link
  // — Nova caps `limit` at its [api] max_limit, so the page size says nothing — with the last
  // item's `marker_key` as the marker; `each` sees every object of `list_key`.
  Result<void> ForEachPage(net::HttpClient& http, const std::string& path, const std::string& list_key,
                           const char* marker_key, const std::function<void(const json&)>& each) {
    constexpr int kMaxPages = 10000;
    const std::string links_key = list_key + "_links";
    std::string marker;
    for (int pages = 0; pages < kMaxPages; ++pages) {
      std::string url = path + (path.find('?') == std::string::npos ? "?" : "&") + "limit=500";
      if (!marker.empty()) url += "&marker=" + net::UrlEncode(marker);
      auto j = Call(http, Service::kCompute, "GET", url);
      if (!j) return std::unexpected(j.error());
      auto list = j->find(list_key);
      if (list == j->end() || !list->is_array()) return {};
      for (const json& e : *list) {
        if (e.is_object()) each(e);
      }
      if (list->empty() || !HasNextLink(*j, links_key.c_str())) return {};
      marker = StringAt(list->back(), marker_key);
      if (marker.empty()) return {};
    }
    return Internal("Nova's " + list_key + " listing goes on past " + std::to_string(kMaxPages) +
                    " pages");
  }

  // The nova-compute services Nova lists (all of them, or those of `host` exactly); their ids
  // are kept for the updates by id. os-services is not paginated.
  Result<std::vector<ComputeService>> ComputeServices(net::HttpClient& http,
                                                      const std::string& host = "") {
    std::string path = "/os-services?binary=nova-compute";
    if (!host.empty()) path += "&host=" + net::UrlEncode(host);
    auto j = Call(http, Service::kCompute, "GET", path);
    if (!j) return std::unexpected(j.error());
    std::vector<ComputeService> out;
    if (auto list = j->find("services"); list != j->end() && list->is_array()) {
      std::lock_guard lock(mu);
      for (const json& s : *list) {
        if (!s.is_object() || StringAt(s, "binary") != "nova-compute") continue;
        if (!host.empty() && StringAt(s, "host") != host) continue;
        out.push_back(ParseService(s));
        service_ids[out.back().host] = out.back().id;
      }
    }
    return out;
  }

  Result<ComputeService> FindService(net::HttpClient& http, const std::string& host) {
    auto l = ComputeServices(http, host);
    if (!l) {
      // A 404 for the listing itself is the endpoint's (a wrong compute_url or catalog entry),
      // not the host's: only an empty listing means that Nova has no such service.
      if (l.error().code() == ErrorCode::kNotFound) return Unavailable(l.error().message());
      return std::unexpected(l.error());
    }
    if (l->empty()) return NotFound("Nova has no nova-compute service on host " + host);
    return l->front();
  }

  // PUT /os-services/{id}, looking the id up (again, if Nova re-registered the service).
  Result<void> UpdateService(net::HttpClient& http, const std::string& host, const json& body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::string id;
      {
        std::lock_guard lock(mu);
        if (auto it = service_ids.find(host); it != service_ids.end()) id = it->second;
      }
      if (id.empty()) {
        auto s = FindService(http, host);
        if (!s) return std::unexpected(s.error());
        id = s->id;
      }
      auto r = Call(http, Service::kCompute, "PUT", "/os-services/" + net::UrlEncode(id), &body);
      if (r) return {};
      if (r.error().code() != ErrorCode::kNotFound || attempt > 0) return std::unexpected(r.error());
      std::lock_guard lock(mu);
      service_ids.erase(host);
    }
    return {};
  }

  Result<void> Action(net::HttpClient& http, const std::string& uuid, const json& body) {
    auto r = Call(http, Service::kCompute, "POST", "/servers/" + net::UrlEncode(uuid) + "/action",
                  &body);
    if (!r) return std::unexpected(r.error());
    return {};
  }

  EventLoop& loop;
  openstack::KeystoneClient& keystone;
  const NovaOptions o;
  std::unique_ptr<net::HttpPool> pool;

  // Loop-owned: calls not yet started, and the rate limiter.
  struct Pending {
    MonoMicros queued_at = 0;
    std::function<std::function<void(net::HttpClient&)>()> start;  // on the loop, when started
    std::function<void(Error)> expire;                             // answers without sending
    MonoMicros not_before = 0;  // turned away: not sent again before its Retry-After
  };
  std::deque<Pending> waiting;
  std::deque<Pending> deferred;  // turned away, waiting for their Retry-After
  int in_flight = 0;
  Pacer pacer;
  TimerId pump_timer = 0;
  MonoMicros pump_timer_at = 0;

  struct Feedback {
    CallOutcome outcome = CallOutcome::kClean;
    MonoMicros started_at = 0;
    MonoMicros answered_at = 0;
    std::optional<int64_t> retry_after;
  };
  std::mutex feedback_mu;
  std::vector<Feedback> feedback;  // guarded by feedback_mu
  // Set by Note on the pool thread running an operation, read when the operation ends there.
  // How long the cloud asked to wait (Retry-After; 0 if none said) before the operation's
  // last request is sent again, when it was turned away unexecuted; -1 otherwise.
  static thread_local int64_t turned_away_for;

  std::mutex discover_mu;  // one version discovery at a time
  mutable std::mutex mu;
  std::string compute_base;                        // guarded by mu
  std::string placement_base;                      // guarded by mu
  std::string microversion;                        // guarded by mu
  std::map<std::string, std::string> service_ids;  // host → service id; guarded by mu

  std::atomic<bool> stopping{false};  // set by the destructor: calls not yet sent are dropped
  std::atomic<int64_t> operations{0};
  std::atomic<int64_t> http_requests{0};
  std::atomic<int64_t> reauthentications{0};
  std::atomic<int64_t> expired{0};
  std::atomic<int64_t> throttled{0};
  std::atomic<int64_t> requeued{0};
  // The pace, published by the loop for stats().
  std::atomic<int64_t> pace_window{0};
  std::atomic<double> pace_rate{0};
  std::atomic<int64_t> pace_cuts{0};
};

thread_local int64_t NovaCompute::Impl::turned_away_for = -1;

Result<void> ValidateNovaOptions(const NovaOptions& o) {
  if (o.max_concurrent_calls < 1 || o.max_concurrent_calls > 256) {
    return InvalidArgument("max_concurrent_calls must be in [1, 256]");
  }
  if (o.max_calls_per_second < 0) return InvalidArgument("max_calls_per_second must be >= 0");
  if (o.call_timeout_seconds <= 0) return InvalidArgument("call_timeout must be positive");
  if (o.queue_timeout_seconds < 0) return InvalidArgument("queue_timeout must be >= 0");
  for (const std::string* url : {&o.compute_url, &o.placement_url}) {
    if (!url->empty() && !url->starts_with("http://") && !url->starts_with("https://")) {
      return InvalidArgument((url == &o.compute_url ? "compute_url" : "placement_url") +
                             std::string(" '") + *url + "' is not an http(s) URL");
    }
  }
  return {};
}

NovaCompute::NovaCompute(EventLoop& loop, openstack::KeystoneClient& keystone, NovaOptions options)
    : impl_(std::make_shared<Impl>(loop, keystone, std::move(options))) {}

NovaCompute::~NovaCompute() {
  // Joins the HTTP threads once the requests in flight are answered; every operation's next
  // request, and what is still waiting, is dropped.
  impl_->stopping = true;
  impl_->pool.reset();
  // What still waits is dropped, and the timer that would start it: both hold the Impl.
  impl_->loop.Post([impl = impl_] {
    if (impl->pump_timer != 0) impl->loop.Cancel(std::exchange(impl->pump_timer, 0));
    impl->waiting.clear();
    impl->deferred.clear();
  });
}

NovaStats NovaCompute::stats() const {
  return {.operations = impl_->operations.load(),
          .http_requests = impl_->http_requests.load(),
          .reauthentications = impl_->reauthentications.load(),
          .expired = impl_->expired.load(),
          .throttled = impl_->throttled.load(),
          .requeued = impl_->requeued.load(),
          .pace_cuts = impl_->pace_cuts.load(),
          .pace_window = impl_->pace_window.load(),
          .pace_rate = impl_->pace_rate.load()};
}

std::string NovaCompute::PaceNote() const {
  const NovaStats s = stats();
  std::string note = "calls to the cloud: up to " + std::to_string(s.pace_window) + " in flight";
  if (s.pace_rate > 0) {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.0f", s.pace_rate);
    note += std::string(", ") + rate + " a second";
  }
  if (s.pace_cuts > 0) {
    note += " (cut " + std::to_string(s.pace_cuts) + " times by 429s, 5xx, timeouts or slow " +
            "answers; " + std::to_string(s.throttled) + " answers 429)";
  }
  return note;
}

std::string NovaCompute::microversion() const {
  std::lock_guard lock(impl_->mu);
  return impl_->microversion;
}

void NovaCompute::GetService(const std::string& host, Callback<ComputeService> done) {
  auto impl = impl_;
  impl->Run<ComputeService>(
      impl, [impl, host](net::HttpClient& http) { return impl->FindService(http, host); },
      std::move(done));
}

void NovaCompute::ListServices(Callback<std::vector<ComputeService>> done) {
  auto impl = impl_;
  impl->Run<std::vector<ComputeService>>(
      impl,
      [impl](net::HttpClient& http) { return impl->ComputeServices(http); },
      std::move(done));
}

void NovaCompute::SetServiceEnabled(const std::string& host, bool enabled,
                                    const std::string& reason, Callback<void> done) {
  auto impl = impl_;
  json body = enabled ? json{{"status", "enabled"}}
                      : json{{"status", "disabled"}, {"disabled_reason", reason}};
  impl->Run<void>(
      impl, [impl, host, body](net::HttpClient& http) { return impl->UpdateService(http, host, body); },
      std::move(done));
}

void NovaCompute::SetForcedDown(const std::string& host, bool forced_down, Callback<void> done) {
  auto impl = impl_;
  json body = {{"forced_down", forced_down}};
  impl->Run<void>(
      impl, [impl, host, body](net::HttpClient& http) { return impl->UpdateService(http, host, body); },
      std::move(done));
}

void NovaCompute::ListInstances(const std::string& host, Callback<std::vector<Instance>> done) {
  auto impl = impl_;
  impl->Run<std::vector<Instance>>(
      impl,
      [impl, host](net::HttpClient& http) -> Result<std::vector<Instance>> {
        std::vector<Instance> out;
        auto r = impl->ForEachPage(
            http, "/servers/detail?all_tenants=1&host=" + net::UrlEncode(host), "servers", "id",
            [&](const json& s) {
              Instance i = ParseServer(s);
              // Nova matches `host` exactly today; checking again costs nothing and keeps
              // compute3 from ever meaning compute30.
              if (i.host == host) out.push_back(std::move(i));
            });
        if (!r) return std::unexpected(r.error());
        return out;
      },
      std::move(done));
}

void NovaCompute::GetInstance(const std::string& uuid, Callback<Instance> done) {
  auto impl = impl_;
  impl->Run<Instance>(
      impl,
      [impl, uuid](net::HttpClient& http) -> Result<Instance> {
        auto j = impl->Call(http, Service::kCompute, "GET", "/servers/" + net::UrlEncode(uuid));
        if (!j) return std::unexpected(j.error());
        if (!j->contains("server") || !(*j)["server"].is_object()) {
          return Internal("GET /servers/" + uuid + " answered without a server");
        }
        return ParseServer((*j)["server"]);
      },
      std::move(done));
}

void NovaCompute::ListHostResources(Callback<std::vector<HostResources>> done) {
  auto impl = impl_;
  impl->Run<std::vector<HostResources>>(
      impl,
      [impl](net::HttpClient& http) -> Result<std::vector<HostResources>> {
        // Hypervisors name the resource providers (at 2.53+ a hypervisor's id is its compute
        // node's UUID, which is its provider's UUID) and map them to service hosts.
        std::vector<std::pair<std::string, std::string>> nodes;  // (provider uuid, host)
        auto listed = impl->ForEachPage(
            http, "/os-hypervisors/detail", "hypervisors", "id",
            [&](const json& h) {
              std::string host;
              if (auto s = h.find("service"); s != h.end() && s->is_object()) {
                host = StringAt(*s, "host");
              }
              nodes.push_back(
                  {StringAt(h, "id"), host.empty() ? StringAt(h, "hypervisor_hostname") : host});
            });
        if (!listed) return std::unexpected(listed.error());
        // Placement's capacity already applies allocation ratios and reserved amounts. Hosts
        // without room for the smallest server are missing from the answer: they have none.
        auto a = impl->Call(http, Service::kPlacement, "GET",
                            "/allocation_candidates?resources=VCPU:1,MEMORY_MB:1");
        if (!a) return std::unexpected(a.error());
        const json empty = json::object();
        const json& summaries =
            a->contains("provider_summaries") && (*a)["provider_summaries"].is_object()
                ? (*a)["provider_summaries"]
                : empty;
        std::vector<HostResources> out;
        for (const auto& [uuid, host] : nodes) {
          HostResources r;
          r.host = host;
          auto s = summaries.find(uuid);
          if (s != summaries.end() && s->is_object() && s->contains("resources")) {
            const json& res = (*s)["resources"];
            auto get = [&](const char* rc, int64_t& total, int64_t& used, int64_t absent) {
              auto it = res.find(rc);
              if (it == res.end() || !it->is_object()) {
                total = absent;
                used = 0;
                return;
              }
              total = IntAt(*it, "capacity");
              used = IntAt(*it, "used");
            };
            get("VCPU", r.total.vcpus, r.used.vcpus, 0);
            get("MEMORY_MB", r.total.ram_mb, r.used.ram_mb, 0);
            // Instances on shared storage take no DISK_GB from the host.
            get("DISK_GB", r.total.disk_gb, r.used.disk_gb, int64_t(1) << 40);
          }
          out.push_back(std::move(r));
        }
        return out;
      },
      std::move(done));
}

void NovaCompute::ListMigrations(const std::string& instance_uuid,
                                 Callback<std::vector<Migration>> done) {
  auto impl = impl_;
  impl->Run<std::vector<Migration>>(
      impl,
      [impl, instance_uuid](net::HttpClient& http) -> Result<std::vector<Migration>> {
        auto j = impl->Call(http, Service::kCompute, "GET",
                            "/os-migrations?migration_type=evacuation&instance_uuid=" +
                                net::UrlEncode(instance_uuid));
        if (!j) return std::unexpected(j.error());
        std::vector<Migration> out;
        if (auto list = j->find("migrations"); list != j->end() && list->is_array()) {
          for (const json& m : *list) {
            if (!m.is_object()) continue;
            Migration g = ParseMigration(m);
            if (g.instance_uuid == instance_uuid && g.type == "evacuation") {
              out.push_back(std::move(g));
            }
          }
        }
        return out;
      },
      std::move(done));
}

void NovaCompute::ListEvacuationsSince(WallMicros since, Callback<std::vector<Migration>> done) {
  auto impl = impl_;
  impl->Run<std::vector<Migration>>(
      impl,
      [impl, since](net::HttpClient& http) -> Result<std::vector<Migration>> {
        auto mv = impl->Microversion(http);
        if (!mv) return std::unexpected(mv.error());
        // changes-since and paging of os-migrations come with 2.59 (Queens).
        if (MinorOf(*mv) < 59) {
          return MakeError(ErrorCode::kUnimplemented, "os-migrations changes-since needs 2.59");
        }
        std::vector<Migration> out;
        auto r = impl->ForEachPage(
            http,
            "/os-migrations?migration_type=evacuation&changes-since=" +
                net::UrlEncode(FormatIsoTime(since)),
            "migrations", "uuid", [&](const json& m) {
              Migration g = ParseMigration(m);
              if (g.type == "evacuation") out.push_back(std::move(g));
            });
        if (!r) return std::unexpected(r.error());
        return out;
      },
      std::move(done));
}

void NovaCompute::Evacuate(const std::string& uuid, const std::optional<std::string>& destination,
                           Callback<void> done) {
  auto impl = impl_;
  // No "force": Nova's scheduler still checks a named destination (filters, capacity).
  json args = json::object();
  if (destination) args["host"] = *destination;
  json body = {{"evacuate", args}};
  impl->Run<void>(
      impl, [impl, uuid, body](net::HttpClient& http) { return impl->Action(http, uuid, body); },
      std::move(done));
}

void NovaCompute::StopInstance(const std::string& uuid, Callback<void> done) {
  auto impl = impl_;
  impl->Run<void>(
      impl,
      [impl, uuid](net::HttpClient& http) -> Result<void> {
        auto r = impl->Action(http, uuid, json{{"os-stop", nullptr}});
        // "Cannot 'stop' instance … while it is in vm_state stopped": already done.
        if (!r && r.error().code() == ErrorCode::kAborted &&
            r.error().message().find("vm_state stopped") != std::string::npos) {
          return {};
        }
        return r;
      },
      std::move(done));
}

void NovaCompute::StartInstance(const std::string& uuid, Callback<void> done) {
  auto impl = impl_;
  impl->Run<void>(
      impl,
      [impl, uuid](net::HttpClient& http) -> Result<void> {
        auto r = impl->Action(http, uuid, json{{"os-start", nullptr}});
        if (!r && r.error().code() == ErrorCode::kAborted &&
            r.error().message().find("vm_state active") != std::string::npos) {
          return {};
        }
        return r;
      },
      std::move(done));
}

void NovaCompute::ResetState(const std::string& uuid, const std::string& vm_state,
                             Callback<void> done) {
  auto impl = impl_;
  json body = {{"os-resetState", {{"state", vm_state}}}};
  impl->Run<void>(
      impl, [impl, uuid, body](net::HttpClient& http) { return impl->Action(http, uuid, body); },
      std::move(done));
}

void NovaCompute::LockInstance(const std::string& uuid, const std::string& reason,
                               Callback<void> done) {
  auto impl = impl_;
  impl->Run<void>(
      impl,
      [impl, uuid, reason](net::HttpClient& http) -> Result<void> {
        auto mv = impl->Microversion(http);
        if (!mv) return std::unexpected(mv.error());
        // locked_reason exists from 2.73 (Train); before that the lock carries no reason.
        const bool with_reason = MinorOf(*mv) >= 73;
        json body =
            with_reason ? json{{"lock", {{"locked_reason", reason}}}} : json{{"lock", nullptr}};
        return impl->Action(http, uuid, body);
      },
      std::move(done));
}

void NovaCompute::UnlockInstance(const std::string& uuid, Callback<void> done) {
  auto impl = impl_;
  impl->Run<void>(
      impl,
      [impl, uuid](net::HttpClient& http) {
        return impl->Action(http, uuid, json{{"unlock", nullptr}});
      },
      std::move(done));
}

void NovaCompute::ListAggregates(Callback<std::vector<Aggregate>> done) {
  auto impl = impl_;
  impl->Run<std::vector<Aggregate>>(
      impl,
      [impl](net::HttpClient& http) -> Result<std::vector<Aggregate>> {
        auto j = impl->Call(http, Service::kCompute, "GET", "/os-aggregates");
        if (!j) return std::unexpected(j.error());
        std::vector<Aggregate> out;
        if (auto list = j->find("aggregates"); list != j->end() && list->is_array()) {
          for (const json& a : *list) {
            if (!a.is_object()) continue;
            Aggregate g;
            if (auto id = a.find("id"); id != a.end()) {
              g.id = id->is_string() ? id->get<std::string>() : id->dump();
            }
            g.name = StringAt(a, "name");
            if (auto hosts = a.find("hosts"); hosts != a.end() && hosts->is_array()) {
              for (const json& h : *hosts) {
                if (h.is_string()) g.hosts.push_back(h.get<std::string>());
              }
            }
            out.push_back(std::move(g));
          }
        }
        return out;
      },
      std::move(done));
}

void NovaCompute::AddHostToAggregate(const std::string& aggregate_id, const std::string& host,
                                     Callback<void> done) {
  auto impl = impl_;
  json body = {{"add_host", {{"host", host}}}};
  impl->Run<void>(
      impl,
      [impl, aggregate_id, host, body](net::HttpClient& http) -> Result<void> {
        auto r = impl->Call(http, Service::kCompute, "POST",
                            "/os-aggregates/" + net::UrlEncode(aggregate_id) + "/action", &body);
        // 409 "Aggregate N already has host H" (LP #1667246) is the wanted state; other 409s
        // (an availability-zone conflict) are errors.
        if (!r && r.error().code() == ErrorCode::kAborted &&
            r.error().message().find("already has host") != std::string::npos) {
          return {};
        }
        if (!r) return std::unexpected(r.error());
        return {};
      },
      std::move(done));
}

}  // namespace warden::drivers
