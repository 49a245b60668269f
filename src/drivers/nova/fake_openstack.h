// A small in-memory OpenStack (Keystone, Nova, Placement) over real HTTP, for the unit tests of
// the Keystone client and the Nova driver. It answers as the real services do on the wire for
// the calls Warden makes, records every request, and lets a test inject answers.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "api/http_server.h"
#include "core/clock.h"

namespace warden::testing {

class FakeOpenStack : public api::HttpHandler {
 public:
  using json = nlohmann::json;

  struct Seen {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;
  };

  FakeOpenStack() {
    auto s = api::StartHttpServer({.address = "127.0.0.1", .port = 0, .worker_threads = 16}, *this);
    server_ = std::move(*s);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  ~FakeOpenStack() override { server_->Stop(); }

  std::string base() const { return base_; }
  std::string auth_url() const { return base_ + "/identity/v3"; }
  std::string compute_url() const { return base_ + "/compute/v2.1"; }

  // --- state, guarded by mu ---
  std::mutex mu;
  std::string max_version = "2.93";
  std::string password = "secret";
  int tokens_issued = 0;
  std::vector<std::string> valid_tokens;
  json services = json::array();      // os-services entries
  std::map<std::string, json> servers;  // id → server
  json hypervisors = json::array();
  json summaries = json::object();
  json migrations = json::array();
  json aggregates = json::array();  // {"id": 1, "name": ..., "hosts": [...]}
  std::vector<Seen> seen;
  // Called first; an answer replaces the normal one.
  std::function<std::optional<api::HttpResponse>(const api::HttpRequest&)> intercept;
  int delay_ms = 0;  // before every Nova answer
  bool prefix_host_match = false;  // servers/detail?host= matches like a prefix (a broken Nova)
  size_t max_limit = 1000;         // Nova's [api] max_limit
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};

  void AddHost(const std::string& host, const std::string& rp_uuid, int vcpus, int vcpus_used) {
    std::lock_guard lock(mu);
    services.push_back({{"id", "svc-" + host}, {"binary", "nova-compute"}, {"host", host},
                        {"status", "enabled"}, {"state", "up"}, {"forced_down", false},
                        {"disabled_reason", nullptr}, {"zone", "nova"}});
    hypervisors.push_back({{"id", rp_uuid}, {"hypervisor_hostname", host + ".example.org"},
                           {"service", {{"host", host}, {"id", "svc-" + host}}},
                           {"state", "up"}, {"status", "enabled"}});
    summaries[rp_uuid] = {{"resources",
                           {{"VCPU", {{"capacity", vcpus}, {"used", vcpus_used}}},
                            {"MEMORY_MB", {{"capacity", 65536}, {"used", 1024}}}}}};
  }
  void AddServer(const std::string& id, const std::string& host, const std::string& vm_state,
                 json metadata = json::object()) {
    std::lock_guard lock(mu);
    servers[id] = {{"id", id},
                   {"name", "vm-" + id},
                   {"OS-EXT-SRV-ATTR:host", host},
                   {"OS-EXT-STS:vm_state", vm_state},
                   {"OS-EXT-STS:task_state", nullptr},
                   {"OS-EXT-STS:power_state", vm_state == "active" ? 1 : 4},
                   {"locked", false},
                   {"metadata", metadata},
                   {"flavor", {{"vcpus", 2}, {"ram", 2048}, {"disk", 20}}}};
  }
  std::vector<Seen> Requests(const std::string& method, const std::string& prefix) {
    std::lock_guard lock(mu);
    std::vector<Seen> out;
    for (const Seen& s : seen) {
      if (s.method == method && s.target.rfind(prefix, 0) == 0) out.push_back(s);
    }
    return out;
  }

  api::HttpResponse Handle(const api::HttpRequest& r) override {
    const int now = ++in_flight;
    for (int m = max_in_flight.load(); now > m && !max_in_flight.compare_exchange_weak(m, now);) {
    }
    api::HttpResponse out = Answer(r);
    --in_flight;
    return out;
  }

 private:
  static api::HttpResponse Json(int status, const json& body) {
    return {.status = status, .body = body.is_null() ? "" : body.dump()};
  }
  static api::HttpResponse NovaError(int status, const std::string& kind, const std::string& msg) {
    return Json(status, {{kind, {{"code", status}, {"message", msg}}}});
  }

  api::HttpResponse Answer(const api::HttpRequest& r) {
    std::function<std::optional<api::HttpResponse>(const api::HttpRequest&)> hook;
    int delay = 0;
    {
      std::lock_guard lock(mu);
      Seen s{r.method, r.target, {}, r.body};
      for (const auto& [k, v] : r.headers) s.headers[k] = v;
      seen.push_back(std::move(s));
      hook = intercept;
      delay = delay_ms;
    }
    if (hook) {
      if (auto a = hook(r)) return *a;
    }
    if (r.path == "/identity/v3/auth/tokens") return Identity(r);
    const std::string* token = r.Header("x-auth-token");
    {
      std::lock_guard lock(mu);
      if (token == nullptr || std::find(valid_tokens.begin(), valid_tokens.end(), *token) ==
                                  valid_tokens.end()) {
        return Json(401, {{"error", {{"code", 401}, {"message", "Unauthorized"}}}});
      }
    }
    if (delay > 0) RealClock().SleepFor(int64_t(delay) * 1000);
    std::lock_guard lock(mu);
    if (r.path == "/compute/v2.1") {  // like older api-paste files: a redirect
      return {.status = 302, .headers = {{"Location", base_ + "/compute/v2.1/"}}};
    }
    if (r.path == "/compute/v2.1/") {
      return Json(200, {{"version", {{"id", "v2.1"}, {"status", "CURRENT"},
                                     {"version", max_version}, {"min_version", "2.1"}}}});
    }
    if (r.path == "/compute/v2.1/os-services") {
      json list = json::array();
      for (const json& s : services) {
        if (r.Query("host") && s["host"] != *r.Query("host")) continue;
        list.push_back(s);
      }
      return Json(200, {{"services", list}});
    }
    if (r.path.rfind("/compute/v2.1/os-services/", 0) == 0) {
      const std::string id = r.path.substr(26);
      json body = json::parse(r.body, nullptr, false);
      for (json& s : services) {
        if (s["id"] != id) continue;
        for (const auto& [k, v] : body.items()) s[k] = v;
        return Json(200, {{"service", s}});
      }
      return NovaError(404, "itemNotFound", "Service " + id + " not found.");
    }
    if (r.path == "/compute/v2.1/servers/detail") {
      // Like Nova: sorted by id here, `limit` and `marker` paginate.
      const size_t limit = r.Query("limit") ? std::stoul(*r.Query("limit")) : 1000;
      const std::string marker = r.Query("marker").value_or("");
      json list = json::array();
      const size_t page = std::min(limit, max_limit);
      for (const auto& [id, s] : servers) {
        if (!marker.empty() && id <= marker) continue;
        if (auto h = r.Query("host")) {
          const std::string host = s["OS-EXT-SRV-ATTR:host"];
          if (prefix_host_match ? host.rfind(*h, 0) != 0 : host != *h) continue;
        }
        if (list.size() >= page) break;
        list.push_back(s);
      }
      json out = {{"servers", list}};
      if (list.size() == page) {  // like Nova: a full page links to the next
        out["servers_links"] = json::array(
            {{{"rel", "next"}, {"href", base_ + r.path + "?marker=" + list.back()["id"].get<std::string>()}}});
      }
      return Json(200, out);
    }
    if (r.path.rfind("/compute/v2.1/servers/", 0) == 0) {
      std::string rest = r.path.substr(22);
      const bool action = rest.size() > 7 && rest.ends_with("/action");
      if (action) rest.resize(rest.size() - 7);
      auto it = servers.find(rest);
      if (it == servers.end()) return NovaError(404, "itemNotFound", "Instance " + rest + " could not be found.");
      if (!action) return Json(200, {{"server", it->second}});
      json body = json::parse(r.body, nullptr, false);
      json& s = it->second;
      if (body.contains("os-stop")) {
        if (s["OS-EXT-STS:vm_state"] == "stopped") {
          return NovaError(409, "conflictingRequest",
                           "Cannot 'stop' instance " + rest + " while it is in vm_state stopped");
        }
        s["OS-EXT-STS:vm_state"] = "stopped";
        return Json(202, nullptr);
      }
      if (body.contains("os-start")) {
        s["OS-EXT-STS:vm_state"] = "active";
        return Json(202, nullptr);
      }
      if (body.contains("os-resetState")) {
        s["OS-EXT-STS:vm_state"] = body["os-resetState"]["state"];
        return Json(202, nullptr);
      }
      if (body.contains("lock")) {  // {"lock": null} or, from 2.73, {"lock": {"locked_reason": …}}
        s["locked"] = true;
        s["locked_reason"] =
            body["lock"].is_object() ? body["lock"].value("locked_reason", json()) : json();
        return Json(202, nullptr);
      }
      if (body.contains("unlock")) {
        s["locked"] = false;
        s["locked_reason"] = nullptr;
        return Json(202, nullptr);
      }
      if (body.contains("evacuate")) {
        if (body["evacuate"].contains("host")) s["OS-EXT-SRV-ATTR:host"] = body["evacuate"]["host"];
        migrations.push_back({{"id", int(migrations.size() + 1)},
                              {"uuid", "mig-" + std::to_string(migrations.size() + 1)},
                              {"instance_uuid", rest},
                              {"migration_type", "evacuation"},
                              {"status", "done"},
                              {"source_compute", "x"},
                              {"dest_compute", s["OS-EXT-SRV-ATTR:host"]},
                              {"created_at", "2026-11-22T10:00:00.000000"},
                              {"updated_at", "2026-11-22T10:00:00.000000"}});
        return Json(200, nullptr);
      }
      return NovaError(400, "badRequest", "Unknown action");
    }
    if (r.path == "/compute/v2.1/os-migrations") {
      // Filters as Nova: instance_uuid, migration_type, changes-since (on updated_at), then
      // limit/marker (the migration's uuid) with a "next" link while more are left.
      json list = json::array();
      const std::optional<std::string> since = r.Query("changes-since");
      const std::optional<std::string> marker = r.Query("marker");
      bool after_marker = !marker.has_value();
      size_t limit = r.Query("limit") ? std::stoul(*r.Query("limit")) : 1000;
      bool more = false;
      for (const json& m : migrations) {
        if (!after_marker) {
          after_marker = m.value("uuid", "") == *marker;
          continue;
        }
        if (r.Query("instance_uuid") && m["instance_uuid"] != *r.Query("instance_uuid")) continue;
        if (r.Query("migration_type") && m["migration_type"] != *r.Query("migration_type"))
          continue;
        // Nova compares updated_at, which stays NULL until the record's first update: such
        // a record is not listed.
        if (since && (!m.contains("updated_at") || !m["updated_at"].is_string() ||
                      m["updated_at"].get<std::string>() < *since)) {
          continue;
        }
        if (list.size() == limit) {
          more = true;
          break;
        }
        list.push_back(m);
      }
      json out = {{"migrations", list}};
      if (more) out["migrations_links"] = json::array({{{"rel", "next"}, {"href", "x"}}});
      return Json(200, out);
    }
    if (r.path == "/compute/v2.1/os-aggregates") return Json(200, {{"aggregates", aggregates}});
    if (r.path.rfind("/compute/v2.1/os-aggregates/", 0) == 0 && r.path.ends_with("/action")) {
      const std::string id = r.path.substr(28, r.path.size() - 28 - 7);
      json body = json::parse(r.body, nullptr, false);
      for (json& a : aggregates) {
        if (std::to_string(a["id"].get<int>()) != id) continue;
        const json host = body["add_host"]["host"];
        for (const json& h : a["hosts"]) {
          if (h == host) {
            return NovaError(409, "conflictingRequest",  // Nova's AggregateHostExists
                             "Aggregate " + id + " already has host " + host.get<std::string>() +
                                 ".");
          }
        }
        a["hosts"].push_back(host);
        return Json(200, {{"aggregate", a}});
      }
      return NovaError(404, "itemNotFound", "Aggregate " + id + " could not be found.");
    }
    if (r.path == "/compute/v2.1/os-hypervisors/detail") {
      return Json(200, {{"hypervisors", hypervisors}});
    }
    if (r.path == "/placement/allocation_candidates") {
      return Json(200, {{"allocation_requests", json::array()},
                        {"provider_summaries", summaries}});
    }
    return NovaError(404, "itemNotFound", "no route " + r.path);
  }

  api::HttpResponse Identity(const api::HttpRequest& r) {
    std::lock_guard lock(mu);
    if (r.method == "POST") {
      json body = json::parse(r.body, nullptr, false);
      const json* pw = nullptr;
      if (body.is_object() && body.contains("auth")) {
        const json& id = body["auth"]["identity"];
        if (id.contains("password")) pw = &id["password"]["user"]["password"];
        if (id.contains("application_credential")) pw = &id["application_credential"]["secret"];
      }
      if (pw == nullptr || *pw != password) {
        return Json(401, {{"error", {{"code", 401}, {"message", "The request you have made requires authentication."}}}});
      }
      const std::string token = "tok-" + std::to_string(++tokens_issued);
      valid_tokens.push_back(token);
      json catalog = json::array(
          {{{"type", "compute"}, {"name", "nova"},
            {"endpoints", json::array({{{"interface", "public"}, {"region_id", "RegionOne"},
                                        {"url", base_ + "/compute/v2.1"}},
                                       {{"interface", "internal"}, {"region_id", "RegionTwo"},
                                        {"url", base_ + "/compute-internal/v2.1"}}})}},
           {{"type", "placement"}, {"name", "placement"},
            {"endpoints", json::array({{{"interface", "public"}, {"region_id", "RegionOne"},
                                        {"url", base_ + "/placement"}}})}}});
      api::HttpResponse out = Json(201, {{"token", {{"expires_at", "2099-01-01T00:00:00.000000Z"},
                                                    {"issued_at", "2026-01-01T00:00:00.000000Z"},
                                                    {"catalog", catalog},
                                                    {"roles", json::array({{{"name", "admin"}}})}}}});
      out.headers.push_back({"X-Subject-Token", token});
      return out;
    }
    // GET: validation of X-Subject-Token with X-Auth-Token.
    const std::string* own = r.Header("x-auth-token");
    const std::string* subject = r.Header("x-subject-token");
    if (own == nullptr || std::find(valid_tokens.begin(), valid_tokens.end(), *own) ==
                                    valid_tokens.end()) {
      return Json(401, {{"error", {{"code", 401}, {"message", "Unauthorized"}}}});
    }
    if (subject == nullptr || std::find(valid_tokens.begin(), valid_tokens.end(), *subject) ==
                                  valid_tokens.end()) {
      return Json(404, {{"error", {{"code", 404}, {"message", "Could not find token"}}}});
    }
    return Json(200, {{"token", {{"expires_at", "2099-01-01T00:00:00.000000Z"},
                                 {"user", {{"id", "u1"}, {"name", "admin"}}},
                                 {"project", {{"id", "p1"}, {"name", "admin"}}},
                                 {"roles", json::array({{{"name", "admin"}}, {{"name", "reader"}}})}}}});
  }

  std::unique_ptr<api::HttpServer> server_;
  std::string base_;
};

}  // namespace warden::testing
