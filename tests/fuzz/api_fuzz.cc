// api_fuzz: requests made from arbitrary bytes, fed to the Masakari API over a real SQLite
// store, and what every answer must satisfy whatever came in:
//   - the API answers: no crash, no exception escaping, no hang, nothing the sanitizers see
//     (scripts/sanitize runs this under AddressSanitizer and UBSan);
//   - no 5xx: the store is healthy, so a 500 means a handler failed on its input;
//   - every 4xx carries Masakari's error body {"<fault>": {"code": <status>, "message": "..."}};
//   - a 4xx commits nothing (the store's count of committed write transactions stays put);
//   - every JSON answer parses.
// The command line is fuzz_main.h's.
//
// An input is "METHOD TARGET", then "name: value" header lines, an empty line and the body.
// {seg}, {host}, {hostname} and {notif} in the target and body become the ids of a segment, a
// host and a notification made at start, so that mutations reach more than the 404 paths.
// Without an X-Auth-Token or Authorization header the admin's token is added.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/masakari_api.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/test_temp_dir.h"
#include "fuzz_main.h"
#include "ha/ha_service.h"
#include "store/sqlite/sqlite_store.h"

namespace warden {
namespace {

using json = nlohmann::json;

// Valid and nearly valid requests for every route: the mutations start from these.
const char* const kSeeds[] = {
    "GET /\n\n",
    "GET /v1/\n\n",
    "GET /v1/extensions\n\n",
    "GET /healthz\n\n",
    "GET /readyz\n\n",
    "GET /metrics\n\n",
    "GET /v1/segments?limit=2&marker={seg}&sort_key=name&sort_dir=desc&sort_key=id\n\n",
    "GET /v1/segments?recovery_method=auto&service_type=COMPUTE&is_enabled=true\n"
    "openstack-api-version: instance-ha 1.2\n\n",
    "GET /v1/segments/{seg}\nopenstack-api-version: instance-ha latest\n\n",
    "POST /v1/segments\n\n"
    R"({"segment": {"name": "s2", "recovery_method": "auto", "service_type": "COMPUTE",
                    "description": "d", "enabled": true}})",
    "PUT /v1/segments/{seg}\nopenstack-api-version: instance-ha 1.2\n\n"
    R"({"segment": {"name": "s1", "description": null, "enabled": false}})",
    "DELETE /v1/segments/{seg}\n\n",
    "GET /v1/segments/{seg}/hosts?type=COMPUTE&on_maintenance=false&reserved=true&limit=1\n\n",
    "GET /v1/segments/{seg}/hosts/{host}\n\n",
    "POST /v1/segments/{seg}/hosts\n\n"
    R"({"host": {"name": "h2", "type": "COMPUTE", "control_attributes": "SSH",
                 "reserved": "True", "on_maintenance": false}})",
    "PUT /v1/segments/{seg}/hosts/{host}\n\n"
    R"({"host": {"name": "{hostname}", "reserved": true, "on_maintenance": "off",
                 "failover_segment_id": "{seg}"}})",
    "DELETE /v1/segments/{seg}/hosts/{host}\n\n",
    "GET /v1/notifications?status=new&source_host_uuid={host}&type=VM"
    "&generated-since=2026-01-01T00:00:00Z&sort_key=generated_time&sort_dir=asc&limit=5\n\n",
    "GET /v1/notifications?sort_key=updated_at&sort_dir=desc&limit=10&marker={notif}\n\n",
    "GET /v1/notifications/{notif}\nopenstack-api-version: instance-ha 1.1\n\n",
    "GET /v1/notifications/{notif}/vmoves?status=succeeded&type=evacuation\n"
    "openstack-api-version: instance-ha 1.3\n\n",
    "POST /v1/notifications\n\n"
    R"({"notification": {"type": "COMPUTE_HOST", "hostname": "{hostname}",
        "generated_time": "2026-01-02T03:04:05.123456+01:00",
        "payload": {"event": "STOPPED", "host_status": "UNKNOWN", "cluster_status": "OFFLINE"}}})",
    "POST /v1/notifications\n\n"
    R"({"notification": {"type": "VM", "hostname": "{hostname}",
        "generated_time": "2026-01-02T03:04:05",
        "payload": {"event": "LIFECYCLE", "instance_uuid": "0f0e0d0c-0b0a-4908-8706-050403020100",
                    "vir_domain_event": "STOPPED_FAILED"}}})",
    "POST /v1/notifications\n\n"
    R"({"notification": {"type": "PROCESS", "hostname": "{hostname}",
        "generated_time": "2026-01-02T03:04:05Z",
        "payload": {"event": "STOPPED", "process_name": "/usr/sbin/nova-compute"}}})",
    "POST /v1/notifications\nauthorization: Bearer {token}\n\n"
    R"({"hostname": "{hostname}", "type": "COMPUTE_INSTANCE",
        "payload": {"event": "LIFECYCLE", "instance_uuid": "1f0e0d0c-0b0a-4908-8706-050403020100",
                    "vir_domain_event": "STOPPED_FAILED"}})",
    "POST /v1/notifications/{notif}/action\n\n{\"retry\": null}",
    "POST /v1/notifications\ncontent-type: text/plain\n\nhello",
    "PATCH /v1/segments/{seg}\n\n{}",
    "GET /v1/segments?limit=-1&marker=abc&sort_dir=sideways\nx-auth-token: nope\n\n",
    "POST /v1/segments\n\n[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
};

// Tokens the mutator splices in: JSON's edges, Masakari's field names and values, query
// parameters, headers, and byte sequences that are not UTF-8.
// clang-format off
const char* const kDictionary[] = {
    "null", "true", "false", "0", "-1", "2147483647", "2147483648", "-9223372036854775809",
    "18446744073709551616", "1e308", "1e999", "-0.0", "1.5", "\"\"", "[]", "{}", "\"\\u0000\"",
    "\"\\ud800\"", "\"\\udc00x\"", "\\", "\"", ",", ":", "{", "}", "[", "]", "\xc3", "\xff\xfe",
    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "%00", "%ff", "%2F", "%", "%%", "&", "=", "?",
    "/", "..", "name", "description", "recovery_method", "service_type", "enabled", "type",
    "control_attributes", "reserved", "on_maintenance", "failover_segment_id", "hostname",
    "generated_time", "payload", "event", "host_status", "cluster_status", "instance_uuid",
    "vir_domain_event", "process_name", "notification", "segment", "host", "auto", "reserved_host",
    "auto_priority", "rh_priority", "COMPUTE_HOST", "VM", "PROCESS", "COMPUTE_INSTANCE",
    "COMPUTE_PROCESS", "COMPUTE", "2026-01-02T03:04:05", "2026-02-30T24:00:00",
    "9999-12-31T23:59:59.999999+14:00", "0000-00-00T00:00:00Z", "2026-01-02 03:04:05", "T", "Z",
    "+99:99", "limit=", "marker=", "sort_key=", "sort_dir=", "generated-since=", "status=",
    "source_host_uuid=", "is_enabled=", "id", "uuid", "created_at", "updated_at", "asc", "desc",
    "latest", "1.0", "1.3", "1.4", "0.9", "instance-ha", "compute 2.1",
    "\nopenstack-api-version: instance-ha ", "\nx-auth-token: ", "\nauthorization: Bearer ",
    "\nauthorization: Basic x", "\ncontent-type: application/json; charset=latin1",
    "\ncontent-type: ", "\nx-openstack-request-id: ", "{seg}", "{host}", "{hostname}", "{notif}",
    "retry", "cancel", "action", "vmoves", "hosts", "segments", "notifications",
};
// clang-format on

// One request over the API, and the checks of the file's top.
class Harness {
 public:
  Harness() {
    dir_ = ProcessTempDir("warden-api-fuzz");
    auto s = store::OpenSqliteStore({.path = (dir_ / "w.db").string()});
    if (!s) Die("store: " + s.error().ToString());
    store_ = std::move(*s);
    token_ = *api::NewToken();
    std::ofstream(dir_ / "tokens") << Sha256Hex(token_) << " fuzz admin\n"
                                   << Sha256Hex(*api::NewToken()) << " viewer reader\n";
    auto a = api::MakeTokenAuthenticator((dir_ / "tokens").string());
    if (!a) Die("tokens: " + a.error().ToString());
    auth_ = std::move(*a);
    service_ = std::make_unique<ha::HaService>(*store_, clock_, ha::HaOptions{});
    api::ApiOptions options;
    options.access_log = api::AccessLogFormat::kOff;
    api_ =
        std::make_unique<api::MasakariApi>(*service_, *store_, *auth_, clock_, metrics_, options);
    // The objects the placeholders name.
    seg_ = MustCreate(
        "POST /v1/segments\n\n"
        R"({"segment": {"name": "s1", "recovery_method": "auto",
                                      "service_type": "COMPUTE"}})",
        "segment");
    hostname_ = "h1";
    host_ = MustCreate(
        "POST /v1/segments/{seg}/hosts\n\n"
        R"({"host": {"name": "h1", "type": "COMPUTE",
                                    "control_attributes": "SSH"}})",
        "host");
    notif_ = MustCreate(
        "POST /v1/notifications\n\n"
        R"({"notification": {"type": "COMPUTE_HOST", "hostname": "h1",
                            "generated_time": "2026-01-01T00:00:00",
                            "payload": {"event": "STOPPED"}}})",
        "notification", "notification_uuid");
  }

  // Runs one input: the rule its answer broke, if any. Inputs the HTTP server would have
  // refused itself are not interesting.
  fuzz::Verdict Run(const std::string& input) {
    api::HttpRequest req;
    if (!Parse(Expand(std::string(input)), req)) {
      ++not_http_;  // the HTTP server's own 400
      return {.interesting = false};
    }
    const int64_t committed = store_->GetStats().transactions;
    api::HttpResponse res = Call(req);
    if (res.status < 100 || res.status > 599) return Fail("status " + std::to_string(res.status));
    if (res.status >= 500) return Fail("server error " + Describe(res));
    ++by_status_[res.status];
    const bool is_json = res.content_type.starts_with("application/json");
    json body;
    if (is_json && !res.body.empty()) {
      try {
        body = json::parse(res.body);
      } catch (const json::exception& e) {
        return Fail(std::string("answer is not JSON: ") + e.what() + ": " + Describe(res));
      }
    }
    if (res.status >= 400) {
      if (!body.is_object() || body.size() != 1 || !body.begin()->is_object() ||
          !body.begin()->contains("code") || (*body.begin())["code"] != res.status ||
          !body.begin()->contains("message") || !(*body.begin())["message"].is_string()) {
        return Fail("error without Masakari's error body: " + Describe(res));
      }
      if (store_->GetStats().transactions != committed) {
        return Fail("an error answer committed a write: " + Describe(res));
      }
    }
    return {};
  }

  // What the inputs got, for the summary: how many the API answered, by status.
  std::string Summary() const {
    std::string out = std::to_string(not_http_) + " not HTTP;";
    for (const auto& [status, n] : by_status_) {
      out += " " + std::to_string(status) + ":" + std::to_string(n);
    }
    return out;
  }

 private:
  static fuzz::Verdict Fail(std::string what) { return {.failure = std::move(what)}; }
  [[noreturn]] static void Die(const std::string& why) { fuzz::Die("api_fuzz", why); }

  // As the HTTP server does it: the non-blocking path first (durable creates), then Handle.
  api::HttpResponse Call(const api::HttpRequest& req) {
    auto shared = std::make_shared<const api::HttpRequest>(req);
    auto made = std::make_shared<std::promise<api::HttpResponse>>();
    auto future = made->get_future();
    bool taken = api_->HandleWithoutBlocking(
        shared, [made](api::HttpHandler::ResponseMaker make) { made->set_value(make()); });
    if (!taken) return api_->Handle(req);
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      throw std::runtime_error("no answer within 30 s");
    }
    return future.get();
  }

  std::string Expand(std::string s) const {
    const std::pair<const char*, const std::string*> names[] = {{"{seg}", &seg_},
                                                                {"{host}", &host_},
                                                                {"{hostname}", &hostname_},
                                                                {"{notif}", &notif_},
                                                                {"{token}", &token_}};
    for (const auto& [name, value] : names) {
      for (size_t at = s.find(name); at != std::string::npos; at = s.find(name, at)) {
        s.replace(at, std::strlen(name), *value);
        at += value->size();
      }
    }
    return s;
  }

  // Header lines as the transport gives them (names in lower case); false where the HTTP
  // server would have refused the request before the API saw it.
  bool Parse(const std::string& input, api::HttpRequest& req) const {
    size_t eol = input.find('\n');
    std::string first = input.substr(0, eol);
    size_t space = first.find(' ');
    if (space == std::string::npos) return false;
    req.method = first.substr(0, space);
    static const char* const kMethods[] = {"GET",    "HEAD",  "POST",   "PUT",
                                           "DELETE", "PATCH", "OPTIONS"};
    if (std::find(std::begin(kMethods), std::end(kMethods), req.method) == std::end(kMethods)) {
      return false;
    }
    req.target = first.substr(space + 1);
    for (char c : req.target) {
      // Beast refuses control characters and spaces in a target.
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    }
    if (!api::ParseTarget(req.target, req)) return false;
    size_t at = eol == std::string::npos ? input.size() : eol + 1;
    bool has_auth = false, has_type = false;
    while (at < input.size()) {
      size_t end = input.find('\n', at);
      if (end == std::string::npos) end = input.size();
      std::string line = input.substr(at, end - at);
      at = std::min(end + 1, input.size());
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string::npos || colon == 0) return false;
      std::string name = line.substr(0, colon);
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
        c = char(std::tolower(static_cast<unsigned char>(c)));
      }
      std::string value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      for (char c : value) {
        // Beast refuses these in a field value.
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
      }
      has_auth |= name == "x-auth-token" || name == "authorization";
      has_type |= name == "content-type";
      req.headers.emplace_back(std::move(name), std::move(value));
    }
    if (!has_auth) req.headers.emplace_back("x-auth-token", token_);
    req.body = input.substr(at);
    if (!req.body.empty() && !has_type)
      req.headers.emplace_back("content-type", "application/json");
    req.peer = "127.0.0.1:1";
    return true;
  }

  static std::string Describe(const api::HttpResponse& res) {
    std::string body = res.body.size() > 400 ? res.body.substr(0, 400) + "..." : res.body;
    return std::to_string(res.status) + " " + res.content_type + " " + body;
  }

  std::string MustCreate(const std::string& input, const std::string& kind,
                         const std::string& id_field = "uuid") {
    api::HttpRequest req;
    if (!Parse(Expand(input), req)) Die("seed request does not parse: " + input);
    api::HttpResponse res = Call(req);
    if (res.status / 100 != 2) Die("could not create the " + kind + ": " + Describe(res));
    return json::parse(res.body)[kind][id_field];
  }

  std::filesystem::path dir_;
  SimulatedClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<api::Authenticator> auth_;
  std::unique_ptr<ha::HaService> service_;
  api::ApiMetrics metrics_;
  std::unique_ptr<api::MasakariApi> api_;
  std::string token_, seg_, host_, hostname_, notif_;
  int64_t not_http_ = 0;
  std::map<int, int64_t> by_status_;
};

// Edits one part of a request: the body most often, else the request line or the headers
// (edits across the parts' borders mostly make inputs the HTTP server refuses).
std::string MutateRequest(const std::string& input, fuzz::Mutator& m,
                          const std::vector<std::string>& corpus) {
  size_t line_end = input.find('\n');
  size_t head_end = input.find("\n\n");
  if (line_end == std::string::npos || head_end == std::string::npos || m.Below(16) == 0) {
    std::string s = input;  // now and then, the whole input as bytes
    m.EditSome(s, corpus);
    return s;
  }
  std::string line = input.substr(0, line_end);
  std::string headers = input.substr(line_end, head_end - line_end);  // "\nname: v..."
  std::string body = input.substr(head_end + 2);
  switch (m.Below(8)) {
    case 0:
    case 1:
      m.EditSome(line, corpus);
      line = line.substr(0, line.find('\n'));  // a splice brings another input's tail
      break;
    case 2:
      m.EditSome(headers, corpus);
      for (size_t at; (at = headers.find("\n\n")) != std::string::npos;) headers.erase(at, 1);
      if (!headers.empty() && headers[0] != '\n') headers.insert(0, "\n");
      break;
    default:
      m.EditSome(body, corpus);
  }
  return line + headers + "\n\n" + body;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  warden::Harness harness;
  return warden::fuzz::FuzzMain(
      argc, argv,
      {.name = "api_fuzz",
       .seeds = {std::begin(warden::kSeeds), std::end(warden::kSeeds)},
       .dictionary = warden::kDictionary,
       .check = [&](const std::string& input) { return harness.Run(input); },
       .mutate = warden::MutateRequest,
       .summary = [&] { return harness.Summary(); }});
}
