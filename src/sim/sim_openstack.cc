#include "sim/sim_openstack.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

#include "core/time.h"

namespace warden::sim {
namespace {

using nlohmann::json;

api::HttpResponse Json(int status, const json& body) {
  return {.status = status, .body = body.is_null() ? "" : body.dump()};
}

api::HttpResponse NovaError(int status, const std::string& kind, const std::string& message) {
  return Json(status, {{kind, {{"code", status}, {"message", message}}}});
}

// How Nova would answer the SimCloud's refusal.
api::HttpResponse FromError(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kNotFound:
      return NovaError(404, "itemNotFound", e.message());
    case ErrorCode::kFailedPrecondition:
      // Nova's InstanceInvalidState is a 409; "Compute service of X is still in use." a 400.
      if (e.message().starts_with("Cannot '")) {
        return NovaError(409, "conflictingRequest", e.message());
      }
      return NovaError(400, "badRequest", e.message());
    case ErrorCode::kInvalidArgument:
      return NovaError(400, "badRequest", e.message());
    case ErrorCode::kAborted:
      return NovaError(409, "conflictingRequest", e.message());
    case ErrorCode::kUnavailable:
      return NovaError(503, "serviceUnavailable", e.message());
    default:
      return NovaError(500, "computeFault", e.message());
  }
}

std::string NovaStatus(const drivers::Instance& i) {
  if (i.task_state == "rebuilding") return "REBUILD";
  if (i.vm_state == "active") return "ACTIVE";
  if (i.vm_state == "stopped") return "SHUTOFF";
  if (i.vm_state == "error") return "ERROR";
  std::string s = i.vm_state;
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s;
}

json ServerJson(const drivers::Instance& i) {
  json metadata = json::object();
  for (const auto& [k, v] : i.metadata) metadata[k] = v;
  return {{"id", i.uuid},
          {"name", i.name},
          {"status", NovaStatus(i)},
          {"OS-EXT-SRV-ATTR:host", i.host},
          {"OS-EXT-STS:vm_state", i.vm_state},
          {"OS-EXT-STS:task_state", i.task_state ? json(*i.task_state) : json()},
          {"OS-EXT-STS:power_state", i.power_state},
          {"locked", i.locked},
          {"locked_reason", i.locked_reason ? json(*i.locked_reason) : json()},
          {"metadata", metadata},
          {"flavor", {{"vcpus", i.flavor.vcpus}, {"ram", i.flavor.ram_mb},
                      {"disk", i.flavor.disk_gb}}}};
}

json ServiceJson(const drivers::ComputeService& s) {
  return {{"id", s.id},
          {"binary", "nova-compute"},
          {"host", s.host},
          {"zone", "nova"},
          {"status", s.enabled ? "enabled" : "disabled"},
          {"state", s.up ? "up" : "down"},
          {"forced_down", s.forced_down},
          {"disabled_reason", s.disabled_reason.empty() ? json() : json(s.disabled_reason)}};
}

json MigrationJson(const drivers::Migration& m) {
  const std::string at = FormatIsoTime(m.created_at);
  return {{"id", m.seq},
          {"uuid", m.id},
          {"instance_uuid", m.instance_uuid},
          {"migration_type", "evacuation"},
          {"status", m.status},
          {"source_compute", m.source_host},
          {"dest_compute", m.dest_host},
          {"created_at", at},
          {"updated_at", at}};
}

std::string ProviderOf(const std::string& host) { return "rp-" + host; }

// A page of `items` (sorted by `key`, as text) after `marker`, at most `limit`, with Nova's "next" link.
json Page(const std::vector<json>& items, const api::HttpRequest& r, const std::string& list_key,
          const char* key, const std::string& self) {
  size_t limit = 1000;
  if (auto l = r.Query("limit")) {
    size_t v = 0;
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
    if (ec == std::errc() && p == l->data() + l->size() && v > 0) limit = std::min<size_t>(v, 1000);
  }
  auto text = [key](const json& item) {
    const json v = item.value(key, json());
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  // Like Nova, the page goes on after the marker's place in the order, even if the marker's
  // own item has gone meanwhile (an instance moved off the host being listed).
  const std::string marker = r.Query("marker").value_or("");
  size_t start = 0;
  if (!marker.empty()) {
    while (start < items.size() && text(items[start]) <= marker) ++start;
  }
  json list = json::array();
  for (size_t i = start; i < items.size() && list.size() < limit; ++i) list.push_back(items[i]);
  json out = {{list_key, list}};
  if (start + list.size() < items.size()) {
    out[list_key + "_links"] =
        json::array({{{"rel", "next"}, {"href", self + "?marker=" + text(list.back())}}});
  }
  return out;
}

}  // namespace

SimOpenStack::SimOpenStack(EventLoop& loop, SimCloud& cloud, SimEdgeOptions options)
    : loop_(loop), cloud_(cloud), options_(std::move(options)) {}

api::HttpResponse SimOpenStack::Handle(const api::HttpRequest&) {
  return NovaError(500, "computeFault", "answered without blocking only");
}

bool SimOpenStack::HandleWithoutBlocking(std::shared_ptr<const api::HttpRequest> request,
                                         Responder respond) {
  loop_.Post([this, request, respond = std::move(respond)] {
    Reply reply = [respond](api::HttpResponse r) {
      respond([r = std::move(r)] { return r; });
    };
    try {
      Route(*request, std::move(reply));
    } catch (const std::exception& e) {
      // A body that is not what the route expects (the sim's parsing is not Nova's).
      respond([msg = std::string(e.what())] { return NovaError(400, "badRequest", msg); });
    }
  });
  return true;
}

std::optional<api::HttpResponse> SimOpenStack::TurnedAway() {
  const MonoMicros now = loop_.clock().Monotonic();
  const std::string retry = std::to_string(options_.retry_after_seconds);
  if (now < unavailable_until_) {
    ++unavailable_;
    api::HttpResponse r = NovaError(503, "serviceUnavailable", "The service is unavailable (simulated outage)");
    r.headers.push_back({"Retry-After", retry});
    return r;
  }
  if (options_.rate_limit > 0) {
    while (!recent_.empty() && now - recent_.front() >= 1'000'000) recent_.pop_front();
    if (double(recent_.size()) >= options_.rate_limit) {
      ++too_many_;
      api::HttpResponse r = NovaError(429, "overLimit", "This request was rate-limited.");
      r.headers.push_back({"Retry-After", retry});
      return r;
    }
    recent_.push_back(now);
  }
  return std::nullopt;
}

void SimOpenStack::Route(const api::HttpRequest& r, Reply reply) {
  const std::string& p = r.path;
  if (p.starts_with("/sim/")) return Admin(r, std::move(reply));
  if (p.starts_with("/identity/v3")) return Identity(r, std::move(reply));
  const bool compute = p.starts_with("/compute/v2.1");
  const bool placement = p.starts_with("/placement");
  if (!compute && !placement) return reply(NovaError(404, "itemNotFound", "no route " + p));
  const std::string* token = r.Header("x-auth-token");
  if (token == nullptr || !tokens_.contains(*token)) {
    ++rejected_auth_;
    return reply(Json(401, {{"error", {{"code", 401}, {"message", "Unauthorized"}}}}));
  }
  if (placement && !options_.placement) {
    return reply(NovaError(404, "itemNotFound", "no route " + p));
  }
  if (auto away = TurnedAway()) return reply(std::move(*away));
  if (compute) return Compute(r, p.substr(13), std::move(reply));
  return Placement(r, p.substr(10), std::move(reply));
}

void SimOpenStack::Identity(const api::HttpRequest& r, Reply reply) {
  if (r.path != "/identity/v3/auth/tokens") {
    return reply(Json(404, {{"error", {{"code", 404}, {"message", "no route " + r.path}}}}));
  }
  if (r.method == "GET") {  // validation of X-Subject-Token, for Keystone middleware
    const std::string* own = r.Header("x-auth-token");
    const std::string* subject = r.Header("x-subject-token");
    if (own == nullptr || !tokens_.contains(*own)) {
      return reply(Json(401, {{"error", {{"code", 401}, {"message", "Unauthorized"}}}}));
    }
    if (subject == nullptr || !tokens_.contains(*subject)) {
      return reply(Json(404, {{"error", {{"code", 404}, {"message", "Could not find token"}}}}));
    }
    return reply(Json(200, {{"token", {{"expires_at", "2099-01-01T00:00:00.000000Z"},
                                       {"user", {{"id", "u1"}, {"name", "admin"}}},
                                       {"project", {{"id", "p1"}, {"name", "admin"}}},
                                       {"roles", json::array({{{"name", "admin"}}})}}}}));
  }
  const json body = json::parse(r.body, nullptr, false);
  // The secret at a path of objects, or null: any other body is a 401, never a crash.
  auto at = [](const json* j, std::initializer_list<const char*> path) -> const json* {
    for (const char* key : path) {
      if (j == nullptr || !j->is_object()) return nullptr;
      auto it = j->find(key);
      j = it == j->end() ? nullptr : &*it;
    }
    return j;
  };
  const json* secret = at(&body, {"auth", "identity", "password", "user", "password"});
  if (secret == nullptr) secret = at(&body, {"auth", "identity", "application_credential", "secret"});
  if (secret == nullptr || !secret->is_string() || *secret != options_.password) {
    ++rejected_auth_;
    return reply(Json(401, {{"error", {{"code", 401}, {"message",
        "The request you have made requires authentication."}}}}));
  }
  const std::string token = "sim-token-" + std::to_string(++tokens_issued_);
  tokens_[token] = true;
  auto endpoint = [&](const std::string& url) {
    json list = json::array();
    for (const char* i : {"public", "internal", "admin"}) {
      list.push_back({{"interface", i}, {"region_id", "RegionOne"}, {"region", "RegionOne"},
                      {"url", url}});
    }
    return list;
  };
  json catalog = json::array({{{"type", "compute"}, {"name", "nova"},
                               {"endpoints", endpoint(base_ + "/compute/v2.1")}}});
  if (options_.placement) {
    catalog.push_back({{"type", "placement"}, {"name", "placement"},
                       {"endpoints", endpoint(base_ + "/placement")}});
  }
  api::HttpResponse out = Json(201, {{"token", {{"expires_at", "2099-01-01T00:00:00.000000Z"},
                                                {"issued_at", FormatIsoTime(loop_.clock().Now()) + "Z"},
                                                {"catalog", catalog},
                                                {"roles", json::array({{{"name", "admin"}}})}}}});
  out.headers.push_back({"X-Subject-Token", token});
  reply(std::move(out));
}

void SimOpenStack::Compute(const api::HttpRequest& r, const std::string& path, Reply reply) {
  const std::string& m = r.method;
  auto count = [&](const std::string& route) { ++requests_[m + " " + route]; };
  auto answer = [reply](auto ok) {
    return [reply, ok](auto result) {
      if (!result) return reply(FromError(result.error()));
      reply(ok(*result));
    };
  };
  if (path.empty() || path == "/") {
    count("/compute/");
    return reply(Json(200, {{"version", {{"id", "v2.1"}, {"status", "CURRENT"},
                                         {"version", "2.93"}, {"min_version", "2.1"}}}}));
  }
  if (path == "/os-services" && m == "GET") {
    count("/os-services");
    const auto host = r.Query("host");
    return cloud_.ListServices([reply, host](Result<std::vector<drivers::ComputeService>> l) {
      if (!l) return reply(FromError(l.error()));
      json list = json::array();
      for (const auto& s : *l) {
        if (!host || s.host == *host) list.push_back(ServiceJson(s));
      }
      reply(Json(200, {{"services", list}}));
    });
  }
  if (path.starts_with("/os-services/") && m == "PUT") {
    count("/os-services/{id}");
    const std::string id = path.substr(13);
    if (!id.starts_with("svc-")) return reply(NovaError(404, "itemNotFound", "Service " + id + " not found."));
    const std::string host = id.substr(4);
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_object()) return reply(NovaError(400, "badRequest", "the body is not a JSON object"));
    auto then_show = [this, reply, host](Result<void> done) {
      if (!done) return reply(FromError(done.error()));
      auto it = cloud_.hosts().find(host);
      if (it == cloud_.hosts().end()) return reply(NovaError(404, "itemNotFound", "no host " + host));
      drivers::ComputeService s{.id = "svc-" + host,
                                .host = host,
                                .enabled = it->second.service_enabled,
                                .forced_down = it->second.forced_down,
                                .up = cloud_.ServiceUp(it->second),
                                .disabled_reason = it->second.disabled_reason};
      reply(Json(200, {{"service", ServiceJson(s)}}));
    };
    if (body.contains("forced_down")) {
      return cloud_.SetForcedDown(host, body["forced_down"].get<bool>(), then_show);
    }
    if (body.contains("status")) {
      return cloud_.SetServiceEnabled(host, body["status"] == "enabled",
                                      body.value("disabled_reason", json("")).is_string()
                                          ? body.value("disabled_reason", std::string())
                                          : std::string(),
                                      then_show);
    }
    return reply(NovaError(400, "badRequest", "nothing to update"));
  }
  if (path == "/servers/detail" && m == "GET") {
    count("/servers/detail");
    auto page = [r, reply, self = base_ + "/compute/v2.1/servers/detail"](
                    Result<std::vector<drivers::Instance>> l) {
      if (!l) return reply(FromError(l.error()));
      std::sort(l->begin(), l->end(), [](auto& a, auto& b) { return a.uuid < b.uuid; });
      std::vector<json> items;
      for (const auto& i : *l) items.push_back(ServerJson(i));
      reply(Json(200, Page(items, r, "servers", "id", self)));
    };
    if (auto host = r.Query("host")) return cloud_.ListInstances(*host, page);
    std::vector<drivers::Instance> all;
    for (const auto& [_, i] : cloud_.instances()) all.push_back(i.info);
    return page(std::move(all));
  }
  if (path.starts_with("/servers/")) {
    std::string rest = path.substr(9);
    if (rest.ends_with("/action") && m == "POST") {
      return ServerAction(rest.substr(0, rest.size() - 7), r, std::move(reply));
    }
    if (m == "GET" && rest.find('/') == std::string::npos) {
      count("/servers/{id}");
      return cloud_.GetInstance(rest, answer([](const drivers::Instance& i) {
        return Json(200, {{"server", ServerJson(i)}});
      }));
    }
  }
  if (path == "/os-migrations" && m == "GET") {
    auto listed = [r, reply, self = base_ + "/compute/v2.1/os-migrations"](
                      Result<std::vector<drivers::Migration>> l) {
      if (!l) return reply(FromError(l.error()));
      std::sort(l->begin(), l->end(), [](auto& a, auto& b) { return a.id < b.id; });
      std::vector<json> items;
      for (const auto& g : *l) items.push_back(MigrationJson(g));
      reply(Json(200, Page(items, r, "migrations", "uuid", self)));
    };
    if (auto uuid = r.Query("instance_uuid")) {
      count("/os-migrations?instance_uuid");
      return cloud_.ListMigrations(*uuid, listed);
    }
    count("/os-migrations?changes-since");
    WallMicros since = 0;
    if (auto s = r.Query("changes-since")) {
      auto t = ParseIsoTime(*s);
      if (!t) return reply(NovaError(400, "badRequest", "Invalid changes-since " + *s));
      since = *t;
    }
    return cloud_.ListEvacuationsSince(since, listed);
  }
  if (path == "/os-hypervisors/detail" && m == "GET") {
    count("/os-hypervisors/detail");
    return cloud_.ListServices([this, r, reply](Result<std::vector<drivers::ComputeService>> l) {
      if (!l) return reply(FromError(l.error()));
      std::vector<json> items;
      for (const auto& s : *l) {
        items.push_back({{"id", ProviderOf(s.host)},
                         {"hypervisor_hostname", s.host + ".sim"},
                         {"state", s.up ? "up" : "down"},
                         {"status", s.enabled ? "enabled" : "disabled"},
                         {"service", {{"host", s.host}, {"id", s.id}}}});
      }
      reply(Json(200, Page(items, r, "hypervisors", "id",
                           base_ + "/compute/v2.1/os-hypervisors/detail")));
    });
  }
  if (path == "/os-aggregates" && m == "GET") {
    count("/os-aggregates");
    return cloud_.ListAggregates(answer([](const std::vector<drivers::Aggregate>& l) {
      json list = json::array();
      for (const auto& a : l) {
        int64_t id = 0;
        std::from_chars(a.id.data(), a.id.data() + a.id.size(), id);
        list.push_back({{"id", id}, {"name", a.name}, {"hosts", a.hosts}});
      }
      return Json(200, {{"aggregates", list}});
    }));
  }
  if (path.starts_with("/os-aggregates/") && path.ends_with("/action") && m == "POST") {
    count("/os-aggregates/{id}/action");
    const std::string id = path.substr(15, path.size() - 15 - 7);
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("add_host")) {
      return reply(NovaError(400, "badRequest", "only add_host is simulated"));
    }
    return cloud_.AddHostToAggregate(id, body["add_host"]["host"].get<std::string>(),
                                     [reply](Result<void> done) {
                                       if (!done) return reply(FromError(done.error()));
                                       reply(Json(200, json::object()));
                                     });
  }
  count("(no route)");
  reply(NovaError(404, "itemNotFound", "no route " + r.method + " " + path));
}

void SimOpenStack::ServerAction(const std::string& uuid, const api::HttpRequest& r, Reply reply) {
  json body = json::parse(r.body, nullptr, false);
  if (!body.is_object() || body.size() != 1) {
    return reply(NovaError(400, "badRequest", "an action body names one action"));
  }
  const std::string action = body.begin().key();
  ++requests_["POST /servers/{id}/action " + action];
  auto accepted = [reply](int status) {
    return [reply, status](Result<void> done) {
      if (!done) return reply(FromError(done.error()));
      reply(Json(status, status == 200 ? json::object() : json()));
    };
  };
  const json& arg = body.begin().value();
  if (action == "evacuate") {
    std::optional<std::string> host;
    if (arg.is_object() && arg.contains("host") && arg["host"].is_string()) {
      host = arg["host"].get<std::string>();
    }
    return cloud_.Evacuate(uuid, host, accepted(200));
  }
  if (action == "os-stop") return cloud_.StopInstance(uuid, accepted(202));
  if (action == "os-start") return cloud_.StartInstance(uuid, accepted(202));
  if (action == "os-resetState") {
    return cloud_.ResetState(uuid, arg.at("state").get<std::string>(), accepted(202));
  }
  if (action == "lock") {
    std::string reason;
    if (arg.is_object() && arg.contains("locked_reason") && arg["locked_reason"].is_string()) {
      reason = arg["locked_reason"].get<std::string>();
    }
    return cloud_.LockInstance(uuid, reason, accepted(202));
  }
  if (action == "unlock") return cloud_.UnlockInstance(uuid, accepted(202));
  reply(NovaError(400, "badRequest", "the sim does not do action " + action));
}

void SimOpenStack::Placement(const api::HttpRequest& r, const std::string& path, Reply reply) {
  if (path == "/allocation_candidates" && r.method == "GET") {
    ++requests_["GET /placement/allocation_candidates"];
    return cloud_.ListHostResources([reply](Result<std::vector<drivers::HostResources>> l) {
      if (!l) return reply(FromError(l.error()));
      json summaries = json::object();
      for (const auto& h : *l) {
        summaries[ProviderOf(h.host)] = {
            {"resources",
             {{"VCPU", {{"capacity", h.total.vcpus}, {"used", h.used.vcpus}}},
              {"MEMORY_MB", {{"capacity", h.total.ram_mb}, {"used", h.used.ram_mb}}},
              {"DISK_GB", {{"capacity", h.total.disk_gb}, {"used", h.used.disk_gb}}}}}};
      }
      reply(Json(200, {{"allocation_requests", json::array()}, {"provider_summaries", summaries}}));
    });
  }
  ++requests_["(no route)"];
  reply(Json(404, {{"errors", json::array({{{"status", 404}, {"detail", "no route " + path}}})}}));
}

void SimOpenStack::Admin(const api::HttpRequest& r, Reply reply) {
  const std::string& p = r.path;
  if (p == "/sim/stats" && r.method == "GET") {
    json requests = json::object();
    int64_t total = 0;
    for (const auto& [k, v] : requests_) {
      requests[k] = v;
      total += v;
    }
    json evacuations = json::object();
    int64_t most = 0;
    for (const auto& [uuid, _] : cloud_.instances()) {
      const int64_t n = cloud_.evacuations(uuid);
      if (n > 0) evacuations[uuid] = n;
      most = std::max(most, n);
    }
    return reply(Json(200, {{"requests", requests},
                            {"requests_total", total},
                            {"tokens_issued", tokens_issued_},
                            {"too_many_requests", too_many_},
                            {"unavailable", unavailable_},
                            {"unauthorized", rejected_auth_},
                            {"evacuations_accepted", cloud_.evacuations_accepted()},
                            {"evacuations", evacuations},
                            {"most_evacuations_of_one_instance", most},
                            {"split_brains", cloud_.split_brains()}}));
  }
  if (p == "/sim/servers" && r.method == "GET") {
    const auto host = r.Query("host");
    json list = json::array();
    for (const auto& [uuid, i] : cloud_.instances()) {
      if (host && i.info.host != *host) continue;
      json s = ServerJson(i.info);
      s["evacuations"] = cloud_.evacuations(uuid);
      list.push_back(std::move(s));
    }
    return reply(Json(200, {{"servers", list}}));
  }
  if (p.starts_with("/sim/hosts/") && p.ends_with("/power-off") && r.method == "POST") {
    const std::string host = p.substr(11, p.size() - 11 - 10);
    if (!cloud_.hosts().contains(host)) {
      return reply(NovaError(404, "itemNotFound", "no host " + host));
    }
    cloud_.PowerLoss(host);
    return reply(Json(202, nullptr));
  }
  if (p == "/sim/faults" && r.method == "POST") {
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_object()) return reply(NovaError(400, "badRequest", "the body is not a JSON object"));
    // Every fault is checked before any is applied: a bad one changes nothing.
    auto valid = [](const std::string& k, const json& v) {
      const bool number = v.is_number() && v.get<double>() >= 0;
      if (k == "rate_limit" || k == "unavailable_for") return number;
      if (k == "retry_after" || k == "fail_evacuations") return number && v.is_number_integer();
      if (k == "api_error_rate") return number && v.get<double>() <= 1;
      if (k == "placement") return v.is_boolean();
      return false;
    };
    for (const auto& [k, v] : body.items()) {
      if (!valid(k, v)) {
        return reply(NovaError(400, "badRequest",
                               "fault '" + k + "': unknown or out of range (rate_limit >= 0, "
                               "retry_after >= 0 s, unavailable_for >= 0 s, placement true|false, "
                               "api_error_rate in [0, 1], fail_evacuations >= 0)"));
      }
    }
    for (const auto& [k, v] : body.items()) {
      if (k == "rate_limit") options_.rate_limit = v.get<double>();
      if (k == "retry_after") options_.retry_after_seconds = v.get<int64_t>();
      if (k == "unavailable_for") {
        unavailable_until_ = loop_.clock().Monotonic() + int64_t(v.get<double>() * 1e6);
      }
      if (k == "placement") options_.placement = v.get<bool>();
      if (k == "api_error_rate") cloud_.set_api_error_rate(v.get<double>());
      if (k == "fail_evacuations") cloud_.FailNextEvacuations(v.get<int64_t>());
    }
    return reply(Json(204, nullptr));
  }
  reply(NovaError(404, "itemNotFound", "no route " + r.method + " " + p));
}

}  // namespace warden::sim
