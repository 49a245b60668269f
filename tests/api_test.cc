// The Masakari v1 API as clients see it: every endpoint, microversion difference, filter, sort,
// pagination edge and error case of ../shared/reference/masakari.md section 1.
#include <future>
#include <set>
#include <thread>

#include "api_fixture.h"
#include "core/uuid.h"

namespace warden::testing {
namespace {

// --- documents, routing, versions --------------------------------------------------------

TEST_F(ApiTest, VersionDocumentsNeedNoToken) {
  Reply root = Call("GET", "/", "", {}, false);
  ASSERT_EQ(root.status, 200);
  const json& v = root.body["versions"][0];
  EXPECT_EQ(v["id"], "v1.0");
  EXPECT_EQ(v["status"], "CURRENT");
  EXPECT_EQ(v["version"], "1.3");
  EXPECT_EQ(v["min_version"], "1.0");
  EXPECT_EQ(v["links"][0]["href"], "http://warden.test:15868/v1/");
  for (const char* path : {"/v1", "/v1/"}) {
    Reply v1 = Call("GET", path, "", {}, false);
    ASSERT_EQ(v1.status, 200) << path;
    EXPECT_EQ(v1.body["version"]["links"][1]["rel"], "describedby");
    EXPECT_EQ(v1.body["version"]["media-types"][0]["type"],
              "application/vnd.openstack.masakari+json;version=1");
  }
}

TEST_F(ApiTest, UnknownRoutesAreJson404AndWrongMethodsAre405) {
  for (const char* path : {"/nothing", "/healthcheck", "/v2/segments"}) {
    Reply r = Call("GET", path, "", {}, false);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.Fault(), "itemNotFound");
  }
  EXPECT_EQ(Get("/v1/segments/x/y").status, 404);
  EXPECT_EQ(Get("/v1/widgets").status, 404);
  Reply del = Call("DELETE", "/v1/notifications/" + NewUuid());
  EXPECT_EQ(del.status, 405);
  EXPECT_EQ(del.Fault(), "badMethod");
  EXPECT_EQ(Call("PUT", "/v1/notifications", "{}").status, 405);
  EXPECT_EQ(Call("POST", "/v1/segments/" + NewUuid(), "{}").status, 405);
  EXPECT_EQ(Call("POST", "/", "{}").status, 405);
}

TEST_F(ApiTest, MicroversionHeaderNegotiation) {
  Reply none = Get("/v1/segments");
  EXPECT_EQ(none.Header("OpenStack-API-Version"), "masakari 1.0");
  EXPECT_EQ(none.Header("Vary"), "OpenStack-API-Version");
  EXPECT_EQ(Get("/v1/segments", {{"OpenStack-API-Version", "instance-ha 1.2"}})
                .Header("OpenStack-API-Version"),
            "masakari 1.2");
  EXPECT_EQ(Get("/v1/segments", {{"OpenStack-API-Version", "instance-ha latest"}})
                .Header("OpenStack-API-Version"),
            "masakari 1.3");
  EXPECT_EQ(Get("/v1/segments", {{"OpenStack-API-Version", "compute 2.53, instance-ha 1.1"}})
                .Header("OpenStack-API-Version"),
            "masakari 1.1");
  // Another service's version alone means the default.
  EXPECT_EQ(Get("/v1/segments", {{"OpenStack-API-Version", "compute 2.53"}})
                .Header("OpenStack-API-Version"),
            "masakari 1.0");

  Reply high = Get("/v1/segments", {{"OpenStack-API-Version", "instance-ha 1.9"}});
  EXPECT_EQ(high.status, 406);
  EXPECT_EQ(high.Fault(), "masakariFault");
  EXPECT_EQ(high.Message(),
            "Version 1.9 is not supported by the API. Minimum is 1.0 and maximum is 1.3.");
  EXPECT_EQ(Get("/v1/segments", {{"OpenStack-API-Version", "instance-ha 2.0"}}).status, 406);
  for (const char* bad :
       {"instance-ha 1.x", "instance-ha 1", "instance-ha 01.1", "instance-ha .1"}) {
    Reply r = Get("/v1/segments", {{"OpenStack-API-Version", bad}});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.Message().find("is of invalid format"), std::string::npos) << r.Message();
  }
  // Errors carry the service-type prefix instead (Masakari's quirk).
  Reply missing = Get("/v1/segments/" + NewUuid(), {{"OpenStack-API-Version", "instance-ha 1.2"}});
  EXPECT_EQ(missing.Header("OpenStack-API-Version"), "instance-ha 1.2");
}

TEST_F(ApiTest, EveryResponseHasARequestId) {
  Reply r = Call("GET", "/", "", {}, false);
  EXPECT_EQ(r.Header("X-Openstack-Request-Id").rfind("req-", 0), 0u);
  EXPECT_NE(Get("/v1/segments").Header("X-Openstack-Request-Id"),
            Get("/v1/segments").Header("X-Openstack-Request-Id"));
}

TEST_F(ApiTest, ExtensionsAreListed) {
  Reply r = Get("/v1/extensions");
  ASSERT_EQ(r.status, 200);
  std::set<std::string> aliases;
  for (const auto& e : r.body["extensions"]) aliases.insert(e["alias"]);
  EXPECT_EQ(aliases, (std::set<std::string>{"extensions", "notifications", "os-hosts", "segments",
                                            "versions", "vmoves", "warden-host-unfence",
                                            "warden-overview", "warden-recent-vmoves",
                                            "warden-segment-headroom"}));
}

// --- authentication --------------------------------------------------------------------------

TEST_F(ApiTest, TokensAreRequiredAndCheckedAndNeverLogged) {
  Reply none = Call("GET", "/v1/segments", "", {}, false);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Fault(), "unauthorized");
  Reply wrong = Call("GET", "/v1/segments", "", {{"X-Auth-Token", "wdn_wrong"}}, false);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(
      Call("GET", "/v1/segments", "", {{"Authorization", "Bearer " + admin_token_}}, false).status,
      200);
  EXPECT_EQ(Call("GET", "/v1/segments", "", {{"Authorization", "Basic abc"}}, false).status, 401);
  EXPECT_EQ(Call("GET", "/metrics", "", {}, false).status, 401);
  std::lock_guard lock(log_mu_);
  ASSERT_FALSE(log_lines_.empty());
  for (const auto& line : log_lines_) {
    EXPECT_EQ(line.find(admin_token_), std::string::npos) << line;
    EXPECT_EQ(line.find("wdn_wrong"), std::string::npos) << line;
  }
}

TEST_F(ApiTest, ReadersMayOnlyRead) {
  std::string seg = MakeSegment("seg");
  auto as_reader =
      std::vector<std::pair<std::string, std::string>>{{"X-Auth-Token", reader_token_}};
  EXPECT_EQ(Call("GET", "/v1/segments", "", as_reader, false).status, 200);
  EXPECT_EQ(Call("GET", "/v1/segments/" + seg, "", as_reader, false).status, 200);
  Reply create = Call("POST", "/v1/segments",
                      R"({"segment":{"name":"x","recovery_method":"auto","service_type":"C"}})",
                      as_reader, false);
  EXPECT_EQ(create.status, 403);
  EXPECT_EQ(create.Message(),
            "Policy doesn't allow os_masakari_api:segments:create to be performed.");
  EXPECT_EQ(Call("DELETE", "/v1/segments/" + seg, "", as_reader, false).status, 403);
  EXPECT_EQ(Call("POST", "/v1/notifications", "{}", as_reader, false).status, 403);
  EXPECT_EQ(Get("/v1/segments").body["segments"].size(), 1u);
}

TEST_F(ApiTest, AccessLogLineNamesMethodRouteStatusDurationAndRequestId) {
  Reply r = Get("/v1/segments/" + NewUuid());
  std::lock_guard lock(log_mu_);
  ASSERT_FALSE(log_lines_.empty());
  const std::string& line = log_lines_.back();
  EXPECT_NE(line.find("method=GET"), std::string::npos) << line;
  EXPECT_NE(line.find("route=/v1/segments/{id}"), std::string::npos) << line;
  EXPECT_NE(line.find("status=404"), std::string::npos) << line;
  EXPECT_NE(line.find("duration_ms="), std::string::npos) << line;
  EXPECT_NE(line.find("request_id=" + r.Header("X-Openstack-Request-Id")), std::string::npos);
  EXPECT_NE(line.find("user=ops"), std::string::npos) << line;
}

TEST_F(ApiTest, JsonAccessLogLinesAreJson) {
  std::vector<std::string> lines;
  api::ApiOptions options;
  options.access_log = api::AccessLogFormat::kJson;
  options.access_log_sink = [&](const std::string& line) { lines.push_back(line); };
  api::MasakariApi json_api(*service_, *store_, *auth_, clock_, metrics_, options);
  api::HttpRequest req;
  req.method = "GET";
  req.target = "/v1/segments?name=%22quoted%22";
  api::ParseTarget(req.target, req);
  req.headers.emplace_back("x-auth-token", admin_token_);
  req.peer = "127.0.0.1:9";
  ASSERT_EQ(json_api.Handle(req).status, 200);
  ASSERT_EQ(lines.size(), 1u);
  json line = json::parse(lines[0]);
  EXPECT_EQ(line["msg"], "request");
  EXPECT_EQ(line["status"], "200");
  EXPECT_EQ(line["route"], "/v1/segments");
  EXPECT_EQ(line["user"], "ops");
}

// The token file: every malformed line stops start-up naming the file and line; comments and
// blank lines are skipped; a token is found by its hash and carries its line's role.
TEST_F(ApiTest, TokenFilesAreParsedStrictly) {
  if (OverSocket()) GTEST_SKIP() << "no request goes through the API";
  const std::string hash = Sha256Hex("wdn_alpha");
  auto parse = [&](const std::string& text) {
    const auto path = dir_ / "tokens-under-test";
    std::ofstream(path) << text;
    return api::MakeTokenAuthenticator(path.string());
  };
  auto error_of = [&](const std::string& text) {
    auto a = parse(text);
    return a ? std::string("(accepted)") : a.error().message();
  };
  EXPECT_NE(error_of("").find("holds no tokens"), std::string::npos);
  EXPECT_NE(error_of("# only a comment\n\n").find("holds no tokens"), std::string::npos);
  const struct {
    std::string line;
    std::string says;
  } bad[] = {
      {hash.substr(1) + " ops admin", "lower-case hex SHA-256"},
      {[&] {
         std::string upper = hash;
         for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
         return upper;
       }() + " ops admin",
       "lower-case hex SHA-256"},
      {"wdn_alpha ops admin", "lower-case hex SHA-256"},  // the token itself, not its hash
      {hash + " ops", "expected '<sha256-hex> <name> <role>'"},
      {hash + " ops admin extra", "expected '<sha256-hex> <name> <role>'"},
      {hash + " ops root", "role must be admin or reader, not 'root'"},
  };
  for (const auto& b : bad) {
    const std::string message = error_of("# ops team\n\n" + b.line + "\n");
    EXPECT_NE(message.find("tokens-under-test:3: "), std::string::npos) << message;
    EXPECT_NE(message.find(b.says), std::string::npos) << b.line << " -> " << message;
  }
  auto missing = api::MakeTokenAuthenticator((dir_ / "no-such-file").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("cannot read token file"), std::string::npos);

  auto good = parse("# comment\n\n  " + hash + "   viewer   reader  \n" + Sha256Hex("wdn_beta") +
                    " ops admin\n");
  ASSERT_TRUE(good.has_value()) << good.error().ToString();
  auto principal = [&](const std::string& header, const std::string& value) {
    api::HttpRequest req;
    req.headers.emplace_back(header, value);
    return (*good)->Authenticate(req);
  };
  auto viewer = principal("x-auth-token", "wdn_alpha");
  ASSERT_TRUE(viewer.has_value());
  EXPECT_EQ(viewer->name, "viewer");
  EXPECT_EQ(viewer->role, api::Role::kReader);
  auto ops = principal("authorization", "Bearer wdn_beta");
  ASSERT_TRUE(ops.has_value());
  EXPECT_EQ(ops->role, api::Role::kAdmin);
  auto wrong = principal("x-auth-token", "wdn_gamma");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_FALSE(principal("x-auth-token", hash).has_value());  // the hash is not a token
}

// --- health and metrics ----------------------------------------------------------------------

TEST_F(ApiTest, HealthReadinessAndMetrics) {
  EXPECT_EQ(Call("GET", "/healthz", "", {}, false).status, 200);
  EXPECT_EQ(Call("GET", "/readyz", "", {}, false).status, 200);
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "compute1");
  ASSERT_EQ(Notify("compute1", "COMPUTE_HOST", HostDown()).status, 202);
  Reply m = Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.raw.find("warden_http_requests_total{"), std::string::npos) << m.raw;
  EXPECT_NE(m.raw.find("route=\"/v1/notifications\""), std::string::npos);
  EXPECT_NE(m.raw.find("warden_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.raw.find("warden_notifications{status=\"new\"} 1"), std::string::npos) << m.raw;
}

// The dashboard's files are public (the page signs in), built into the binary, revalidated by
// ETag, and served with the headers that keep a browser strict.
TEST_F(ApiTest, TheDashboardIsServedWithStrictHeadersAndETags) {
  auto header = [](const Reply& r, const std::string& name) { return r.Header(name); };
  Reply page = Call("GET", "/dashboard/", "", {}, false);
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.raw.find("<script type=\"module\" src=\"app.js\"></script>"), std::string::npos);
  EXPECT_EQ(page.raw.find("<script>"), std::string::npos);  // no inline script anywhere
  const std::string csp = header(page, "content-security-policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(header(page, "x-content-type-options"), "nosniff");
  EXPECT_EQ(header(page, "x-frame-options"), "DENY");
  const std::string etag = header(page, "etag");
  ASSERT_EQ(etag.size(), 66u) << etag;  // a quoted SHA-256
  Reply again = Call("GET", "/dashboard/", "", {{"If-None-Match", etag}}, false);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.raw.empty());

  Reply js = Call("GET", "/dashboard/app.js", "", {}, false);
  ASSERT_EQ(js.status, 200);
  EXPECT_TRUE(js.content_type.starts_with("text/javascript")) << js.content_type;
  EXPECT_NE(js.raw.find("textContent"), std::string::npos);
  EXPECT_EQ(js.raw.find("innerHTML"), std::string::npos);  // data is never markup
  EXPECT_NE(header(js, "etag"), etag);
  EXPECT_TRUE(Call("GET", "/dashboard/style.css", "", {}, false).content_type.starts_with("text/css"));
  EXPECT_TRUE(page.content_type.starts_with("text/html")) << page.content_type;

  Reply bare = Call("GET", "/dashboard", "", {}, false);
  EXPECT_EQ(bare.status, 308);
  EXPECT_EQ(header(bare, "location"), "/dashboard/");
  EXPECT_EQ(Call("GET", "/dashboard/no-such.js", "", {}, false).status, 404);
  EXPECT_EQ(Call("GET", "/dashboard/format.test.mjs", "", {}, false).status, 404);  // not shipped
  EXPECT_EQ(Call("GET", "/dashboard/a/b", "", {}, false).status, 404);
  // A browser asking for a page gets one, with the name escaped and the way back.
  Reply missing = Call("GET", "/dashboard/%3Cimg%20src=x%3E", "",
                       {{"Accept", "text/html,application/xhtml+xml"}}, false);
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.content_type.starts_with("text/html")) << missing.content_type;
  EXPECT_EQ(missing.raw.find("<img"), std::string::npos) << missing.raw;
  EXPECT_NE(missing.raw.find("&lt;img src=x&gt;"), std::string::npos) << missing.raw;
  EXPECT_NE(missing.raw.find("href=\"/dashboard/\""), std::string::npos) << missing.raw;
  EXPECT_FALSE(missing.Header("Content-Security-Policy").empty());
  EXPECT_EQ(Call("POST", "/dashboard/app.js", "{}", {}, false).status, 405);
  // The API itself still wants a token.
  EXPECT_EQ(Call("GET", "/v1/segments", "", {}, false).status, 401);
}

// Warden's /whoami: the token's name and role, for the dashboard's action buttons.
TEST_F(ApiTest, WhoAmISaysTheTokensNameAndRole) {
  Reply me = Get("/whoami");
  ASSERT_EQ(me.status, 200) << me.raw;
  EXPECT_EQ(me.body["role"], "admin");
  EXPECT_FALSE(me.body["name"].get<std::string>().empty());
  Reply reader = Call("GET", "/whoami", "", {{"X-Auth-Token", reader_token_}}, false);
  ASSERT_EQ(reader.status, 200);
  EXPECT_EQ(reader.body["role"], "reader");
  EXPECT_EQ(reader.body["name"], "viewer");
  EXPECT_EQ(Call("GET", "/whoami", "", {}, false).status, 401);
  EXPECT_EQ(Call("GET", "/whoami", "", {{"X-Auth-Token", "wrong"}}, false).status, 401);
}

// A store that can no longer write (here a full disk; an I/O error latches it the same way)
// makes the server unready, with the reason, while /healthz (the process) stays OK.
TEST_F(ApiTest, ReadinessFailsWhenTheStoreRefusesWrites) {
  if (OverSocket()) GTEST_SKIP() << "calls an API of its own in-process";
  auto small = store::OpenSqliteStore({.path = (dir_ / "small.db").string(), .max_page_count = 40});
  ASSERT_TRUE(small.has_value()) << small.error().ToString();
  ha::HaService service(**small, clock_, ha::HaOptions{});
  api::MasakariApi full_api(service, **small, *auth_, clock_, metrics_, options_);
  auto get = [&](const std::string& target) {
    return full_api.Handle(Request("GET", target, "", {}, false));
  };
  ASSERT_EQ(get("/readyz").status, 200);
  int refused = 0;
  for (int i = 0; i < 2000 && refused == 0; ++i) {
    const json body = {{"segment",
                        {{"name", "s" + std::to_string(i)},
                         {"recovery_method", "auto"},
                         {"service_type", "COMPUTE"},
                         {"description", std::string(240, 'x')}}}};
    api::HttpResponse r = full_api.Handle(Request("POST", "/v1/segments", body.dump()));
    if (r.status != 201) {
      EXPECT_EQ(r.status, 503) << r.body;
      ++refused;
    }
  }
  ASSERT_EQ(refused, 1) << "the page limit was never reached";
  api::HttpResponse ready = get("/readyz");
  EXPECT_EQ(ready.status, 503);
  json body = json::parse(ready.body);
  EXPECT_EQ(body["status"], "unavailable");
  EXPECT_NE(body["reason"].get<std::string>().find("refuses writes"), std::string::npos)
      << ready.body;
  EXPECT_EQ(get("/healthz").status, 200);
}

// --- segments --------------------------------------------------------------------------------

TEST_F(ApiTest, SegmentLifecycle) {
  Reply c = Post("/v1/segments", {{"segment",
                                   {{"name", "seg1"},
                                    {"recovery_method", "reserved_host"},
                                    {"service_type", "COMPUTE"},
                                    {"description", "rack 1\nrow 2"}}}});
  ASSERT_EQ(c.status, 201) << c.raw;
  const json& s = c.body["segment"];
  for (const char* field :
       {"id", "uuid", "name", "service_type", "enabled", "description", "recovery_method",
        "created_at", "updated_at", "deleted_at", "deleted"}) {
    EXPECT_TRUE(s.contains(field)) << field;
  }
  EXPECT_EQ(s["enabled"], true);
  EXPECT_EQ(s["deleted"], false);
  EXPECT_TRUE(s["updated_at"].is_null());
  EXPECT_EQ(s["created_at"], "2023-11-14T22:13:20.000000");  // the simulated clock
  EXPECT_TRUE(s["id"].is_number_integer());
  std::string id = s["uuid"];

  EXPECT_EQ(Get("/v1/segments/" + id).body["segment"], s);
  clock_.Advance(1'500'000);
  Reply u = Put("/v1/segments/" + id, {{"segment", {{"name", "seg1b"}, {"description", nullptr}}}});
  ASSERT_EQ(u.status, 200) << u.raw;
  EXPECT_EQ(u.body["segment"]["name"], "seg1b");
  EXPECT_TRUE(u.body["segment"]["description"].is_null());
  EXPECT_EQ(u.body["segment"]["updated_at"], "2023-11-14T22:13:21.500000");
  EXPECT_EQ(Call("DELETE", "/v1/segments/" + id).status, 204);
  Reply gone = Get("/v1/segments/" + id);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.Message(), "No failover segment with id " + id + ".");
}

TEST_F(ApiTest, SegmentIdsThatAreNotUuidsAre404) {
  Reply r = Get("/v1/segments/not-a-uuid");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Message(), "No failover segment with id not-a-uuid.");
  EXPECT_EQ(Put("/v1/segments/zzz", {{"segment", {{"name", "x"}}}}).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/segments/zzz").status, 404);
}

TEST_F(ApiTest, SegmentEnabledNeedsMicroversion12) {
  json body = {{"segment",
                {{"name", "s"},
                 {"recovery_method", "auto"},
                 {"service_type", "COMPUTE"},
                 {"enabled", "False"}}}};
  Reply old = Post("/v1/segments", body);
  EXPECT_EQ(old.status, 400);
  EXPECT_NE(old.Message().find("Additional properties are not allowed ('enabled' was unexpected)"),
            std::string::npos)
      << old.Message();
  Reply v12 = Post("/v1/segments", body, {{"OpenStack-API-Version", "instance-ha 1.2"}});
  ASSERT_EQ(v12.status, 201) << v12.raw;
  EXPECT_EQ(v12.body["segment"]["enabled"], false);
  std::string id = v12.body["segment"]["uuid"];
  EXPECT_EQ(Put("/v1/segments/" + id, {{"segment", {{"enabled", true}}}}).status, 400);
  Reply on = Put("/v1/segments/" + id, {{"segment", {{"enabled", "yes"}}}},
                 {{"OpenStack-API-Version", "instance-ha 1.2"}});
  ASSERT_EQ(on.status, 200) << on.raw;
  EXPECT_EQ(on.body["segment"]["enabled"], true);
  // The field is shown at every version.
  EXPECT_EQ(Get("/v1/segments/" + id).body["segment"]["enabled"], true);
}

TEST_F(ApiTest, DuplicateSegmentNameIs409) {
  MakeSegment("seg");
  Reply dup = Post(
      "/v1/segments",
      {{"segment", {{"name", "seg"}, {"recovery_method", "auto"}, {"service_type", "COMPUTE"}}}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.Fault(), "conflictingRequest");
  EXPECT_EQ(dup.Message(), "Failover segment with name seg already exists.");
  std::string other = MakeSegment("other");
  EXPECT_EQ(Put("/v1/segments/" + other, {{"segment", {{"name", "seg"}}}}).status, 409);
}

TEST_F(ApiTest, SegmentListFilters) {
  MakeSegment("a", "auto");
  MakeSegment("b", "reserved_host");
  Post("/v1/segments",
       {{"segment",
         {{"name", "c"},
          {"recovery_method", "auto"},
          {"service_type", "OTHER"},
          {"enabled", false}}}},
       {{"OpenStack-API-Version", "instance-ha 1.2"}});
  auto names = [&](const std::string& q) {
    std::set<std::string> out;
    Reply r = Get("/v1/segments" + q);
    for (const auto& s : r.body["segments"]) out.insert(s["name"]);
    return out;
  };
  EXPECT_EQ(names(""), (std::set<std::string>{"a", "b", "c"}));
  EXPECT_EQ(names("?recovery_method=reserved_host"), (std::set<std::string>{"b"}));
  EXPECT_EQ(names("?service_type=OTHER"), (std::set<std::string>{"c"}));
  EXPECT_EQ(names("?enabled=false"), (std::set<std::string>{"c"}));
  EXPECT_EQ(names("?enabled=0"), (std::set<std::string>{"c"}));
  EXPECT_EQ(names("?enabled=True"), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(Get("/v1/segments?enabled=maybe").status, 400);
  EXPECT_EQ(Get("/v1/segments?recovery_method=fastest").status, 400);
}

TEST_F(ApiTest, SortingFollowsMasakari) {
  MakeSegment("b");
  clock_.Advance(1000);
  MakeSegment("a");
  clock_.Advance(1000);
  MakeSegment("c");
  auto order = [&](const std::string& q) {
    std::vector<std::string> out;
    Reply r = Get("/v1/segments" + q);
    EXPECT_EQ(r.status, 200) << q << " " << r.raw;
    for (const auto& s : r.body["segments"]) out.push_back(s["name"]);
    return out;
  };
  EXPECT_EQ(order(""), (std::vector<std::string>{"c", "a", "b"}));  // created_at desc
  EXPECT_EQ(order("?sort_key=name&sort_dir=asc"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(order("?sort_key=name"), (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_EQ(order("?sort_dir=asc"), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(order("?sort_key=recovery_method&sort_key=name&sort_dir=asc&sort_dir=desc"),
            (std::vector<std::string>{"c", "b", "a"}));
  Reply bad_dir = Get("/v1/segments?sort_dir=up");
  EXPECT_EQ(bad_dir.status, 400);
  EXPECT_NE(bad_dir.Message().find("Unknown sort direction, must be 'asc' or 'desc'"),
            std::string::npos);
  Reply bad_key = Get("/v1/segments?sort_key=bogus");
  EXPECT_EQ(bad_key.status, 400);
  EXPECT_EQ(bad_key.Message(), "Sort key supplied is invalid: bogus");
  EXPECT_EQ(Get("/v1/segments?sort_key=name&sort_dir=asc&sort_dir=desc").status, 400);
}

TEST_F(ApiTest, PaginationEdges) {
  for (int i = 0; i < 7; ++i) {
    MakeSegment("s" + std::to_string(i));
    clock_.Advance(1000);
  }
  EXPECT_EQ(Get("/v1/segments?limit=0").body["segments"].size(), 0u);
  EXPECT_EQ(Get("/v1/segments?limit=3").body["segments"].size(), 3u);
  EXPECT_EQ(Get("/v1/segments?limit=99999999999999999999").body["segments"].size(), 7u);
  Reply neg = Get("/v1/segments?limit=-1");
  EXPECT_EQ(neg.status, 400);
  EXPECT_EQ(neg.Message(), "Invalid input received: limit must be >= 0.");
  Reply nan = Get("/v1/segments?limit=abc");
  EXPECT_EQ(nan.status, 400);
  EXPECT_EQ(nan.Message(), "Invalid input received: limit must be an integer.");
  EXPECT_FALSE(Reply(Get("/v1/segments")).body.contains("segments_links"));

  // Walk with integer markers, as openstackclient does until an empty page.
  std::vector<std::string> seen;
  std::string q = "?limit=3";
  for (int pages = 0; pages < 10; ++pages) {
    Reply r = Get("/v1/segments" + q);
    ASSERT_EQ(r.status, 200) << r.raw;
    if (r.body["segments"].empty()) break;
    for (const auto& s : r.body["segments"]) seen.push_back(s["name"]);
    q = "?limit=3&marker=" + std::to_string(r.body["segments"].back()["id"].get<int64_t>());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"s6", "s5", "s4", "s3", "s2", "s1", "s0"}));

  std::string uuid = Get("/v1/segments").body["segments"][0]["uuid"];
  Reply by_uuid = Get("/v1/segments?marker=" + uuid);
  EXPECT_EQ(by_uuid.status, 400);
  EXPECT_EQ(by_uuid.Message(), "Marker " + uuid + " could not be found.");
  EXPECT_EQ(Get("/v1/segments?marker=4242").status, 400);
}

// --- hosts -----------------------------------------------------------------------------------

TEST_F(ApiTest, HostLifecycleAndView) {
  std::string seg = MakeSegment("seg");
  Reply c = Post("/v1/segments/" + seg + "/hosts", {{"host",
                                                     {{"name", "compute1"},
                                                      {"type", "COMPUTE"},
                                                      {"control_attributes", "SSH"},
                                                      {"reserved", "True"},
                                                      {"on_maintenance", false}}}});
  ASSERT_EQ(c.status, 201) << c.raw;
  const json& h = c.body["host"];
  EXPECT_EQ(h["failover_segment_id"], seg);
  EXPECT_EQ(h["failover_segment"]["uuid"], seg);
  EXPECT_EQ(h["failover_segment"]["name"], "seg");
  EXPECT_EQ(h["reserved"], true);
  EXPECT_EQ(h["on_maintenance"], false);
  std::string id = h["uuid"];
  EXPECT_EQ(Get("/v1/segments/" + seg + "/hosts/" + id).body["host"]["name"], "compute1");
  Reply u = Put("/v1/segments/" + seg + "/hosts/" + id,
                {{"host", {{"name", "compute1b"}, {"on_maintenance", "yes"}}}});
  ASSERT_EQ(u.status, 200) << u.raw;
  EXPECT_EQ(u.body["host"]["name"], "compute1b");
  EXPECT_EQ(u.body["host"]["on_maintenance"], true);
  EXPECT_EQ(Call("DELETE", "/v1/segments/" + seg + "/hosts/" + id).status, 204);
  EXPECT_EQ(Get("/v1/segments/" + seg + "/hosts/" + id).status, 404);
}

TEST_F(ApiTest, HostNamesAreGloballyUniqueAndHostsBelongToOneSegment) {
  std::string s1 = MakeSegment("s1"), s2 = MakeSegment("s2");
  std::string h = MakeHost(s1, "compute1");
  Reply dup =
      Post("/v1/segments/" + s2 + "/hosts",
           {{"host", {{"name", "compute1"}, {"type", "COMPUTE"}, {"control_attributes", ""}}}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.Message(), "Host with name compute1 already exists.");
  Reply wrong = Get("/v1/segments/" + s2 + "/hosts/" + h);
  EXPECT_EQ(wrong.status, 404);
  EXPECT_EQ(wrong.Message(),
            "Host '" + h + "' under failover_segment '" + s2 + "' could not be found.");
  EXPECT_EQ(Get("/v1/segments/" + NewUuid() + "/hosts").status, 404);
  EXPECT_EQ(Post("/v1/segments/" + NewUuid() + "/hosts",
                 {{"host", {{"name", "x"}, {"type", "C"}, {"control_attributes", ""}}}})
                .status,
            404);
}

TEST_F(ApiTest, HostListFilters) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "c1");
  MakeHost(seg, "c2", {{"reserved", true}});
  MakeHost(seg, "c3", {{"on_maintenance", true}, {"type", "OTHER"}});
  auto names = [&](const std::string& q) {
    std::set<std::string> out;
    Reply r = Get("/v1/segments/" + seg + "/hosts" + q);
    for (const auto& h : r.body["hosts"]) out.insert(h["name"]);
    return out;
  };
  EXPECT_EQ(names(""), (std::set<std::string>{"c1", "c2", "c3"}));
  EXPECT_EQ(names("?reserved=True"), (std::set<std::string>{"c2"}));
  EXPECT_EQ(names("?on_maintenance=true"), (std::set<std::string>{"c3"}));
  EXPECT_EQ(names("?on_maintenance=False&reserved=false"), (std::set<std::string>{"c1"}));
  EXPECT_EQ(names("?type=OTHER"), (std::set<std::string>{"c3"}));
  EXPECT_EQ(names("?name=c2"), (std::set<std::string>{"c2"}));
  Reply bad = Get("/v1/segments/" + seg + "/hosts?reserved=perhaps");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.Message(), "Invalid value for reserved: perhaps");
}

TEST_F(ApiTest, SegmentUnderRecoveryRefusesChangesWith409) {
  std::string seg = MakeSegment("seg");
  std::string host = MakeHost(seg, "compute1");
  ASSERT_EQ(Notify("compute1", "COMPUTE_HOST", HostDown()).status, 202);
  Reply upd = Put("/v1/segments/" + seg, {{"segment", {{"description", "x"}}}});
  EXPECT_EQ(upd.status, 409);
  EXPECT_EQ(upd.Message(), "Failover segment " + seg +
                               " can't be updated as it is in-use to process notifications.");
  EXPECT_EQ(Call("DELETE", "/v1/segments/" + seg).status, 409);
  EXPECT_EQ(Put("/v1/segments/" + seg + "/hosts/" + host, {{"host", {{"reserved", true}}}}).status,
            409);
  EXPECT_EQ(Call("DELETE", "/v1/segments/" + seg + "/hosts/" + host).status, 409);
  // Adding a host is still allowed.
  MakeHost(seg, "compute2");
}

TEST_F(ApiTest, DeletingASegmentDeletesItsHosts) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "compute1");
  ASSERT_EQ(Call("DELETE", "/v1/segments/" + seg).status, 204);
  EXPECT_EQ(Notify("compute1", "COMPUTE_HOST", HostDown()).status, 400);
  std::string again = MakeSegment("seg");
  MakeHost(again, "compute1");  // the name is free again
}

// With a compute driver, a host's name must be one of the cloud's compute services, as in
// Masakari (which asks Nova): checked at create and at rename, after the segment is found.
TEST_F(ApiTest, HostNamesAreCheckedAgainstTheCloudWhenADriverIsConfigured) {
  std::string seg = MakeSegment("seg");
  std::mutex mu;
  std::vector<std::string> asked;
  bool cloud_down = false;
  options_.check_compute_host = [&](const std::string& name,
                                    std::function<void(Result<void>)> done) {
    bool down;
    {
      std::lock_guard lock(mu);
      asked.push_back(name);
      down = cloud_down;
    }
    // Answered from another thread, as a driver does.
    std::thread([name, down, done = std::move(done)] {
      if (down) return done(Unavailable("compute API: 503 Service Unavailable"));
      if (name.starts_with("compute")) return done(Result<void>{});
      done(NotFound("Nova has no nova-compute service on host " + name));
    }).detach();
  };
  RebuildApi();
  auto create = [&](const std::string& segment, const std::string& name) {
    return Post("/v1/segments/" + segment + "/hosts",
                {{"host", {{"name", name}, {"type", "COMPUTE"}, {"control_attributes", "SSH"}}}});
  };
  const std::string before = Snapshot();
  Reply typo = create(seg, "cmopute1");
  EXPECT_EQ(typo.status, 400);
  EXPECT_EQ(typo.Message(), "Compute service with name cmopute1 could not be found.");
  // An unknown segment is 404 before the cloud is asked.
  EXPECT_EQ(create(NewUuid(), "cmopute1").status, 404);
  // A bad body is 400 before the cloud is asked.
  EXPECT_EQ(Post("/v1/segments/" + seg + "/hosts", {{"host", {{"name", "compute1"}}}}).status, 400);
  EXPECT_EQ(Snapshot(), before);
  Reply ok = create(seg, "compute1");
  ASSERT_EQ(ok.status, 201) << ok.raw;
  const std::string id = ok.body["host"]["uuid"];
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(asked, (std::vector<std::string>{"cmopute1", "compute1"}));
  }
  // Renames are checked; other updates, and an unchanged name, do not ask.
  const std::string path = "/v1/segments/" + seg + "/hosts/" + id;
  EXPECT_EQ(Put(path, {{"host", {{"name", "elsewhere"}}}}).status, 400);
  EXPECT_EQ(Get(path).body["host"]["name"], "compute1");  // the refused rename changed nothing
  // Names compare exactly, as the engine's calls to the cloud do: another case is asked.
  EXPECT_EQ(Put(path, {{"host", {{"name", "Compute1"}}}}).status, 400);
  EXPECT_EQ(Put(path, {{"host", {{"name", "compute1"}, {"reserved", true}}}}).status, 200);
  EXPECT_EQ(Put(path, {{"host", {{"on_maintenance", true}}}}).status, 200);
  EXPECT_EQ(Put(path, {{"host", {{"name", "compute2"}}}}).status, 200);
  EXPECT_EQ(Put("/v1/segments/" + seg + "/hosts/" + NewUuid(), {{"host", {{"name", "x"}}}}).status,
            404);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(asked, (std::vector<std::string>{"cmopute1", "compute1", "elsewhere", "Compute1",
                                               "compute2"}));
    cloud_down = true;
  }
  // The cloud cannot tell: 503 with its reason, nothing created.
  Reply down = create(seg, "compute3");
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.Message().find("503 Service Unavailable"), std::string::npos) << down.raw;
  EXPECT_EQ(Get("/v1/segments/" + seg + "/hosts").body["hosts"].size(), 1u);
}

// --- notifications ---------------------------------------------------------------------------

TEST_F(ApiTest, NotificationIsAcceptedAsNewAndShown) {
  std::string seg = MakeSegment("seg");
  std::string host = MakeHost(seg, "compute1");
  Reply r = Notify("compute1", "COMPUTE_HOST",
                   {{"event", "STOPPED"}, {"host_status", "NORMAL"}, {"cluster_status", "OFFLINE"}},
                   "2017-04-22T02:29:55+09:00");
  ASSERT_EQ(r.status, 202) << r.raw;
  const json& n = r.body["notification"];
  EXPECT_EQ(n["status"], "new");
  EXPECT_EQ(n["type"], "COMPUTE_HOST");
  EXPECT_EQ(n["source_host_uuid"], host);
  EXPECT_EQ(n["failover_segment_uuid"], seg);
  EXPECT_EQ(n["generated_time"], "2017-04-21T17:29:55.000000");  // normalised to UTC
  EXPECT_EQ(n["payload"]["cluster_status"], "OFFLINE");
  EXPECT_TRUE(n["payload"].is_object());
  std::string id = n["notification_uuid"];

  Reply v10 = Get("/v1/notifications/" + id);
  EXPECT_FALSE(v10.body["notification"].contains("recovery_workflow_details"));
  Reply v11 = Get("/v1/notifications/" + id, {{"OpenStack-API-Version", "instance-ha 1.1"}});
  ASSERT_TRUE(v11.body["notification"].contains("recovery_workflow_details"));
  EXPECT_TRUE(v11.body["notification"]["recovery_workflow_details"].is_array());
  EXPECT_FALSE(
      Get("/v1/notifications").body["notifications"][0].contains("recovery_workflow_details"));
  Reply missing = Get("/v1/notifications/" + NewUuid());
  EXPECT_EQ(missing.status, 404);
}

TEST_F(ApiTest, NotificationRulesUnknownHostMaintenanceDuplicate) {
  std::string seg = MakeSegment("seg");
  std::string host = MakeHost(seg, "compute3");
  MakeHost(seg, "compute30");
  Reply unknown = Notify("compute300", "COMPUTE_HOST", HostDown());
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.Message(), "Host with name compute300 could not be found.");

  ASSERT_EQ(Notify("compute3", "COMPUTE_HOST", HostDown()).status, 202);
  Reply dup = Notify("compute3", "COMPUTE_HOST", HostDown(), "2026-01-02T03:05:00");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.Message(),
            "Notification received from host compute3 of type COMPUTE_HOST is duplicate.");
  // Same payload from a host whose name the first is a prefix of: not a duplicate.
  EXPECT_EQ(Notify("compute30", "COMPUTE_HOST", HostDown()).status, 202);
  // Beyond the 180 s window: accepted.
  EXPECT_EQ(Notify("compute3", "COMPUTE_HOST", HostDown(), "2026-01-02T03:07:06").status, 202);

  ASSERT_EQ(
      Call("PUT", "/v1/segments/" + seg + "/hosts/" + host, R"({"host":{"on_maintenance":true}})")
          .status,
      409);  // the segment is in use...
  // ...so put another host on maintenance through a fresh segment.
  std::string seg2 = MakeSegment("seg2");
  MakeHost(seg2, "compute9", {{"on_maintenance", true}});
  Reply maint = Notify("compute9", "COMPUTE_HOST", HostDown());
  EXPECT_EQ(maint.status, 409);
  EXPECT_EQ(maint.Message(),
            "Notification received from host compute9 of type 'COMPUTE_HOST' is "
            "ignored as the host is already under maintenance.");
}

TEST_F(ApiTest, SeedAliasesAreAcceptedAndStoredCanonically) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "compute1");
  Reply vm = Notify("compute1", "COMPUTE_INSTANCE",
                    {{"event", "LIFECYCLE"},
                     {"instance_uuid", NewUuid()},
                     {"vir_domain_event", "STOPPED_FAILED"}});
  ASSERT_EQ(vm.status, 202) << vm.raw;
  EXPECT_EQ(vm.body["notification"]["type"], "VM");
  Reply proc = Notify("compute1", "COMPUTE_PROCESS",
                      {{"event", "STOPPED"}, {"process_name", "nova-compute"}});
  ASSERT_EQ(proc.status, 202) << proc.raw;
  EXPECT_EQ(proc.body["notification"]["type"], "PROCESS");
  EXPECT_EQ(Get("/v1/notifications?type=COMPUTE_INSTANCE").body["notifications"].size(), 1u);
  EXPECT_EQ(Get("/v1/notifications?type=VM").body["notifications"].size(), 1u);
  EXPECT_EQ(Get("/v1/notifications?type=COMPUTE_PROCESS").body["notifications"].size(), 1u);
}

TEST_F(ApiTest, FlatWebhookBodyWithBearerToken) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "compute-01.xloud.local");
  clock_.SetWall(1'767'323'045'000'000);  // 2026-01-02T03:04:05Z
  Reply r = Call("POST", "/v1/notifications",
                 R"({"hostname": "compute-01.xloud.local", "type": "COMPUTE_HOST",
                     "payload": {"event": "STOPPED", "cluster_status": "OFFLINE",
                                 "host_status": "NORMAL"}})",
                 {{"Authorization", "Bearer " + admin_token_}}, false);
  ASSERT_EQ(r.status, 202) << r.raw;
  EXPECT_EQ(r.body["notification"]["generated_time"], "2026-01-02T03:04:05.000000");
  EXPECT_EQ(r.body["notification"]["status"], "new");
  // Validated exactly like the wrapped form.
  Reply extra = Call("POST", "/v1/notifications",
                     R"({"hostname": "compute-01.xloud.local", "type": "COMPUTE_HOST",
                         "payload": {"event": "STOPPED"}, "severity": "page"})");
  EXPECT_EQ(extra.status, 400);
  EXPECT_NE(extra.Message().find("'severity' was unexpected"), std::string::npos);
  Reply lower = Call("POST", "/v1/notifications",
                     R"({"hostname": "compute-01.xloud.local", "type": "COMPUTE_HOST",
                         "payload": {"event": "stopped"}})");
  EXPECT_EQ(lower.status, 400);
  // And duplicate-checked like it.
  Reply dup = Call("POST", "/v1/notifications",
                   R"({"hostname": "compute-01.xloud.local", "type": "COMPUTE_HOST",
                       "payload": {"event": "STOPPED", "cluster_status": "OFFLINE",
                                   "host_status": "NORMAL"}})");
  EXPECT_EQ(dup.status, 409);
}

TEST_F(ApiTest, NotificationListFiltersAndTheSeedsQuery) {
  std::string seg = MakeSegment("seg");
  std::string h1 = MakeHost(seg, "c1");
  std::string h2 = MakeHost(seg, "c2");
  ASSERT_EQ(Notify("c1", "COMPUTE_HOST", HostDown(), "2026-01-01T00:00:00").status, 202);
  clock_.Advance(1000);
  ASSERT_EQ(Notify("c2", "COMPUTE_HOST", HostDown(), "2026-01-03T00:00:00").status, 202);
  clock_.Advance(1000);
  ASSERT_EQ(Notify("c2", "PROCESS", {{"event", "STOPPED"}, {"process_name", "nova-compute"}},
                   "2026-01-05T00:00:00")
                .status,
            202);
  auto count = [&](const std::string& q) {
    Reply r = Get("/v1/notifications" + q);
    EXPECT_EQ(r.status, 200) << q << r.raw;
    return r.body["notifications"].size();
  };
  EXPECT_EQ(count(""), 3u);
  EXPECT_EQ(count("?status=new"), 3u);
  EXPECT_EQ(count("?status=running"), 0u);
  EXPECT_EQ(count("?source_host_uuid=" + h2), 2u);
  EXPECT_EQ(count("?type=PROCESS"), 1u);
  EXPECT_EQ(count("?generated-since=2026-01-03T00:00:00"), 2u);
  EXPECT_EQ(count("?generated-since=2026-01-04T09:00:00%2B09:00"), 1u);
  Reply bad_since = Get("/v1/notifications?generated-since=last-week");
  EXPECT_EQ(bad_since.status, 400);
  EXPECT_EQ(bad_since.Message(), "Invalid generated-since value");
  EXPECT_EQ(Get("/v1/notifications?status=exploded").status, 400);
  EXPECT_EQ(Get("/v1/notifications?type=DISK").status, 400);
  // None has been updated yet (updated_at null): Masakari then orders by id, in the same
  // direction, so the newest comes first.
  Reply seeds = Get("/v1/notifications?sort_key=updated_at&sort_dir=desc&limit=10");
  EXPECT_EQ(seeds.status, 200);
  ASSERT_EQ(seeds.body["notifications"].size(), 3u);
  EXPECT_EQ(seeds.body["notifications"][0]["type"], "PROCESS");
  EXPECT_EQ(seeds.body["notifications"][1]["source_host_uuid"], h2);
  EXPECT_EQ(seeds.body["notifications"][2]["source_host_uuid"], h1);
  EXPECT_TRUE(seeds.body["notifications"][0]["updated_at"].is_null());
  // Once the oldest is updated (the engine picks it up), it sorts first.
  const std::string oldest = seeds.body["notifications"][2]["notification_uuid"];
  Notification n;
  ASSERT_TRUE(store_->Read([&](store::ReadTx& tx) -> Result<void> {
    n = *tx.GetNotification(oldest);
    return {};
  }));
  n.status = NotificationStatus::kRunning;
  clock_.Advance(1000);
  n.meta.updated_at = clock_.Now();
  ASSERT_TRUE(store_->Write([&](store::WriteTx& tx) { return tx.UpdateNotification(n); }));
  Reply updated = Get("/v1/notifications?sort_key=updated_at&sort_dir=desc&limit=10");
  ASSERT_EQ(updated.body["notifications"].size(), 3u);
  EXPECT_EQ(updated.body["notifications"][0]["notification_uuid"], oldest);
  EXPECT_EQ(updated.body["notifications"][1]["type"], "PROCESS");
  EXPECT_EQ(Get("/v1/notifications?sort_key=updated_at&sort_dir=desc&limit=1")
                .body["notifications"][0]["notification_uuid"],
            oldest);
  Reply by_gen = Get("/v1/notifications?sort_key=generated_time&sort_dir=asc");
  EXPECT_EQ(by_gen.body["notifications"][0]["source_host_uuid"], h1);
}

// --- vmoves ----------------------------------------------------------------------------------

TEST_F(ApiTest, VMovesOfAHostNotification) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "c1");
  Reply host = Notify("c1", "COMPUTE_HOST", HostDown());
  std::string nid = host.body["notification"]["notification_uuid"];
  VMove v;
  v.uuid = NewUuid();
  v.notification_uuid = nid;
  v.instance_uuid = NewUuid();
  v.instance_name = "web-1";
  v.source_host = "c1";
  v.dest_host = "c2";
  v.status = VMoveStatus::kSucceeded;
  v.start_time = 1'000'000;
  v.end_time = 3'000'000;
  v.meta.created_at = 1;
  ASSERT_TRUE(store_->Write([&](store::WriteTx& tx) -> Result<void> {
    auto r = tx.InsertVMove(v);
    if (!r) return std::unexpected(r.error());
    return {};
  }));
  Reply list =
      Get("/v1/notifications/" + nid + "/vmoves", {{"OpenStack-API-Version", "instance-ha 1.3"}});
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body["vmoves"].size(), 1u);
  const json& m = list.body["vmoves"][0];
  EXPECT_EQ(m["instance_name"], "web-1");
  EXPECT_EQ(m["dest_host"], "c2");
  EXPECT_EQ(m["status"], "succeeded");
  EXPECT_EQ(m["type"], "evacuation");
  EXPECT_EQ(m["start_time"], "1970-01-01T00:00:01.000000");
  EXPECT_EQ(Get("/v1/notifications/" + nid + "/vmoves?status=failed").body["vmoves"].size(), 0u);
  EXPECT_EQ(Get("/v1/notifications/" + nid + "/vmoves?status=nope").status, 400);
  EXPECT_EQ(Get("/v1/notifications/" + nid + "/vmoves/" + v.uuid).body["vmove"]["uuid"], v.uuid);
  Reply missing = Get("/v1/notifications/" + nid + "/vmoves/" + NewUuid());
  EXPECT_EQ(missing.status, 404);

  Reply vm = Notify("c1", "VM",
                    {{"event", "LIFECYCLE"},
                     {"instance_uuid", NewUuid()},
                     {"vir_domain_event", "STOPPED_FAILED"}});
  std::string vid = vm.body["notification"]["notification_uuid"];
  Reply none = Get("/v1/notifications/" + vid + "/vmoves");
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(none.Message(), "This notification " + vid + " without vm moves.");
  EXPECT_EQ(Get("/v1/notifications/" + NewUuid() + "/vmoves").status, 404);
}

// A VM move as the engine records it, written straight to the store.
VMove StoreVMove(store::Store& store, const std::string& notification_uuid, const std::string& name,
                 VMoveStatus status, std::optional<WallMicros> start_time = std::nullopt,
                 const std::string& source = "c1", std::optional<std::string> dest = "c2") {
  VMove v;
  v.uuid = NewUuid();
  v.notification_uuid = notification_uuid;
  v.instance_uuid = NewUuid();
  v.instance_name = name;
  v.source_host = source;
  v.dest_host = dest;
  v.status = status;
  v.start_time = start_time;
  if (start_time && status != VMoveStatus::kOngoing) v.end_time = *start_time + 2'000'000;
  v.meta.created_at = 1;
  EXPECT_TRUE(store.Write([&](store::WriteTx& tx) -> Result<void> {
    auto r = tx.InsertVMove(v);
    if (!r) return std::unexpected(r.error());
    v.meta.id = r->meta.id;
    return {};
  }));
  return v;
}

TEST_F(ApiTest, VMoveSummaryCountsEveryMoveOfTheNotificationWhateverThePage) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "c1");
  std::string nid =
      Notify("c1", "COMPUTE_HOST", HostDown()).body["notification"]["notification_uuid"];
  int i = 0;
  for (auto [status, count] :
       std::vector<std::pair<VMoveStatus, int>>{{VMoveStatus::kSucceeded, 30},
                                                {VMoveStatus::kFailed, 1},
                                                {VMoveStatus::kOngoing, 12},
                                                {VMoveStatus::kPending, 17}}) {
    for (int k = 0; k < count; ++k) {
      StoreVMove(*store_, nid, "vm" + std::to_string(i), status,
                 status == VMoveStatus::kPending ? std::nullopt
                                                 : std::optional<WallMicros>(i * 1'000'000));
      ++i;
    }
  }
  StoreVMove(*store_, "another-notification", "stray", VMoveStatus::kFailed);
  const json expected = {{"notification_status", "new"},
                         {"total", 60},
                         {"succeeded", 30},
                         {"failed", 1},
                         {"pending", 17},
                         {"running", 12},
                         {"ignored", 0}};
  const std::string base = "/v1/notifications/" + nid + "/vmoves";
  std::set<std::string> seen;
  std::string target = base + "?limit=7";
  while (true) {
    Reply page = Get(target, {{"OpenStack-API-Version", "instance-ha 1.3"}});
    ASSERT_EQ(page.status, 200) << page.raw;
    EXPECT_EQ(page.body["summary"], expected);
    for (const auto& m : page.body["vmoves"]) seen.insert(m["instance_name"]);
    if (page.body["vmoves"].size() < 7) break;
    target = base + "?limit=7&marker=" + page.body["vmoves"].back()["id"].dump();
  }
  EXPECT_EQ(seen.size(), 60u);
  // Filters narrow the list, never the summary; limit=0 gives the summary alone.
  Reply failed = Get(base + "?status=failed");
  EXPECT_EQ(failed.body["vmoves"].size(), 1u);
  EXPECT_EQ(failed.body["summary"], expected);
  Reply only_summary = Get(base + "?limit=0");
  EXPECT_TRUE(only_summary.body["vmoves"].empty());
  EXPECT_EQ(only_summary.body["summary"], expected);
  // The list key is Masakari's; the summary follows the notification's status.
  Notification n;
  ASSERT_TRUE(store_->Read([&](store::ReadTx& tx) -> Result<void> {
    n = *tx.GetNotification(nid);
    return {};
  }));
  n.status = NotificationStatus::kRunning;
  ASSERT_TRUE(store_->Write([&](store::WriteTx& tx) { return tx.UpdateNotification(n); }));
  EXPECT_EQ(Get(base + "?limit=0").body["summary"]["notification_status"], "running");
}

TEST_F(ApiTest, RecentVMovesComeFromTheNewestHostNotificationsNewestStartFirst) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "c1");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Reply r =
        Notify("c1", "COMPUTE_HOST", HostDown(), "2026-01-0" + std::to_string(i + 1) + "T00:00:00");
    ASSERT_EQ(r.status, 202) << r.raw;
    ids.push_back(r.body["notification"]["notification_uuid"]);
    clock_.Advance(1'000'000);
  }
  // Oldest notification: two finished moves.
  StoreVMove(*store_, ids[0], "old-a", VMoveStatus::kSucceeded, 100'000'000);
  StoreVMove(*store_, ids[0], "old-b", VMoveStatus::kFailed, 300'000'000, "c1", "c3");
  // Middle: one finished, one not yet started.
  StoreVMove(*store_, ids[1], "mid-a", VMoveStatus::kSucceeded, 200'000'000, "c4", "c2");
  StoreVMove(*store_, ids[1], "mid-b", VMoveStatus::kPending, std::nullopt, "c4", std::nullopt);
  // Newest: one running, one not yet started.
  StoreVMove(*store_, ids[2], "new-a", VMoveStatus::kOngoing, 400'000'000);
  StoreVMove(*store_, ids[2], "new-b", VMoveStatus::kPending, std::nullopt, "c1", std::nullopt);
  // A newer notification that moves nothing does not push the others out of the window.
  ASSERT_EQ(
      Notify("c1", "PROCESS", {{"process_name", "nova-compute"}, {"event", "STOPPED"}}).status,
      202);

  auto names = [&](const std::string& target) {
    Reply r = Get(target);
    EXPECT_EQ(r.status, 200) << target << " " << r.raw;
    std::vector<std::string> out;
    for (const auto& m : r.body["vmoves"]) out.push_back(m["instance_name"]);
    return out;
  };
  using Names = std::vector<std::string>;
  // Newest start first; moves not yet started last (in the order of their creation, newest
  // first).
  EXPECT_EQ(names("/v1/vmoves"), (Names{"new-a", "old-b", "mid-a", "old-a", "new-b", "mid-b"}));
  EXPECT_EQ(names("/v1/vmoves?notifications=2"), (Names{"new-a", "mid-a", "new-b", "mid-b"}));
  EXPECT_EQ(names("/v1/vmoves?notifications=1"), (Names{"new-a", "new-b"}));
  EXPECT_EQ(names("/v1/vmoves?status=pending"), (Names{"new-b", "mid-b"}));
  EXPECT_EQ(names("/v1/vmoves?source_host=c4"), (Names{"mid-a", "mid-b"}));
  EXPECT_EQ(names("/v1/vmoves?dest_host=c3"), Names{"old-b"});
  EXPECT_EQ(names("/v1/vmoves?dest_host=c2&notifications=2"), (Names{"new-a", "mid-a"}));
  EXPECT_EQ(names("/v1/vmoves?limit=2"), (Names{"new-a", "old-b"}));
  EXPECT_EQ(names("/v1/vmoves?sort_key=instance_name&sort_dir=asc&notifications=1"),
            (Names{"new-a", "new-b"}));

  // Paging with the marker visits every move once, in the same order.
  Names paged;
  std::string target = "/v1/vmoves?limit=4";
  while (true) {
    Reply r = Get(target);
    ASSERT_EQ(r.status, 200) << r.raw;
    for (const auto& m : r.body["vmoves"]) paged.push_back(m["instance_name"]);
    if (r.body["vmoves"].size() < 4) break;
    target = "/v1/vmoves?limit=4&marker=" + r.body["vmoves"].back()["id"].dump();
  }
  EXPECT_EQ(paged, names("/v1/vmoves"));

  // Each move names its notification; the list carries no summary.
  Reply all = Get("/v1/vmoves");
  EXPECT_FALSE(all.body.contains("summary"));
  for (const auto& m : all.body["vmoves"]) {
    std::string name = m["instance_name"];
    const std::string& want = name.starts_with("old")   ? ids[0]
                              : name.starts_with("mid") ? ids[1]
                                                        : ids[2];
    EXPECT_EQ(m["notification_uuid"], want) << name;
  }
}

TEST_F(ApiTest, RecentVMovesRefuseBadParametersNamingThem) {
  for (std::string bad : {"0", "-1", "abc", "1001", "1.5", "", "+3", "99999999999999999999"}) {
    std::string encoded = bad == "+3" ? "%2B3" : bad;
    Reply r = Get("/v1/vmoves?notifications=" + encoded);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.Fault(), "badRequest");
    EXPECT_EQ(r.Message(),
              "Invalid value for notifications: " + bad + " (an integer from 1 to 1000)");
  }
  EXPECT_EQ(Get("/v1/vmoves?notifications=1000").status, 200);
  Reply status = Get("/v1/vmoves?status=running");  // the summary's word, not a move status
  EXPECT_EQ(status.status, 400);
  EXPECT_EQ(status.Message(), "Invalid value for status: running");
  EXPECT_EQ(Get("/v1/vmoves?type=teleport").Message(), "Invalid value for type: teleport");
  EXPECT_EQ(Get("/v1/vmoves?limit=x").Message(),
            "Invalid input received: limit must be an integer.");
  EXPECT_EQ(Get("/v1/vmoves?sort_key=bogus").Message(), "Sort key supplied is invalid: bogus");
  EXPECT_EQ(Get("/v1/vmoves?marker=424242").Message(), "Marker 424242 could not be found.");
}

TEST_F(ApiTest, RecentVMovesAreReadableByReadersOnlyWithAToken) {
  auto reader = std::vector<std::pair<std::string, std::string>>{{"X-Auth-Token", reader_token_}};
  Reply ok = Call("GET", "/v1/vmoves", "", reader, false);
  EXPECT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(ok.body, json::parse(R"({"vmoves": []})"));
  Reply anonymous = Call("GET", "/v1/vmoves", "", {}, false);
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.Fault(), "unauthorized");
  EXPECT_EQ(Call("POST", "/v1/vmoves", "{}").status, 405);
  EXPECT_EQ(Call("DELETE", "/v1/vmoves").status, 405);
  // Any microversion, with the usual headers.
  EXPECT_EQ(Get("/v1/vmoves").Header("OpenStack-API-Version"), "masakari 1.0");
  EXPECT_EQ(Get("/v1/vmoves", {{"OpenStack-API-Version", "instance-ha 1.3"}})
                .Header("OpenStack-API-Version"),
            "masakari 1.3");
  EXPECT_EQ(Get("/v1/vmoves", {{"OpenStack-API-Version", "instance-ha 1.9"}}).status, 406);
  std::lock_guard lock(log_mu_);
  EXPECT_NE(log_lines_.back().find("route=/v1/vmoves "), std::string::npos) << log_lines_.back();
}

// --- the network-thread path: cache and durable-then-answer creates ---------------------------

TEST_F(ApiTest, CachedReadsNeverHideACommittedWrite) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "c1");
  const auto counted = [&](const std::string& result) {
    const std::string text = Get("/metrics").raw;
    const std::string key = "warden_api_response_cache_total{result=\"" + result + "\"} ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
  };
  const double hits = counted("hit"), misses = counted("miss");
  EXPECT_EQ(Get("/v1/notifications").body["notifications"].size(), 0u);
  EXPECT_EQ(Get("/v1/notifications").body["notifications"].size(), 0u);  // now cached
  EXPECT_EQ(counted("hit"), hits + 1);
  EXPECT_EQ(counted("miss"), misses + 1);
  ASSERT_EQ(Notify("c1", "COMPUTE_HOST", HostDown()).status, 202);
  EXPECT_EQ(Get("/v1/notifications").body["notifications"].size(), 1u);
  // A write made directly through the store (as the engine will) invalidates too.
  Reply listed = Get("/v1/notifications");
  Notification n;
  ASSERT_TRUE(store_->Read([&](store::ReadTx& tx) -> Result<void> {
    n = *tx.GetNotification(
        listed.body["notifications"][0]["notification_uuid"].get<std::string>());
    return {};
  }));
  n.status = NotificationStatus::kRunning;
  ASSERT_TRUE(store_->Write([&](store::WriteTx& tx) { return tx.UpdateNotification(n); }));
  EXPECT_EQ(Get("/v1/notifications").body["notifications"][0]["status"], "running");
  // Different microversions are different entries.
  std::string id = n.uuid;
  EXPECT_FALSE(
      Get("/v1/notifications/" + id).body["notification"].contains("recovery_workflow_details"));
  EXPECT_TRUE(Get("/v1/notifications/" + id, {{"OpenStack-API-Version", "instance-ha 1.1"}})
                  .body["notification"]
                  .contains("recovery_workflow_details"));
}

// A write by another process on the same database (the sqlite3 shell, a second store) is not
// this server's: the cached answer gives way once the idle store notices it (250 ms).
TEST_F(ApiTest, CachedReadsGiveWayToAnotherProcesssWrite) {
  MakeSegment("mine");
  EXPECT_EQ(Get("/v1/segments").body["segments"].size(), 1u);
  EXPECT_EQ(Get("/v1/segments").body["segments"].size(), 1u);  // now cached
  {
    auto other = store::OpenSqliteStore({.path = (dir_ / "w.db").string()});
    ASSERT_TRUE(other.has_value()) << other.error().ToString();
    ha::HaService theirs(**other, clock_, ha::HaOptions{});
    ha::SegmentCreate in;
    in.name = "theirs";
    in.recovery_method = RecoveryMethod::kAuto;
    in.service_type = "COMPUTE";
    ASSERT_TRUE(theirs.CreateSegment(in).has_value());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  size_t seen = 1;
  while (seen == 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    seen = Get("/v1/segments").body["segments"].size();
  }
  EXPECT_EQ(seen, 2u);
}

TEST_F(ApiTest, TheCacheKeepsNoResponseLargerThanItsShare) {
  api::ApiOptions options;
  options.response_cache_bytes = 64 * 1024;  // entries of at most 8 KiB
  options.access_log = api::AccessLogFormat::kOff;
  api::MasakariApi small(*service_, *store_, *auth_, clock_, metrics_, options);
  std::string seg = MakeSegment("seg");
  for (int i = 0; i < 40; ++i) MakeHost(seg, "h" + std::to_string(i));  // ~40 KiB of hosts
  auto list = [&](const std::string& target) {
    auto r = std::make_shared<api::HttpRequest>();
    r->method = "GET";
    r->target = target;
    api::ParseTarget(target, *r);
    r->headers.emplace_back("x-auth-token", admin_token_);
    return r;
  };
  auto ignore = [](api::HttpHandler::ResponseMaker) {};
  const std::string big = "/v1/segments/" + seg + "/hosts";
  ASSERT_EQ(small.Handle(*list(big)).status, 200);
  EXPECT_FALSE(small.HandleWithoutBlocking(list(big), ignore));  // too big to keep
  const std::string one = big + "?limit=1";
  ASSERT_EQ(small.Handle(*list(one)).status, 200);
  EXPECT_TRUE(small.HandleWithoutBlocking(list(one), ignore));  // small: kept
}

TEST_F(ApiTest, NetworkThreadPathAnswersOnlyWhatNeedsNoBlocking) {
  auto request = [&](const std::string& method, const std::string& target,
                     const std::string& body = "", bool with_token = true) {
    auto r = std::make_shared<api::HttpRequest>();
    r->method = method;
    r->target = target;
    api::ParseTarget(target, *r);
    if (with_token) r->headers.emplace_back("x-auth-token", admin_token_);
    if (!body.empty()) r->headers.emplace_back("content-type", "application/json");
    r->body = body;
    return r;
  };
  std::optional<api::HttpResponse> answer;
  auto respond = [&](api::HttpHandler::ResponseMaker make) { answer = make(); };

  // A read not yet cached goes to a worker; once cached, it is answered in place.
  EXPECT_FALSE(api_->HandleWithoutBlocking(request("GET", "/v1/segments"), respond));
  EXPECT_FALSE(answer.has_value());
  Get("/v1/segments");
  EXPECT_TRUE(api_->HandleWithoutBlocking(request("GET", "/v1/segments"), respond));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);

  // Authentication failures and static documents need no worker.
  answer.reset();
  EXPECT_TRUE(api_->HandleWithoutBlocking(request("GET", "/v1/segments", "", false), respond));
  EXPECT_EQ(answer->status, 401);
  answer.reset();
  EXPECT_TRUE(api_->HandleWithoutBlocking(request("GET", "/", "", false), respond));
  EXPECT_EQ(answer->status, 200);

  // Segment writes, readiness and metrics need the store's answer: a worker.
  EXPECT_FALSE(api_->HandleWithoutBlocking(
      request("POST", "/v1/segments",
              R"({"segment":{"name":"s","recovery_method":"auto","service_type":"C"}})"),
      respond));
  EXPECT_FALSE(api_->HandleWithoutBlocking(request("GET", "/readyz", "", false), respond));
  EXPECT_FALSE(api_->HandleWithoutBlocking(request("GET", "/metrics"), respond));

  // A notification is validated in place and answered once durable.
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "c1");
  std::promise<api::HttpResponse> done;
  auto created =
      request("POST", "/v1/notifications",
              R"({"hostname":"c1","type":"COMPUTE_HOST","payload":{"event":"STOPPED"}})");
  EXPECT_TRUE(api_->HandleWithoutBlocking(
      created, [&](api::HttpHandler::ResponseMaker make) { done.set_value(make()); }));
  api::HttpResponse r = done.get_future().get();
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Get("/v1/notifications").body["notifications"].size(), 1u);
  // Invalid ones are refused in place, and nothing is stored.
  answer.reset();
  EXPECT_TRUE(api_->HandleWithoutBlocking(
      request("POST", "/v1/notifications", R"({"hostname":"c1","type":"NOPE","payload":{}})"),
      respond));
  EXPECT_EQ(answer->status, 400);
  EXPECT_EQ(Get("/v1/notifications").body["notifications"].size(), 1u);
}

// Answers like the engine would, and records what it was asked.
class FakeRecoveryControl final : public ha::RecoveryControl {
 public:
  void Retry(const std::string& uuid, const std::string& who,
             std::function<void(Result<Notification>)> done) override {
    calls.push_back("retry " + uuid + " by " + who);
    Answer(uuid, done);
  }
  void Cancel(const std::string& uuid, const std::string& who,
              std::function<void(Result<Notification>)> done) override {
    calls.push_back("cancel " + uuid + " by " + who);
    Answer(uuid, done);
  }
  void Unfence(const std::string& host_uuid, const std::string& who,
               std::function<void(Result<Host>)> done) override {
    calls.push_back("unfence " + host_uuid + " by " + who);
    if (refuse) return done(FailedPrecondition("A recovery of host compute1 is under way."));
    Host h;
    h.uuid = host_uuid;
    h.name = "compute1";
    h.type = "COMPUTE";
    h.on_maintenance = false;
    done(h);
  }
  void CheckHeadroom(const std::string& segment_uuid,
                     std::function<void(Result<ha::SegmentHeadroom>)> done) override {
    calls.push_back("headroom " + segment_uuid);
    // As the engine: it finds the segment itself (the network thread's path asks it directly).
    if (!known_segment.empty() && segment_uuid != known_segment) {
      return done(NotFound("Failover segment " + segment_uuid + " could not be found."));
    }
    if (refuse) return done(Unavailable("Cannot list the cloud's compute services: 503"));
    ha::SegmentHeadroom s;
    s.segment.uuid = segment_uuid;
    s.segment.name = "seg";
    s.checked_at = 1'700'000'000'000'000;
    s.total_vcpus = 48;
    s.free_vcpus = int64_t(12 + calls.size());  // differs on each call
    ha::HostHeadroom a{.uuid = "h1", .name = "compute1", .usable = true, .checked = true,
                       .instances = 4, .ha_instances = 2, .placed = 4, .ha_placed = 2};
    ha::HostHeadroom b{.uuid = "h2", .name = "compute2", .usable = false,
                       .note = "on maintenance", .checked = true, .instances = 6,
                       .ha_instances = 3, .placed = 5, .ha_placed = 3,
                       .shortfall = "instance vm6 (u6): no capacity"};
    s.hosts = {a, b};
    done(s);
  }
  void Answer(const std::string& uuid, const std::function<void(Result<Notification>)>& done) {
    if (refuse) return done(FailedPrecondition("Notification " + uuid + " is finished."));
    Notification n;
    n.uuid = uuid;
    n.status = NotificationStatus::kFailed;
    n.payload_json = R"({"event":"STOPPED"})";
    n.message = "Cancelled by ops.";
    done(n);
  }
  std::vector<std::string> calls;
  bool refuse = false;
  std::string known_segment;  // set: CheckHeadroom of another segment is NotFound
};

TEST_F(ApiTest, HostUnfenceGoesThroughTheEngine) {
  std::string seg = MakeSegment("seg");
  Reply c = Post("/v1/segments/" + seg + "/hosts",
                 {{"host", {{"name", "compute1"}, {"type", "COMPUTE"},
                            {"control_attributes", "SSH"}, {"on_maintenance", true}}}});
  ASSERT_EQ(c.status, 201) << c.raw;
  const std::string id = c.body["host"]["uuid"];
  const std::string action = "/v1/segments/" + seg + "/hosts/" + id + "/action";
  // Without an engine: a clear 409.
  EXPECT_EQ(Post(action, {{"unfence", nullptr}}).status, 409);

  FakeRecoveryControl control;
  UseRecoveryControl(&control);
  Reply ok = Post(action, {{"unfence", json::object()}});
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(ok.body["host"]["on_maintenance"], false);
  EXPECT_EQ(ok.body["host"]["failover_segment_id"], seg);
  ASSERT_EQ(control.calls.size(), 1u);
  EXPECT_EQ(control.calls[0], "unfence " + id + " by ops");
  // Unknown hosts are 404 and never reach the engine; bad bodies are 400; readers get 403.
  EXPECT_EQ(Post("/v1/segments/" + seg + "/hosts/nope/action", {{"unfence", nullptr}}).status, 404);
  for (const json& body : {json::object(), json{{"unfence", 1}}, json{{"reboot", nullptr}}}) {
    Reply bad = Post(action, body);
    EXPECT_EQ(bad.status, 400) << body.dump();
    EXPECT_EQ(bad.body["badRequest"]["message"], body.contains("unfence")
                                                     ? "'unfence' takes null or {}, nothing else."
                                                     : R"(The body must be {"unfence": null}.)")
        << body.dump();
  }
  Reply reader = Call("POST", action, R"({"unfence":null})", {{"X-Auth-Token", reader_token_}},
                      false);
  EXPECT_EQ(reader.status, 403);
  EXPECT_EQ(Get(action).status, 405);
  EXPECT_EQ(control.calls.size(), 1u);
  control.refuse = true;
  Reply busy = Post(action, {{"unfence", nullptr}});
  EXPECT_EQ(busy.status, 409);
  EXPECT_NE(busy.raw.find("under way"), std::string::npos);
}

TEST_F(ApiTest, SignInSaysTokensOnlyAndRefusesPasswordsClearly) {
  Reply methods = Call("GET", "/signin", "", {}, false);
  ASSERT_EQ(methods.status, 200) << methods.raw;
  EXPECT_EQ(methods.body["methods"], json::array({"token"}));
  const json good = {{"username", "ops"}, {"password", "secret"}, {"project", "demo"}};
  Reply refused = Call("POST", "/signin", good.dump(), {}, false);
  EXPECT_EQ(refused.status, 409) << refused.raw;
  EXPECT_NE(refused.raw.find("auth_strategy = keystone"), std::string::npos) << refused.raw;
  // Bad bodies are refused naming the field, never echoing a value.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"username":"ops","password":"secret"})", "'project' is required."},
      {R"({"username":"ops","password":"","project":"p"})", "'password' must be a string of 1 to 255 characters."},
      {R"({"username":"ops","password":7,"project":"p"})", "'password' must be a string of 1 to 255 characters."},
      {R"({"username":"ops","password":"secret","project":"p","admin":true})", "Unknown field in the sign-in (only username, password, project, user_domain, project_domain)."},
      {R"(["ops"])", "The body must be a JSON object."},
      {R"({"username":)", "The body must be a JSON object."},
  };
  for (const auto& [body, message] : bad) {
    Reply r = Call("POST", "/signin", body, {}, false);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.body["badRequest"]["message"], message) << body;
    EXPECT_EQ(r.raw.find("secret"), std::string::npos) << r.raw;
  }
  Reply text = Call("POST", "/signin", good.dump(), {{"content-type", "text/plain"}}, false);
  EXPECT_EQ(text.status, 415);
}

TEST_F(ApiTest, PasswordSignInsAreBoundedPerAddress) {
  const json good = {{"username", "ops"}, {"password", "secret"}, {"project", "demo"}};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Call("POST", "/signin", good.dump(), {}, false).status, 409) << i;
  }
  Reply slow = Call("POST", "/signin", good.dump(), {}, false);
  EXPECT_EQ(slow.status, 429) << slow.raw;
  EXPECT_EQ(slow.Header("Retry-After"), "61") << slow.raw;
  EXPECT_NE(slow.raw.find("Too many sign-in attempts"), std::string::npos) << slow.raw;
  // A bad body is refused before it counts; a minute later the address may try again.
  EXPECT_EQ(Call("POST", "/signin", "{}", {}, false).status, 400);
  clock_.Advance(61'000'000);
  EXPECT_EQ(Call("POST", "/signin", good.dump(), {}, false).status, 409);
}

TEST_F(ApiTest, OverviewListsSegmentsHostsAndNotificationsForReaders) {
  std::string seg = MakeSegment("rack-a");
  MakeHost(seg, "compute1");
  MakeHost(seg, "compute2");
  ASSERT_EQ(Notify("compute1", "COMPUTE_HOST", HostDown()).status, 202);
  Reply r = Call("GET", "/v1/overview", "", {{"X-Auth-Token", reader_token_}}, false);
  ASSERT_EQ(r.status, 200) << r.raw;
  const json& o = r.body["overview"];
  ASSERT_EQ(o["segments"].size(), 1u);
  EXPECT_EQ(o["segments"][0]["name"], "rack-a");
  ASSERT_EQ(o["segments"][0]["hosts"].size(), 2u);
  EXPECT_EQ(o["segments"][0]["hosts"][0]["state"], "in_recovery");  // its notification is new
  EXPECT_EQ(o["segments"][0]["hosts"][1]["state"], "up");
  EXPECT_TRUE(o["segments"][0]["hosts"][1]["notification_uuid"].is_null());
  EXPECT_EQ(o["last_24h"]["new"], 1);
  EXPECT_EQ(o["last_24h"]["total"], 1);
  EXPECT_EQ(o["active_total"], 1);
  ASSERT_EQ(o["active"].size(), 1u);
  EXPECT_EQ(o["active"][0]["host_name"], "compute1");
  EXPECT_EQ(o["active"][0]["vmoves"]["total"], 0);
  EXPECT_TRUE(o["active"][0]["first_move_started_at"].is_null());
  EXPECT_EQ(o["recent"].size(), 0u);
  EXPECT_EQ(Post("/v1/overview", json::object()).status, 405);
  // Its "last 24 h" moves with the clock, not only with the store: cached 10 s at most.
  EXPECT_EQ(Get("/v1/overview").body["overview"]["now"], o["now"]);
  clock_.Advance(11'000'000);
  EXPECT_NE(Get("/v1/overview").body["overview"]["now"], o["now"]);
}

TEST_F(ApiTest, SegmentHeadroomAsksTheEngineEveryTime) {
  std::string seg = MakeSegment("seg");
  const std::string path = "/v1/segments/" + seg + "/headroom";
  Reply none = Get(path);
  EXPECT_EQ(none.status, 409) << none.raw;  // no engine: said, not a blank answer
  EXPECT_NE(none.raw.find("No recovery engine"), std::string::npos) << none.raw;

  FakeRecoveryControl control;
  control.known_segment = seg;
  UseRecoveryControl(&control);
  Reply r = Get(path);
  ASSERT_EQ(r.status, 200) << r.raw;
  const json& h = r.body["headroom"];
  EXPECT_EQ(h["segment_uuid"], seg);
  EXPECT_EQ(h["ok"], false);  // compute2's instances do not all fit
  EXPECT_EQ(h["capacity_known"], true);
  EXPECT_TRUE(h["capacity_error"].is_null());
  EXPECT_EQ(h["vcpus"]["total"], 48);
  ASSERT_EQ(h["hosts"].size(), 2u);
  EXPECT_EQ(h["hosts"][0]["name"], "compute1");
  EXPECT_EQ(h["hosts"][0]["ok"], true);
  EXPECT_EQ(h["hosts"][1]["ok"], false);
  EXPECT_EQ(h["hosts"][1]["placed"], 5);
  EXPECT_EQ(h["hosts"][1]["note"], "on maintenance");
  EXPECT_EQ(h["hosts"][1]["shortfall"], "instance vm6 (u6): no capacity");
  // The cloud changes without the store knowing: never answered from the response cache.
  Reply again = Call("GET", path, "", {{"X-Auth-Token", reader_token_}}, false);
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_NE(again.body["headroom"]["vcpus"]["free"], h["vcpus"]["free"]);
  EXPECT_EQ(control.calls.size(), 2u);
  // Unknown segments are 404; the engine's error is a 503 with its message.
  EXPECT_EQ(Get("/v1/segments/nope/headroom").status, 404);
  // On the network thread it holds no worker: answered later, through the responder.
  auto req = std::make_shared<api::HttpRequest>();
  req->method = "GET";
  req->target = path;
  api::ParseTarget(path, *req);
  req->headers.emplace_back("x-auth-token", admin_token_);
  std::optional<api::HttpResponse> answer;
  EXPECT_TRUE(api_->HandleWithoutBlocking(
      req, [&](api::HttpHandler::ResponseMaker make) { answer = make(); }));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  EXPECT_NE(answer->body.find(R"("headroom")"), std::string::npos) << answer->body;
  control.refuse = true;
  Reply down = Get(path);
  EXPECT_EQ(down.status, 503) << down.raw;
  EXPECT_NE(down.raw.find("compute services"), std::string::npos) << down.raw;
  EXPECT_EQ(Post(path, json::object()).status, 405);
}

TEST_F(ApiTest, NotificationActionRetriesAndCancelsThroughTheEngine) {
  std::string seg = MakeSegment("seg");
  MakeHost(seg, "compute1");
  Reply created = Notify("compute1", "COMPUTE_HOST", HostDown());
  ASSERT_EQ(created.status, 202) << created.raw;
  const std::string id = created.body["notification"]["notification_uuid"];
  const std::string path = "/v1/notifications/" + id + "/action";
  const std::string unknown = "/v1/notifications/" + NewUuid() + "/action";
  // Without an engine: a clear 409, nothing asked; an unknown notification is still 404.
  Reply none = Post(path, {{"cancel", nullptr}});
  EXPECT_EQ(none.status, 409);
  EXPECT_NE(none.raw.find("No recovery engine"), std::string::npos);
  EXPECT_EQ(Post(unknown, {{"cancel", nullptr}}).status, 404);

  FakeRecoveryControl control;
  UseRecoveryControl(&control);
  Reply cancel = Post(path, {{"cancel", nullptr}});
  ASSERT_EQ(cancel.status, 200) << cancel.raw;
  EXPECT_EQ(cancel.body["notification"]["status"], "failed");
  Reply retry = Post(path, {{"retry", json::object()}});
  EXPECT_EQ(retry.status, 200);
  ASSERT_EQ(control.calls.size(), 2u);
  EXPECT_EQ(control.calls[0], "cancel " + id + " by ops");
  EXPECT_EQ(control.calls[1], "retry " + id + " by ops");

  control.refuse = true;
  Reply refused = Post(path, {{"retry", nullptr}});
  EXPECT_EQ(refused.status, 409);
  EXPECT_NE(refused.raw.find("is finished"), std::string::npos);

  // Bad bodies change nothing and name the problem.
  for (const json& body : {json::object(), json{{"retry", nullptr}, {"cancel", nullptr}},
                           json{{"reboot", nullptr}}, json{{"retry", 1}}, json::array()}) {
    Reply bad = Post(path, body);
    EXPECT_EQ(bad.status, 400) << body.dump();
    const std::string message = bad.body["badRequest"]["message"];
    const bool wrong_arg = body.is_object() && body.contains("retry") && body.size() == 1;
    EXPECT_EQ(message, wrong_arg ? "'retry' takes null or {}, nothing else."
                                 : R"(The body must be {"retry": null} or {"cancel": null}.)")
        << body.dump();
  }
  EXPECT_EQ(control.calls.size(), 3u);
  EXPECT_EQ(Post(unknown, {{"retry", nullptr}}).status, 404);
  EXPECT_EQ(control.calls.size(), 3u);
  // Readers may not act; GET is not a method of this resource.
  Reply reader = Call("POST", path, R"({"retry":null})", {{"X-Auth-Token", reader_token_}}, false);
  EXPECT_EQ(reader.status, 403);
  EXPECT_EQ(Get(path).status, 405);
  EXPECT_EQ(control.calls.size(), 3u);
}

}  // namespace
}  // namespace warden::testing
