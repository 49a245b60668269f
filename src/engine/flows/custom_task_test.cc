// Operators' exec and http tasks in a workflow: their input, output, retries and failures.
#include <gtest/gtest.h>

#include <fstream>

#include "api/http_server.h"
#include "engine/engine_fixture.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;

TEST_F(EngineTest, CustomExecTaskGetsTheNotificationOnStdinAndItsFailureIsAnError) {
  MakeCloud(3, 1);
  const std::string out = path_.string() + ".task";
  options_.workflows.custom["record"] = CustomTask{
      .name = "record", .kind = CustomTask::Kind::kExec, .command = "cat > " + out};
  options_.workflows.custom["refuse"] = CustomTask{
      .name = "refuse", .kind = CustomTask::Kind::kExec, .command = "echo no way; exit 3"};
  options_.workflows.process = {"record", std::string(kDisableComputeNode)};
  StartEngine();
  const std::string id = Notify("compute1", NotificationType::kProcess,
                                R"({"event":"STOPPED","process_name":"nova-compute"})");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  std::ifstream f(out);
  json input = json::parse(f);
  EXPECT_EQ(input["notification_uuid"], id);
  EXPECT_EQ(input["type"], "PROCESS");
  EXPECT_EQ(input["payload"]["process_name"], "nova-compute");
  std::filesystem::remove(out);

  options_.workflows.process = {"refuse"};
  CrashEngine();
  StartEngine();
  const std::string bad = Notify("compute2", NotificationType::kProcess,
                                 R"({"event":"STOPPED","process_name":"nova-compute"})");
  Notification n = RunToEnd(bad);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_NE(n.message.value_or("").find("exit status 3"), std::string::npos) << n.message.value_or("");
  EXPECT_NE(n.message.value_or("").find("no way"), std::string::npos);
}

// An http task gets the notification as a JSON POST; a non-2xx answer is an error with the
// status and body, and an unreachable endpoint too.
class RecordingEndpoint : public api::HttpHandler {
 public:
  api::HttpResponse Handle(const api::HttpRequest& r) override {
    std::lock_guard lock(mu);
    bodies.push_back(r.body);
    if (const std::string* ct = r.Header("content-type")) content_type = *ct;
    return {.status = status, .body = status == 200 ? "{}" : "{\"error\": \"busy\"}"};
  }
  std::mutex mu;
  std::vector<std::string> bodies;
  std::string content_type;
  int status = 200;
};

TEST_F(EngineTest, CustomHttpTaskPostsTheNotificationAndItsFailureIsAnError) {
  RecordingEndpoint endpoint;
  auto server = api::StartHttpServer({.address = "127.0.0.1", .port = 0}, endpoint);
  ASSERT_TRUE(server);
  const std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/hook";
  MakeCloud(3, 1);
  options_.workflows.custom["hook"] =
      CustomTask{.name = "hook", .kind = CustomTask::Kind::kHttp, .url = url};
  options_.workflows.process = {"hook", std::string(kDisableComputeNode)};
  StartEngine();
  const std::string id = Notify("compute1", NotificationType::kProcess,
                                R"({"event":"STOPPED","process_name":"nova-compute"})");
  ASSERT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
  {
    std::lock_guard lock(endpoint.mu);
    ASSERT_EQ(endpoint.bodies.size(), 1u);
    json input = json::parse(endpoint.bodies[0]);
    EXPECT_EQ(input["notification_uuid"], id);
    EXPECT_EQ(input["payload"]["process_name"], "nova-compute");
    EXPECT_EQ(endpoint.content_type, "application/json");
    endpoint.status = 503;
  }
  const std::string busy = Notify("compute2", NotificationType::kProcess,
                                  R"({"event":"STOPPED","process_name":"nova-compute"})");
  Notification n = RunToEnd(busy);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_NE(n.message.value_or("").find("503"), std::string::npos) << n.message.value_or("");
  EXPECT_NE(n.message.value_or("").find("busy"), std::string::npos);
  (*server)->Stop();

  options_.workflows.custom["hook"].url = "http://127.0.0.1:1/hook";  // nothing listens
  CrashEngine();
  StartEngine();
  const std::string gone = Notify("compute3", NotificationType::kProcess,
                                  R"({"event":"STOPPED","process_name":"nova-compute"})");
  n = RunToEnd(gone);
  EXPECT_EQ(n.status, NotificationStatus::kError);
  EXPECT_NE(n.message.value_or("").find("127.0.0.1:1"), std::string::npos) << n.message.value_or("");
}

}  // namespace
}  // namespace warden::engine
