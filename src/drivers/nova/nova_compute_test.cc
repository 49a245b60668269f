#include "drivers/nova/nova_compute.h"

#include <gtest/gtest.h>

#include <atomic>

#include "core/event_loop.h"
#include "core/time.h"
#include "drivers/nova/fake_openstack.h"
#include "openstack/keystone.h"

namespace warden::drivers {
namespace {

using testing::FakeOpenStack;
using json = nlohmann::json;

openstack::KeystoneAuth AuthFor(const FakeOpenStack& cloud) {
  openstack::KeystoneAuth a;
  a.auth_url = cloud.base() + "/identity";  // without /v3: the client adds it
  a.username = "warden";
  a.password = "secret";
  a.project_name = "service";
  a.timeout_seconds = 5;
  return a;
}

class NovaComputeTest : public ::testing::Test {
 protected:
  NovaComputeTest()
      : keystone_(AuthFor(cloud_), loop_.clock()) {
    cloud_.AddHost("compute3", "rp-3", 32, 4);
    cloud_.AddHost("compute30", "rp-30", 32, 0);
    cloud_.AddHost("compute4", "rp-4", 16, 16);
  }

  std::unique_ptr<NovaCompute> Driver(NovaOptions o = {}) {
    return std::make_unique<NovaCompute>(loop_, keystone_, o);
  }

  // Runs `op` and the loop until its answer arrives (bounded).
  template <typename T>
  Result<T> Await(const std::function<void(Callback<T>)>& op) {
    std::optional<Result<T>> out;
    op([&](Result<T> r) { out = std::move(r); });
    loop_.RunUntil([&] { return out.has_value(); }, loop_.clock().Monotonic() + 600'000'000);
    if (!out) return Internal("no answer");
    return std::move(*out);
  }

  FakeOpenStack cloud_;
  SimulatedEventLoop loop_;
  openstack::KeystoneClient keystone_;
};

TEST_F(NovaComputeTest, NegotiatesTheMicroversionOnceAndCapsIt) {
  {
    std::lock_guard lock(cloud_.mu);
    cloud_.max_version = "2.96";
  }
  auto nova = Driver();
  ASSERT_TRUE(Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); }));
  ASSERT_TRUE(Await<Instance>([&](auto cb) {
    cloud_.AddServer("a1", "compute3", "active");
    nova->GetInstance("a1", cb);
  }));
  EXPECT_EQ(nova->microversion(), "2.93");
  int version_documents = 0;
  for (const auto& r : cloud_.Requests("GET", "/compute/v2.1")) {
    version_documents += r.target == "/compute/v2.1/";
  }
  EXPECT_EQ(version_documents, 1);
  auto services = cloud_.Requests("GET", "/compute/v2.1/os-services");
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].headers["openstack-api-version"], "compute 2.93");
  EXPECT_EQ(services[0].headers["x-openstack-nova-api-version"], "2.93");
}

TEST_F(NovaComputeTest, RefusesANovaOlderThanPike) {
  {
    std::lock_guard lock(cloud_.mu);
    cloud_.max_version = "2.42";
  }
  auto nova = Driver();
  auto r = Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("2.42"), std::string::npos) << r.error().message();
  EXPECT_TRUE(cloud_.Requests("GET", "/compute/v2.1/os-services").empty());
}

TEST_F(NovaComputeTest, OneTokenForManyCallsRenewedOnlyAfterA401) {
  auto nova = Driver();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); }));
  }
  EXPECT_EQ(keystone_.tokens_issued(), 1);
  {
    std::lock_guard lock(cloud_.mu);
    cloud_.valid_tokens.clear();  // Keystone revoked it
  }
  ASSERT_TRUE(Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); }));
  EXPECT_EQ(keystone_.tokens_issued(), 2);
  EXPECT_EQ(nova->stats().reauthentications, 1);
}

TEST_F(NovaComputeTest, WrongCredentialsArePermissionDeniedNotRetried) {
  {
    std::lock_guard lock(cloud_.mu);
    cloud_.password = "other";
  }
  auto nova = Driver();
  auto r = Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(IsRetryable(r.error()));
  EXPECT_EQ(r.error().message().find("secret"), std::string::npos);
}

TEST_F(NovaComputeTest, ServiceIsFoundByExactHostAndUpdatedById) {
  auto nova = Driver();
  auto s = Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->id, "svc-compute3");
  EXPECT_TRUE(s->up);
  EXPECT_TRUE(s->enabled);
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->SetForcedDown("compute3", true, cb); }));
  ASSERT_TRUE(Await<void>([&](auto cb) {
    nova->SetServiceEnabled("compute3", false, "Warden: host failed", cb);
  }));
  auto puts = cloud_.Requests("PUT", "/compute/v2.1/os-services/");
  ASSERT_EQ(puts.size(), 2u);
  EXPECT_EQ(puts[0].target, "/compute/v2.1/os-services/svc-compute3");
  EXPECT_EQ(json::parse(puts[0].body), json({{"forced_down", true}}));
  EXPECT_EQ(json::parse(puts[1].body),
            json({{"status", "disabled"}, {"disabled_reason", "Warden: host failed"}}));
  s = Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); });
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->enabled);
  EXPECT_TRUE(s->forced_down);
  auto missing = Await<ComputeService>([&](auto cb) { nova->GetService("compute", cb); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

// Only an empty listing means "no such service": a 404 for the listing itself (a wrong
// endpoint) must not read as a missing host (the API would blame the host's name).
TEST_F(NovaComputeTest, A404ForTheServiceListingIsTheEndpointsNotTheHosts) {
  auto nova = Driver();
  ASSERT_TRUE(Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); }));
  {
    std::lock_guard setup(cloud_.mu);
    cloud_.intercept = [](const api::HttpRequest& r) -> std::optional<api::HttpResponse> {
      if (r.path.find("/os-services") == std::string::npos) return std::nullopt;
      return api::HttpResponse{.status = 404, .body = R"({"itemNotFound": {"message": "nope"}})"};
    };
  }
  auto r = Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().ToString();
  EXPECT_NE(r.error().message().find("404"), std::string::npos) << r.error().message();
}

TEST_F(NovaComputeTest, AllComputeServicesInOneCallAndTheirIdsAreKept) {
  auto nova = Driver();
  auto l = Await<std::vector<ComputeService>>([&](auto cb) { nova->ListServices(cb); });
  ASSERT_TRUE(l) << l.error().ToString();
  ASSERT_EQ(l->size(), 3u);
  std::map<std::string, ComputeService> by_host;
  for (auto& c : *l) by_host[c.host] = c;
  EXPECT_EQ(by_host.at("compute30").id, "svc-compute30");
  EXPECT_TRUE(by_host.at("compute3").enabled && by_host.at("compute3").up);
  EXPECT_EQ(cloud_.Requests("GET", "/compute/v2.1/os-services").size(), 1u);
  // The ids came with the listing: forcing a host down needs no lookup of its own.
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->SetForcedDown("compute30", true, cb); }));
  EXPECT_EQ(cloud_.Requests("GET", "/compute/v2.1/os-services").size(), 1u);
  EXPECT_EQ(cloud_.Requests("PUT", "/compute/v2.1/os-services/svc-compute30").size(), 1u);
}

TEST_F(NovaComputeTest, ListsOnlyTheExactHostAcrossPages) {
  for (int i = 0; i < 1203; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "s%05d", i);
    cloud_.AddServer(id, i % 2 == 0 ? "compute3" : "compute30", "active",
                     {{"HA_Enabled", "True"}});
  }
  // Even a Nova that matched host names by prefix must not make compute30's servers ours.
  {
    std::lock_guard lock(cloud_.mu);
    cloud_.prefix_host_match = true;
    cloud_.max_limit = 400;  // below the driver's page size: only the next links tell
  }
  auto nova = Driver();
  auto list = Await<std::vector<Instance>>([&](auto cb) { nova->ListInstances("compute3", cb); });
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 602u);
  for (const Instance& i : *list) {
    ASSERT_EQ(i.host, "compute3");
    EXPECT_EQ(i.flavor.vcpus, 2);
    EXPECT_EQ(i.metadata.at("HA_Enabled"), "True");
  }
  auto pages = cloud_.Requests("GET", "/compute/v2.1/servers/detail");
  EXPECT_EQ(pages.size(), 4u);  // 400 + 400 + 400 + 3 of both hosts
  EXPECT_NE(pages[0].target.find("all_tenants=1"), std::string::npos);
  EXPECT_NE(pages[1].target.find("marker="), std::string::npos);
}

TEST_F(NovaComputeTest, HostResourcesComeFromPlacementKeyedByServiceHost) {
  auto nova = Driver();
  auto r = Await<std::vector<HostResources>>([&](auto cb) { nova->ListHostResources(cb); });
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  std::map<std::string, HostResources> by_host;
  for (const auto& h : *r) by_host[h.host] = h;
  EXPECT_EQ(by_host["compute3"].total.vcpus, 32);
  EXPECT_EQ(by_host["compute3"].used.vcpus, 4);
  EXPECT_EQ(by_host["compute3"].total.ram_mb, 65536);
  EXPECT_GT(by_host["compute3"].total.disk_gb, 1'000'000);  // no DISK_GB: shared storage
  auto p = cloud_.Requests("GET", "/placement/allocation_candidates");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].headers["openstack-api-version"], "placement 1.29");
}

TEST_F(NovaComputeTest, EvacuateSendsNoForceAndTheDestinationOnlyWhenGiven) {
  cloud_.AddServer("a1", "compute3", "active");
  cloud_.AddServer("a2", "compute3", "active");
  auto nova = Driver();
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->Evacuate("a1", "compute30", cb); }));
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->Evacuate("a2", std::nullopt, cb); }));
  auto posts = cloud_.Requests("POST", "/compute/v2.1/servers/");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(json::parse(posts[0].body), json({{"evacuate", {{"host", "compute30"}}}}));
  EXPECT_EQ(json::parse(posts[1].body), json({{"evacuate", json::object()}}));
  auto m = Await<std::vector<Migration>>([&](auto cb) { nova->ListMigrations("a1", cb); });
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].dest_host, "compute30");
  EXPECT_EQ((*m)[0].status, "done");
}

TEST_F(NovaComputeTest, NovaErrorsMapToCodesWithNovasMessage) {
  cloud_.AddServer("a1", "compute3", "active");
  auto nova = Driver();
  std::atomic<int> status = 400;
  {
    std::lock_guard setup(cloud_.mu);
    cloud_.intercept = [&](const api::HttpRequest& r) -> std::optional<api::HttpResponse> {
      if (r.method != "POST" || r.path.find("/action") == std::string::npos) return std::nullopt;
      return api::HttpResponse{
          .status = status.load(),
          .body =
              json({{"x", {{"message", "Compute service of compute3 is still in use."}}}}).dump()};
    };
  }
  const std::map<int, ErrorCode> expect = {{400, ErrorCode::kFailedPrecondition},
                                           {403, ErrorCode::kPermissionDenied},
                                           {404, ErrorCode::kNotFound},
                                           {409, ErrorCode::kAborted},
                                           {429, ErrorCode::kUnavailable},
                                           {500, ErrorCode::kUnavailable},
                                           {503, ErrorCode::kUnavailable}};
  for (const auto& [s, code] : expect) {
    status = s;
    auto r = Await<void>([&](auto cb) { nova->Evacuate("a1", std::nullopt, cb); });
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error().code(), code) << s;
    EXPECT_NE(r.error().message().find("still in use"), std::string::npos) << r.error().message();
  }
}

TEST_F(NovaComputeTest, StopOfAStoppedServerAndStartOfAnActiveOneSucceed) {
  cloud_.AddServer("a1", "compute3", "stopped");
  auto nova = Driver();
  EXPECT_TRUE(Await<void>([&](auto cb) { nova->StopInstance("a1", cb); }));
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->StartInstance("a1", cb); }));
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->ResetState("a1", "error", cb); }));
  auto i = Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); });
  ASSERT_TRUE(i);
  EXPECT_EQ(i->vm_state, "error");
  auto gone = Await<Instance>([&](auto cb) { nova->GetInstance("nope", cb); });
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
}

TEST_F(NovaComputeTest, EvacuationsSinceATimeAreListedAcrossPagesInOneOperation) {
  auto nova = Driver();
  {
    std::lock_guard setup(cloud_.mu);
    for (int i = 0; i < 1203; ++i) {
      const std::string t = i < 3 ? "2026-11-22T09:00:00.000000" : "2026-11-22T10:00:00.000000";
      cloud_.migrations.push_back(
          {{"uuid", "m" + std::to_string(i)},
           {"instance_uuid", "i" + std::to_string(i)},
           {"migration_type", i % 100 == 50 ? "live-migration" : "evacuation"},
           {"status", "done"},
           {"created_at", t},
           {"updated_at", t}});
    }
  }
  const WallMicros since = *ParseIsoTime("2026-11-22T09:30:00");
  auto l = Await<std::vector<Migration>>([&](auto cb) { nova->ListEvacuationsSince(since, cb); });
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_EQ(l->size(), 1200u - 12u);  // the 3 older ones and the 12 live migrations left out
  auto gets = cloud_.Requests("GET", "/compute/v2.1/os-migrations");
  ASSERT_EQ(gets.size(), 3u);  // pages of 500, following the next link
  EXPECT_NE(gets[0].target.find("changes-since=2026-11-22T09%3A30%3A00"), std::string::npos)
      << gets[0].target;
  EXPECT_NE(gets[1].target.find("marker=m"), std::string::npos);
}

TEST_F(NovaComputeTest, EvacuationsSinceNeedMicroversion259) {
  cloud_.max_version = "2.58";
  auto nova = Driver();
  auto l = Await<std::vector<Migration>>([&](auto cb) { nova->ListEvacuationsSince(0, cb); });
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), ErrorCode::kUnimplemented);
  EXPECT_TRUE(cloud_.Requests("GET", "/compute/v2.1/os-migrations").empty());
}

TEST_F(NovaComputeTest, LockCarriesTheReasonFrom273AndUnlockClearsIt) {
  cloud_.AddServer("a1", "compute3", "active");
  auto nova = Driver();
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->LockInstance("a1", "Warden: evacuating", cb); }));
  auto i = Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); });
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->locked);
  EXPECT_EQ(i->locked_reason, "Warden: evacuating");
  EXPECT_EQ(i->power_state, kPowerRunning);
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->UnlockInstance("a1", cb); }));
  i = Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); });
  ASSERT_TRUE(i);
  EXPECT_FALSE(i->locked);
  EXPECT_FALSE(i->locked_reason.has_value());
  auto posts = cloud_.Requests("POST", "/compute/v2.1/servers/a1/action");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(json::parse(posts[0].body),
            json({{"lock", {{"locked_reason", "Warden: evacuating"}}}}));
  EXPECT_EQ(json::parse(posts[1].body), json({{"unlock", nullptr}}));
}

TEST_F(NovaComputeTest, LockBefore273HasNoReason) {
  cloud_.max_version = "2.60";
  cloud_.AddServer("a1", "compute3", "stopped");
  auto nova = Driver();
  ASSERT_TRUE(Await<void>([&](auto cb) { nova->LockInstance("a1", "Warden: evacuating", cb); }));
  auto posts = cloud_.Requests("POST", "/compute/v2.1/servers/a1/action");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(json::parse(posts[0].body), json({{"lock", nullptr}}));
  auto i = Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); });
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->locked);
  EXPECT_NE(i->power_state, kPowerRunning);
}

TEST_F(NovaComputeTest, AggregatesAreListedAndJoinedOnceEvenIfAlreadyAMember) {
  {
    std::lock_guard lock(cloud_.mu);
    cloud_.aggregates.push_back({{"id", 7}, {"name", "az-a"}, {"hosts", {"compute3", "compute4"}}});
  }
  auto nova = Driver();
  auto list = Await<std::vector<Aggregate>>([&](auto cb) { nova->ListAggregates(cb); });
  ASSERT_TRUE(list) << list.error().message();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, "7");
  EXPECT_EQ((*list)[0].hosts, (std::vector<std::string>{"compute3", "compute4"}));
  EXPECT_TRUE(Await<void>([&](auto cb) { nova->AddHostToAggregate("7", "compute30", cb); }));
  EXPECT_TRUE(Await<void>([&](auto cb) { nova->AddHostToAggregate("7", "compute3", cb); }));
  auto missing = Await<void>([&](auto cb) { nova->AddHostToAggregate("8", "compute3", cb); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  {
    std::lock_guard lock(cloud_.mu);
    EXPECT_EQ(cloud_.aggregates[0]["hosts"].size(), 3u);
  }
  auto posts = cloud_.Requests("POST", "/compute/v2.1/os-aggregates/7/action");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(json::parse(posts[0].body), json({{"add_host", {{"host", "compute30"}}}}));
}

TEST_F(NovaComputeTest, UnreachableNovaIsRetryable) {
  NovaOptions o;
  o.compute_url = "http://127.0.0.1:1/v2.1";  // nothing listens on port 1
  auto nova = Driver(o);
  auto r = Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(IsRetryable(r.error()));
}

TEST_F(NovaComputeTest, ConcurrencyIsBounded) {
  {
    std::lock_guard lock(cloud_.mu);
    cloud_.delay_ms = 30;
  }
  for (int i = 0; i < 12; ++i) cloud_.AddServer("a" + std::to_string(i), "compute3", "active");
  NovaOptions o;
  o.max_concurrent_calls = 3;
  o.max_calls_per_second = 0;
  auto nova = Driver(o);
  ASSERT_TRUE(Await<ComputeService>([&](auto cb) { nova->GetService("compute3", cb); }));
  cloud_.max_in_flight = 0;
  int answered = 0;
  for (int i = 0; i < 12; ++i) {
    nova->GetInstance("a" + std::to_string(i), [&](Result<Instance> r) {
      EXPECT_TRUE(r);
      ++answered;
    });
  }
  loop_.RunUntil([&] { return answered == 12; }, loop_.clock().Monotonic() + 600'000'000);
  EXPECT_EQ(answered, 12);
  EXPECT_EQ(cloud_.max_in_flight.load(), 3);
}

TEST_F(NovaComputeTest, RateLimitSpacesCallsOnTheLoopsClock) {
  for (int i = 0; i < 10; ++i) cloud_.AddServer("a" + std::to_string(i), "compute3", "active");
  NovaOptions o;
  o.max_calls_per_second = 2;  // one now, then one every 500 ms
  auto nova = Driver(o);
  const MonoMicros start = loop_.clock().Monotonic();
  int answered = 0;
  for (int i = 0; i < 10; ++i) {
    nova->GetInstance("a" + std::to_string(i), [&](Result<Instance> r) { answered += r ? 1 : 0; });
  }
  loop_.RunUntil([&] { return answered == 10; }, start + 600'000'000);
  EXPECT_EQ(answered, 10);
  const MonoMicros took = loop_.clock().Monotonic() - start;
  EXPECT_GE(took, 4'400'000);  // 9 calls after the first, 500 ms apart
  EXPECT_LE(took, 4'600'000);
}

// Calls that waited in the rate limiter's queue longer than the caller waits are answered
// DeadlineExceeded and never reach Nova: the engine has moved on and may act on its timeout.
TEST_F(NovaComputeTest, CallsThatWaitedLongerThanTheQueueTimeoutAreNeverSent) {
  for (int i = 0; i < 10; ++i) cloud_.AddServer("a" + std::to_string(i), "compute3", "active");
  NovaOptions o;
  o.max_calls_per_second = 1;     // one a second after the first
  o.queue_timeout_seconds = 3.5;  // so calls 0..3 start in time, 4..9 do not
  auto nova = Driver(o);
  ASSERT_TRUE(Await<Instance>([&](auto cb) { nova->GetInstance("a0", cb); }));  // discovery
  loop_.RunFor(5'000'000);  // a full bucket again
  const size_t before = cloud_.Requests("POST", "/compute/v2.1/servers/").size();
  std::map<int, Result<void>> answers;
  for (int i = 0; i < 10; ++i) {
    nova->Evacuate("a" + std::to_string(i), std::nullopt,
                   [&answers, i](Result<void> r) { answers.emplace(i, r); });
  }
  loop_.RunUntil([&] { return answers.size() == 10; }, loop_.clock().Monotonic() + 600'000'000);
  ASSERT_EQ(answers.size(), 10u);
  int sent = 0, expired = 0;
  for (auto& [i, r] : answers) {
    if (r) {
      ++sent;
      EXPECT_LE(i, 3) << i;
    } else {
      ++expired;
      EXPECT_EQ(r.error().code(), ErrorCode::kDeadlineExceeded);
      EXPECT_NE(r.error().message().find("not sent"), std::string::npos) << r.error().message();
    }
  }
  EXPECT_EQ(sent, 4);
  EXPECT_EQ(expired, 6);
  EXPECT_EQ(cloud_.Requests("POST", "/compute/v2.1/servers/").size() - before, 4u);
  EXPECT_EQ(nova->stats().expired, 6);
}

// The pace adapts to the cloud's answers (pacer.h; its own tests hold the arithmetic). Here:
// what the driver does with them.
TEST_F(NovaComputeTest, A429IsHeldForItsRetryAfterAndSentAgainUnseenByTheCaller) {
  cloud_.AddServer("a1", "compute3", "active");
  auto nova = Driver();
  ASSERT_TRUE(Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); }));  // discovery
  std::atomic<int> refused{0};
  cloud_.intercept = [&](const api::HttpRequest& r) -> std::optional<api::HttpResponse> {
    if (r.method != "POST" || refused.load() >= 3) return std::nullopt;
    ++refused;
    return api::HttpResponse{.status = 429,
                             .headers = {{"Retry-After", "2"}},
                             .body = R"({"overLimit": {"code": 429, "message": "slow down"}})"};
  };
  const MonoMicros start = loop_.clock().Monotonic();
  auto r = Await<void>([&](auto cb) { nova->Evacuate("a1", std::nullopt, cb); });
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_GE(loop_.clock().Monotonic() - start, 6'000'000);  // three holds of 2 s
  EXPECT_EQ(cloud_.Requests("POST", "/compute/v2.1/servers/a1/action").size(), 4u);
  const NovaStats st = nova->stats();
  EXPECT_EQ(st.throttled, 3);
  EXPECT_EQ(st.requeued, 3);
  EXPECT_GT(st.pace_rate, 0);  // limited from the first 429 on
  EXPECT_GE(st.pace_cuts, 1);
}

TEST_F(NovaComputeTest, A429StormOutlastingTheQueueTimeoutReachesTheCallerAsRetryable) {
  cloud_.AddServer("a1", "compute3", "active");
  NovaOptions o;
  o.queue_timeout_seconds = 5;
  auto nova = Driver(o);
  ASSERT_TRUE(Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); }));
  cloud_.intercept = [&](const api::HttpRequest& r) -> std::optional<api::HttpResponse> {
    if (r.method != "POST") return std::nullopt;
    return api::HttpResponse{.status = 429, .headers = {{"Retry-After", "2"}}, .body = "{}"};
  };
  auto r = Await<void>([&](auto cb) { nova->Evacuate("a1", std::nullopt, cb); });
  ASSERT_FALSE(r);
  EXPECT_TRUE(IsRetryable(r.error())) << r.error().ToString();
  // Sent at 0, 2 and 4 s; at 6 s the operation had waited past its 5 s.
  EXPECT_EQ(cloud_.Requests("POST", "/compute/v2.1/servers/a1/action").size(), 3u);
}

TEST_F(NovaComputeTest, A503WithoutRetryAfterReachesTheCallerAndHalvesTheWindow) {
  cloud_.AddServer("a1", "compute3", "active");
  auto nova = Driver();
  ASSERT_TRUE(Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); }));
  const int64_t window = nova->stats().pace_window;
  cloud_.intercept = [&](const api::HttpRequest& r) -> std::optional<api::HttpResponse> {
    if (r.path != "/compute/v2.1/servers/a1") return std::nullopt;
    return api::HttpResponse{.status = 503, .body = "{}"};
  };
  auto r = Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(cloud_.Requests("GET", "/compute/v2.1/servers/a1").size(), 2u);  // not sent again
  EXPECT_EQ(nova->stats().pace_window, window / 2);
  EXPECT_EQ(nova->stats().requeued, 0);
}

TEST_F(NovaComputeTest, AnOutageAnswered503WithRetryAfterIsWaitedOut) {
  cloud_.AddServer("a1", "compute3", "active");
  auto nova = Driver();
  ASSERT_TRUE(Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); }));
  std::atomic<int> down{5};
  cloud_.intercept = [&](const api::HttpRequest& r) -> std::optional<api::HttpResponse> {
    if (r.path != "/compute/v2.1/servers/a1" || down.fetch_sub(1) <= 0) return std::nullopt;
    return api::HttpResponse{.status = 503, .headers = {{"Retry-After", "1"}}, .body = "{}"};
  };
  const MonoMicros start = loop_.clock().Monotonic();
  auto r = Await<Instance>([&](auto cb) { nova->GetInstance("a1", cb); });
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_GE(loop_.clock().Monotonic() - start, 5'000'000);
  EXPECT_EQ(nova->stats().requeued, 5);
}

TEST_F(NovaComputeTest, TheWindowGrowsPastItsStartWhileAnswersAreClean) {
  for (int i = 0; i < 64; ++i) cloud_.AddServer("a" + std::to_string(i), "compute3", "active");
  auto nova = Driver();
  EXPECT_EQ(nova->stats().pace_window, 8);
  ASSERT_TRUE(Await<Instance>([&](auto cb) { nova->GetInstance("a0", cb); }));
  cloud_.delay_ms = 30;  // so that calls overlap
  cloud_.max_in_flight = 0;
  int answered = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 64; ++i) {
      nova->GetInstance("a" + std::to_string(i), [&](Result<Instance> r) { answered += r ? 1 : 0; });
    }
  }
  loop_.RunUntil([&] { return answered == 192; }, loop_.clock().Monotonic() + 600'000'000);
  EXPECT_EQ(answered, 192);
  EXPECT_GT(nova->stats().pace_window, 8);
  EXPECT_GT(cloud_.max_in_flight.load(), 8);  // FakeOpenStack serves 16 at once
}

TEST(KeystoneClientTest, CatalogByInterfaceAndRegionAndValidation) {
  FakeOpenStack cloud;
  RealClock clock;
  auto auth = AuthFor(cloud);
  auth.interface = "internalURL";
  openstack::KeystoneClient internal(auth, clock);
  auto e = internal.Endpoint("compute");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(*e, cloud.base() + "/compute-internal/v2.1");
  auth.interface = "public";
  auth.region_name = "RegionTwo";
  openstack::KeystoneClient wrong_region(auth, clock);
  auto none = wrong_region.Endpoint("compute");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(none.error().message().find("RegionTwo"), std::string::npos);

  auto own = internal.Token();
  ASSERT_TRUE(own);
  auto info = internal.Validate(*own);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->user_name, "admin");
  EXPECT_EQ(info->roles, (std::vector<std::string>{"admin", "reader"}));
  auto bad = internal.Validate("forged");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(internal.tokens_issued(), 1);
}

TEST(KeystoneClientTest, AFailedRenewalKeepsTheStillValidTokenAndIsTriedOncePerCaller) {
  FakeOpenStack cloud;
  SimulatedClock clock(1'767'225'600'000'000);  // 2026-01-01, when the fake's tokens are issued
  openstack::KeystoneClient keystone(AuthFor(cloud), clock);
  auto first = keystone.Token();
  ASSERT_TRUE(first);
  {
    std::lock_guard lock(cloud.mu);
    cloud.intercept = [](const api::HttpRequest& r) -> std::optional<api::HttpResponse> {
      if (r.method == "POST") return api::HttpResponse{.status = 503, .body = "{}"};
      return std::nullopt;
    };
  }
  // Inside the renewal margin (the last five minutes), Keystone down: the old token still works.
  const int64_t lifetime = 4'070'908'800'000'000 - 1'767'225'600'000'000;
  clock.Advance(lifetime - 200'000'000);
  auto during = keystone.Token();
  ASSERT_TRUE(during) << during.error().message();
  EXPECT_EQ(*during, *first);
  EXPECT_EQ(cloud.Requests("POST", "/identity/v3/auth/tokens").size(), 2u);
  // Past its expiry, no token: the error says why.
  clock.Advance(300'000'000);
  auto after = keystone.Token();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(keystone.tokens_issued(), 1);
}

TEST(KeystoneClientTest, ConfigurationErrorsNameTheField) {
  openstack::KeystoneAuth a;
  EXPECT_NE(openstack::ValidateKeystoneAuth(a).error().message().find("auth_url"), std::string::npos);
  a.auth_url = "http://k:5000";
  a.username = "u";
  a.password = "p";
  EXPECT_NE(openstack::ValidateKeystoneAuth(a).error().message().find("project_name"),
            std::string::npos);
  a.project_name = "p";
  EXPECT_TRUE(openstack::ValidateKeystoneAuth(a));
  a.auth_type = "token";
  EXPECT_NE(openstack::ValidateKeystoneAuth(a).error().message().find("auth_type"),
            std::string::npos);
  a.auth_type = "v3applicationcredential";
  EXPECT_NE(openstack::ValidateKeystoneAuth(a).error().message().find("application_credential"),
            std::string::npos);
}

}  // namespace
}  // namespace warden::drivers
