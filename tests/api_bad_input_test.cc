// Bad input: each malformed request gets the right 4xx with a JSON error naming the problem,
// and leaves the store exactly as it was.
#include "api_fixture.h"
#include "core/uuid.h"

namespace warden::testing {
namespace {

struct BadRequest {
  std::string name;
  std::string method;
  std::string target;  // {seg} and {host} are replaced
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int status;
  std::string must_mention;  // a substring of the error message
};

class BadInputTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    seg_ = MakeSegment("seg");
    host_ = MakeHost(seg_, "compute1");
  }
  std::string seg_, host_;
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

const std::string kHostDown = R"("payload":{"event":"STOPPED","host_status":"NORMAL"})";
const std::string kGen = R"("generated_time":"2026-01-01T00:00:00")";

std::string Wrapped(const std::string& inner) { return R"({"notification":{)" + inner + "}}"; }

TEST_F(BadInputTest, EachGetsA4xxJsonErrorAndChangesNothing) {
  const std::string long_name(256, 'x');
  const std::vector<BadRequest> cases = {
      // Transport-level body problems.
      {"malformed json",
       "POST",
       "/v1/segments",
       "{\"segment\": ",
       {},
       400,
       "Malformed request body"},
      {"empty body",
       "POST",
       "/v1/segments",
       "",
       {{"Content-Type", "application/json"}},
       400,
       "Malformed request body"},
      {"bad utf-8",
       "POST",
       "/v1/segments",
       "{\"segment\":{\"name\":\"\xff\xfe\",\"recovery_method\":\"auto\",\"service_type\":\"C\"}}",
       {},
       400,
       "Malformed request body"},
      {"no content type",
       "POST",
       "/v1/segments",
       R"({"segment":{}})",
       {{"Content-Type", "text/plain"}},
       415,
       "Unsupported Content-Type"},
      {"form content type",
       "POST",
       "/v1/notifications",
       "type=VM",
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       415,
       "Content-Type"},
      {"top-level array", "POST", "/v1/segments", "[]", {}, 400, "is not of type 'object'"},
      {"top-level string", "POST", "/v1/notifications", "\"hi\"", {}, 400, "not of type 'object'"},
      // Segments.
      {"segment missing wrapper",
       "POST",
       "/v1/segments",
       R"({"name":"x","recovery_method":"auto","service_type":"C"})",
       {},
       400,
       "'name'"},
      {"segment missing name",
       "POST",
       "/v1/segments",
       R"({"segment":{"recovery_method":"auto","service_type":"C"}})",
       {},
       400,
       "'name' is a required property"},
      {"segment unknown property",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"x","recovery_method":"auto","service_type":"C","color":"red"}})",
       {},
       400,
       "'color' was unexpected"},
      {"segment bad method",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"x","recovery_method":"fastest","service_type":"C"}})",
       {},
       400,
       "recovery_method"},
      {"segment name wrong type",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":7,"recovery_method":"auto","service_type":"C"}})",
       {},
       400,
       "is not of type 'string'"},
      {"segment name empty",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"","recovery_method":"auto","service_type":"C"}})",
       {},
       400,
       "too short"},
      {"segment name too long",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":")" + long_name + R"(","recovery_method":"auto","service_type":"C"}})",
       {},
       400,
       "too long"},
      {"segment name leading space",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":" x","recovery_method":"auto","service_type":"C"}})",
       {},
       400,
       "whitespace"},
      {"segment name control char",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"a\u0007b","recovery_method":"auto","service_type":"C"}})",
       {},
       400,
       "name"},
      {"segment description number",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"x","recovery_method":"auto","service_type":"C","description":5}})",
       {},
       400,
       "description"},
      {"segment enabled garbage",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"x","recovery_method":"auto","service_type":"C","enabled":"maybe"}})",
       {{"OpenStack-API-Version", "instance-ha 1.2"}},
       400,
       "enabled"},
      {"segment update empty",
       "PUT",
       "/v1/segments/{seg}",
       R"({"segment":{}})",
       {},
       400,
       "not valid under any of the given schemas"},
      {"segment update unknown",
       "PUT",
       "/v1/segments/{seg}",
       R"({"segment":{"id":9}})",
       {},
       400,
       "'id' was unexpected"},
      {"segment duplicate",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"seg","recovery_method":"auto","service_type":"C"}})",
       {},
       409,
       "already exists"},
      // Hosts.
      {"host missing control_attributes",
       "POST",
       "/v1/segments/{seg}/hosts",
       R"({"host":{"name":"c9","type":"COMPUTE"}})",
       {},
       400,
       "'control_attributes'"},
      {"host bad type pattern",
       "POST",
       "/v1/segments/{seg}/hosts",
       R"({"host":{"name":"c9","type":"COMPUTE-X","control_attributes":""}})",
       {},
       400,
       "does not match"},
      {"host reserved garbage",
       "POST",
       "/v1/segments/{seg}/hosts",
       R"({"host":{"name":"c9","type":"C","control_attributes":"","reserved":"sure"}})",
       {},
       400,
       "reserved"},
      {"host reserved number",
       "PUT",
       "/v1/segments/{seg}/hosts/{host}",
       R"({"host":{"reserved":2}})",
       {},
       400,
       "reserved"},
      {"host duplicate",
       "POST",
       "/v1/segments/{seg}/hosts",
       R"({"host":{"name":"compute1","type":"C","control_attributes":""}})",
       {},
       409,
       "already exists"},
      {"host update empty",
       "PUT",
       "/v1/segments/{seg}/hosts/{host}",
       R"({"host":{}})",
       {},
       400,
       "not valid"},
      {"host in unknown segment",
       "POST",
       "/v1/segments/00000000-0000-0000-0000-000000000000/hosts",
       R"({"host":{"name":"c9","type":"C","control_attributes":""}})",
       {},
       404,
       "No failover segment"},
      // Notifications.
      {"notification missing payload",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1",)" + kGen),
       {},
       400,
       "'payload' is a required property"},
      {"wrapped without generated_time",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1",)" + kHostDown),
       {},
       400,
       "'generated_time'"},
      {"notification unknown property",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1","x":1,)" + kGen + "," + kHostDown),
       {},
       400,
       "'x' was unexpected"},
      {"notification bad type",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"DISK","hostname":"compute1",)" + kGen + "," + kHostDown),
       {},
       400,
       "'DISK' is not one of"},
      {"notification bad hostname",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute 1",)" + kGen + "," + kHostDown),
       {},
       400,
       "does not match"},
      {"notification bad time",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1","generated_time":"yesterday",)" +
               kHostDown),
       {},
       400,
       "is not a 'date-time'"},
      {"notification time wrong type",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1","generated_time":12,)" + kHostDown),
       {},
       400,
       "generated_time"},
      {"host payload lower-case event",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1",)" + kGen +
               R"(,"payload":{"event":"stopped"})"),
       {},
       400,
       "'stopped' is not one of"},
      {"host payload extra key",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1",)" + kGen +
               R"(,"payload":{"event":"STOPPED","why":"x"})"),
       {},
       400,
       "'why' was unexpected"},
      {"host payload bad host_status",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1",)" + kGen +
               R"(,"payload":{"event":"STOPPED","host_status":"DEAD"})"),
       {},
       400,
       "host_status"},
      {"payload not an object",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute1",)" + kGen + R"(,"payload":"down")"),
       {},
       400,
       "is not of type 'object'"},
      {"vm payload missing uuid",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"VM","hostname":"compute1",)" + kGen +
               R"(,"payload":{"event":"LIFECYCLE","vir_domain_event":"STOPPED_FAILED"})"),
       {},
       400,
       "'instance_uuid' is a required property"},
      {"vm payload bad uuid",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"VM","hostname":"compute1",)" + kGen +
               R"(,"payload":{"event":"LIFECYCLE","vir_domain_event":"X","instance_uuid":"abc"})"),
       {},
       400,
       "is not a 'uuid'"},
      {"process payload empty name",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"PROCESS","hostname":"compute1",)" + kGen +
               R"(,"payload":{"event":"STOPPED","process_name":""})"),
       {},
       400,
       "too short"},
      {"unknown host",
       "POST",
       "/v1/notifications",
       Wrapped(R"("type":"COMPUTE_HOST","hostname":"compute2",)" + kGen + "," + kHostDown),
       {},
       400,
       "Host with name compute2 could not be found."},
      {"flat missing hostname",
       "POST",
       "/v1/notifications",
       R"({"type":"COMPUTE_HOST",)" + kHostDown + "}",
       {},
       400,
       "'hostname'"},
      // Queries, versions, auth.
      {"bad microversion",
       "GET",
       "/v1/segments",
       "",
       {{"OpenStack-API-Version", "instance-ha one"}},
       400,
       "invalid format"},
      {"microversion too high",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"v","recovery_method":"auto","service_type":"C"}})",
       {{"OpenStack-API-Version", "instance-ha 1.4"}},
       406,
       "maximum is 1.3"},
      {"bad token on write",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"t","recovery_method":"auto","service_type":"C"}})",
       {{"X-Auth-Token", "wdn_guess"}},
       401,
       "Invalid token"},
      {"empty bearer",
       "POST",
       "/v1/segments",
       R"({"segment":{"name":"t","recovery_method":"auto","service_type":"C"}})",
       {{"Authorization", "Bearer "}},
       401,
       "Authentication required"},
      {"negative limit", "GET", "/v1/notifications?limit=-5", "", {}, 400, "limit must be >= 0"},
      {"bad marker", "GET", "/v1/notifications?marker=abc", "", {}, 400, "Marker abc"},
      // Echoed in the message: bytes that are not UTF-8 become U+FFFD, the body stays JSON.
      {"marker not utf-8",
       "GET",
       "/v1/notifications?marker=a%ff%c3%a9%c3",
       "",
       {},
       400,
       "Marker a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd could not be found"},
      {"bad sort key",
       "GET",
       "/v1/segments/{seg}/hosts?sort_key=password",
       "",
       {},
       400,
       "Sort key supplied is invalid"},
  };
  const std::string before = Snapshot();
  for (const BadRequest& c : cases) {
    SCOPED_TRACE(c.name);
    bool own_credentials = false;
    for (const auto& [k, v] : c.headers)
      own_credentials |= k == "X-Auth-Token" || k == "Authorization";
    std::string target = Replace(Replace(c.target, "{seg}", seg_), "{host}", host_);
    Reply r = Call(c.method, target, c.body, c.headers, !own_credentials);
    EXPECT_EQ(r.status, c.status) << r.raw;
    ASSERT_TRUE(r.body.is_object()) << r.raw;
    EXPECT_EQ(r.body.begin().value()["code"], c.status);
    EXPECT_NE(r.Message().find(c.must_mention), std::string::npos)
        << "message: " << r.Message() << "\nshould mention: " << c.must_mention;
  }
  EXPECT_EQ(Snapshot(), before);
}

// Nesting deep enough to overflow a recursive parser, within Masakari's body limit (112 KiB)
// so that it reaches the parser over a socket too.
TEST_F(BadInputTest, DeeplyNestedJsonIsRefusedWithoutCrashing) {
  const std::string before = Snapshot();
  std::string deep = std::string(50000, '[') + std::string(50000, ']');
  Reply r = Call("POST", "/v1/notifications", deep);
  EXPECT_EQ(r.status, 400) << r.raw;
  std::string deep_obj;
  for (int i = 0; i < 18000; ++i) deep_obj += "{\"a\":";
  deep_obj += "1" + std::string(18000, '}');
  EXPECT_EQ(Call("POST", "/v1/segments", deep_obj).status, 400);
  EXPECT_EQ(Snapshot(), before);
}

// The transport refuses a body over [api] max_body_bytes before anything parses it, with the
// same JSON error form as the API's own errors.
TEST_F(BadInputTest, OversizedBodiesGet413AndChangeNothing) {
  if (!OverSocket()) GTEST_SKIP() << "the body limit belongs to the HTTP server: socket runs only";
  const std::string before = Snapshot();
  const std::string padding(server_options_.max_body_bytes, 'x');
  json body = {{"notification",
                {{"type", "VM"},
                 {"hostname", "compute-1"},
                 {"generated_time", "2026-01-02T03:04:05"},
                 {"payload", {{"event", "LIFECYCLE"}, {"padding", padding}}}}}};
  Reply r = Post("/v1/notifications", body);
  EXPECT_EQ(r.status, 413) << r.raw.substr(0, 200);
  EXPECT_EQ(r.Fault(), "overLimit");
  EXPECT_EQ(r.body["overLimit"]["code"], 413);
  // Just within the limit, the same request reaches the API, which refuses the payload's
  // unknown property.
  body["notification"]["payload"]["padding"] =
      std::string(server_options_.max_body_bytes - 400, 'x');
  ASSERT_LE(body.dump().size(), server_options_.max_body_bytes);
  Reply within = Post("/v1/notifications", body);
  EXPECT_EQ(within.status, 400) << within.raw.substr(0, 200);
  EXPECT_NE(within.Message().find("'padding' was unexpected"), std::string::npos)
      << within.raw.substr(0, 200);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(BadInputTest, PercentEncodedGarbageInPathsIsHandled) {
  Reply r = Get("/v1/segments/%00%ff%2F..%2F");
  EXPECT_EQ(r.status, 404);
  api::HttpRequest req;
  EXPECT_FALSE(api::ParseTarget("/v1/segments/%zz", req));
  EXPECT_FALSE(api::ParseTarget("/v1/segments/%4", req));
  EXPECT_FALSE(api::ParseTarget("v1/segments", req));
}

}  // namespace
}  // namespace warden::testing
