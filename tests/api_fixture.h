// A Masakari API over a real SQLite store, called in-process (no socket): the fixture the API
// tests share.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "api/auth.h"
#include "api/masakari_api.h"
#include "api/metrics.h"
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

  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
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
    api_ =
        std::make_unique<api::MasakariApi>(*service_, *store_, *auth_, clock_, metrics_, options_);
  }
  // Rebuilds the API with a recovery engine to retry and cancel through.
  void UseRecoveryControl(ha::RecoveryControl* control) {
    options_.recovery_control = control;
    api_ =
        std::make_unique<api::MasakariApi>(*service_, *store_, *auth_, clock_, metrics_, options_);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Sends a request as the admin, unless headers carry other credentials.
  Reply Call(const std::string& method, const std::string& target, const std::string& body = "",
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
    api::HttpResponse res = api_->Handle(req);
    Reply r;
    r.status = res.status;
    r.raw = res.body;
    r.headers = res.headers;
    if (!res.body.empty() && res.content_type == "application/json") {
      try {
        r.body = json::parse(res.body);
      } catch (const json::exception& e) {
        ADD_FAILURE() << "response is not JSON: " << res.body;
      }
    }
    return r;
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
  std::string admin_token_, reader_token_;
  std::mutex log_mu_;
  std::vector<std::string> log_lines_;
};

}  // namespace warden::testing
