// A Masakari API over a real SQLite store: the fixture the API tests share.
//
// By default requests are handed to the API in-process (no socket). With
// WARDEN_API_TEST_TRANSPORT=socket (CTest runs the suite both ways) the same tests go over
// loopback to the real HTTP server on port 0, through its limits and its non-blocking path
// for durable creates, with libcurl as the client.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "api/auth.h"
#include "api/http_server.h"
#include "api/masakari_api.h"
#include "api/metrics.h"
#include "cli/http_client.h"
#include "core/digest.h"
#include "core/test_temp_dir.h"
#include "ha/ha_service.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::testing {

using json = nlohmann::json;

struct Reply {
  int status = 0;
  json body;
  std::string raw;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;

  // A header's value; names compare without case, as in HTTP.
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        return v;
      }
    }
    return "";
  }
  // The message of a Masakari error body {"fault": {"code", "message"}}.
  std::string Message() const {
    if (!body.is_object() || body.empty()) return "";
    const json& inner = body.begin().value();
    return inner.is_object() && inner.contains("message") ? inner["message"].get<std::string>()
                                                          : "";
  }
  std::string Fault() const { return body.is_object() && !body.empty() ? body.begin().key() : ""; }
};

class ApiTest : public ::testing::Test {
 protected:
  // True when the suite runs over loopback (see the top of this file).
  static bool OverSocket() {
    const char* t = std::getenv("WARDEN_API_TEST_TRANSPORT");
    return t != nullptr && std::string_view(t) == "socket";
  }

  void SetUp() override {
    static int n = 0;
    dir_ = ProcessTempDir("warden-api") / std::to_string(n++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = store::OpenSqliteStore({.path = (dir_ / "w.db").string()});
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    admin_token_ = *api::NewToken();
    reader_token_ = *api::NewToken();
    std::ofstream(dir_ / "tokens") << "# tokens\n"
                                   << Sha256Hex(admin_token_) << " ops admin\n"
                                   << Sha256Hex(reader_token_) << " viewer reader\n";
    auto a = api::MakeTokenAuthenticator((dir_ / "tokens").string());
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    auth_ = std::move(*a);
    service_ = std::make_unique<ha::HaService>(*store_, clock_, ha::HaOptions{});
    options_.max_limit = 1000;
    options_.access_log_sink = [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_lines_.push_back(line);
    };
    RebuildApi();
    if (OverSocket()) {
      auto server = api::StartHttpServer(server_options_, forward_);
      ASSERT_TRUE(server.has_value()) << server.error().ToString();
      server_ = std::move(*server);
    }
  }
  // (Re)builds the API from options_. Over a socket the server's threads may still be in the
  // previous one: it is kept until TearDown, and they find the new one through `current_`.
  void RebuildApi() {
    auto next =
        std::make_unique<api::MasakariApi>(*service_, *store_, *auth_, clock_, metrics_, options_);
    current_.store(next.get());
    if (api_) retired_.push_back(std::move(api_));
    api_ = std::move(next);
  }
  // Rebuilds the API with a recovery engine to retry and cancel through.
  void UseRecoveryControl(ha::RecoveryControl* control) {
    options_.recovery_control = control;
    RebuildApi();
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    api_.reset();
    retired_.clear();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A request as the transport hands it to the API: header names in lower case, the admin's
  // token unless asked not to, a JSON content type for a body that names none.
  api::HttpRequest Request(const std::string& method, const std::string& target,
                           const std::string& body = "",
                           std::vector<std::pair<std::string, std::string>> headers = {},
                           bool add_admin_token = true) {
    api::HttpRequest req;
    req.method = method;
    req.target = target;
    EXPECT_TRUE(api::ParseTarget(target, req)) << target;
    bool has_ct = false;
    for (auto& [k, v] : headers) {
      std::string lower = k;
      for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
      has_ct |= lower == "content-type";
      req.headers.emplace_back(lower, v);
    }
    if (add_admin_token) req.headers.emplace_back("x-auth-token", admin_token_);
    if (!body.empty() && !has_ct) req.headers.emplace_back("content-type", "application/json");
    req.headers.emplace_back("host", "warden.test:15868");
    req.body = body;
    req.peer = "127.0.0.1:1";
    return req;
  }

  // Sends a request as the admin, unless headers carry other credentials.
  Reply Call(const std::string& method, const std::string& target, const std::string& body = "",
             std::vector<std::pair<std::string, std::string>> headers = {},
             bool add_admin_token = true) {
    api::HttpRequest req = Request(method, target, body, std::move(headers), add_admin_token);
    if (server_) return CallOverSocket(req.method, target, req.headers, body);
    api::HttpResponse res = api_->Handle(req);
    return ToReply(res.status, res.body, res.headers, res.content_type);
  }
  static Reply ToReply(int status, std::string body,
                       std::vector<std::pair<std::string, std::string>> headers,
                       const std::string& content_type) {
    Reply r;
    r.status = status;
    r.raw = std::move(body);
    r.headers = std::move(headers);
    r.content_type = content_type;
    if (!r.raw.empty() && content_type.starts_with("application/json")) {
      try {
        r.body = json::parse(r.raw);
      } catch (const json::exception& e) {
        ADD_FAILURE() << "response is not JSON: " << r.raw;
      }
    }
    return r;
  }
  // The same request, sent over loopback to the server on port 0.
  Reply CallOverSocket(const std::string& method, const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& body) {
    cli::ClientRequest req;
    req.method = method;
    req.url = "http://127.0.0.1:" + std::to_string(server_->port()) + target;
    req.headers = headers;
    req.body = body;
    req.timeout_ms = 10000;
    auto res = cli::Send(req);
    if (!res) {
      ADD_FAILURE() << method << " " << target << ": " << res.error().ToString();
      return Reply{};
    }
    std::string content_type;
    for (const auto& [k, v] : res->headers) {
      if (k == "content-type") content_type = v;
    }
    return ToReply(res->status, std::move(res->body), std::move(res->headers), content_type);
  }

  Reply Get(const std::string& target, std::vector<std::pair<std::string, std::string>> h = {}) {
    return Call("GET", target, "", std::move(h));
  }
  Reply Post(const std::string& target, const json& body,
             std::vector<std::pair<std::string, std::string>> h = {}) {
    return Call("POST", target, body.dump(), std::move(h));
  }
  Reply Put(const std::string& target, const json& body,
            std::vector<std::pair<std::string, std::string>> h = {}) {
    return Call("PUT", target, body.dump(), std::move(h));
  }

  std::string MakeSegment(const std::string& name, const std::string& method = "auto") {
    Reply r = Post(
        "/v1/segments",
        {{"segment", {{"name", name}, {"recovery_method", method}, {"service_type", "COMPUTE"}}}});
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body["segment"]["uuid"];
  }
  std::string MakeHost(const std::string& segment, const std::string& name,
                       json extra = json::object()) {
    json host = {{"name", name}, {"type", "COMPUTE"}, {"control_attributes", "SSH"}};
    host.update(extra);
    Reply r = Post("/v1/segments/" + segment + "/hosts", {{"host", host}});
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body["host"]["uuid"];
  }
  Reply Notify(const std::string& host, const std::string& type, json payload,
               const std::string& generated_time = "2026-01-02T03:04:05") {
    return Post("/v1/notifications", {{"notification",
                                       {{"type", type},
                                        {"hostname", host},
                                        {"generated_time", generated_time},
                                        {"payload", payload}}}});
  }
  static json HostDown() { return {{"event", "STOPPED"}, {"host_status", "NORMAL"}}; }

  // Everything the API can show, for "bad input changes nothing" checks.
  std::string Snapshot() {
    std::string out;
    Reply segs = Get("/v1/segments?sort_key=id&sort_dir=asc");
    out += segs.raw;
    for (const auto& s : segs.body["segments"]) {
      out += Get("/v1/segments/" + s["uuid"].get<std::string>() + "/hosts?sort_key=id").raw;
    }
    out += Get("/v1/notifications?sort_key=id").raw;
    return out;
  }

  std::filesystem::path dir_;
  SimulatedClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<api::Authenticator> auth_;
  std::unique_ptr<ha::HaService> service_;
  api::ApiMetrics metrics_;
  api::ApiOptions options_;
  std::unique_ptr<api::MasakariApi> api_;
  std::atomic<api::MasakariApi*> current_{nullptr};         // api_, for the server's threads
  std::vector<std::unique_ptr<api::MasakariApi>> retired_;  // APIs replaced by RebuildApi
  // Over a socket: the server calls whichever API the test has built last.
  struct Forward : api::HttpHandler {
    explicit Forward(ApiTest& t) : test(t) {}
    api::HttpResponse Handle(const api::HttpRequest& r) override {
      return test.current_.load()->Handle(r);
    }
    bool HandleWithoutBlocking(std::shared_ptr<const api::HttpRequest> r,
                               Responder respond) override {
      return test.current_.load()->HandleWithoutBlocking(std::move(r), std::move(respond));
    }
    ApiTest& test;
  };
  Forward forward_{*this};
  api::HttpServerOptions server_options_;  // port 0 on 127.0.0.1, Masakari's body limit
  std::unique_ptr<api::HttpServer> server_;
  std::string admin_token_, reader_token_;
  std::mutex log_mu_;
  std::vector<std::string> log_lines_;
};

}  // namespace warden::testing
