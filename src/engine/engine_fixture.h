// A simulated cloud, a real SQLite store and a recovery engine on one simulated loop: the
// engine tests' world. Hosts are "compute1".."computeN" in one segment.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/event_loop.h"
#include "core/test_temp_dir.h"
#include "drivers/faulty.h"
#include "engine/recovery_engine.h"
#include "ha/ha_service.h"
#include "sim/sim_cloud.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::engine {

inline constexpr int64_t kSecond = 1'000'000;

class EngineTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    const auto dir = ProcessTempDir("warden-engine");
    path_ = dir / ("t" + std::to_string(n++) + ".db");
    auto s = store::OpenSqliteStore({.path = path_.string()});
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    service_ = std::make_unique<ha::HaService>(*store_, loop_.clock(), ha::HaOptions{});
    options_.seed = 7;
    options_.log = [this](std::string_view level, std::string_view msg, const auto& fields) {
      std::string line = std::string(level) + " " + std::string(msg);
      for (auto& [k, v] : fields) line += " " + k + "=" + v;
      log_.push_back(line);
    };
  }
  void TearDown() override {
    engine_.reset();
    store_.reset();
    std::filesystem::remove(path_);
  }

  // Builds the cloud: `hosts` hosts of 32 vCPU / 64 GiB / 1 TB with `per_host` instances each
  // (2 vCPU, 4 GiB, 20 GB; every other one HA-enabled), registered in one segment.
  void MakeCloud(int hosts, int per_host, RecoveryMethod method = RecoveryMethod::kAuto,
                 std::vector<std::string> names = {},
                 drivers::Flavor capacity = {32, 65536, 1000}) {
    sim_ = std::make_unique<sim::SimCloud>(loop_, sim_options_);
    segment_ = *service_->CreateSegment(
        {.name = "seg", .recovery_method = method, .service_type = "COMPUTE"});
    if (names.empty()) {
      for (int h = 1; h <= hosts; ++h) names.push_back("compute" + std::to_string(h));
    }
    for (const std::string& name : names) {
      sim_->AddHost(name, capacity);
      ASSERT_TRUE(service_->CreateHost(segment_.uuid,
                                       {.name = name, .type = "COMPUTE", .control_attributes = ""}));
      for (int i = 0; i < per_host; ++i) {
        const std::string id = name + "-vm" + std::to_string(i);
        sim_->AddInstance(id, id, name, {2, 4096, 20}, i % 2 == 0);
      }
    }
    compute_inner_ = sim_->MakeComputeDriver();
    fencer_inner_ = sim_->MakeFencer();
    compute_ = std::make_unique<drivers::Faulty<drivers::ComputeDriver>>(*compute_inner_, loop_);
    fencer_ = std::make_unique<drivers::Faulty<drivers::Fencer>>(*fencer_inner_, loop_);
  }

  void StartEngine() {
    drivers::Fencer& fencer = engine_fencer_ ? *engine_fencer_ : *fencer_;
    engine_ =
        std::make_unique<RecoveryEngine>(loop_, *store_, *compute_, fencer, options_, restarter_);
    engine_->Start();
    loop_.RunReady();
  }
  // The engine dies with whatever it had under way; callbacks still due are dropped.
  void CrashEngine() { engine_.reset(); }
  // A crash, then a restart with the compute driver's faults cleared.
  void CrashAndRestart() {
    CrashEngine();
    compute_->faults().Clear();
    StartEngine();
  }
  // Runs until the compute driver's `call` has been made once (or 600 s of simulated time).
  void RunUntilCalled(const std::string& call) {
    loop_.RunUntil([&] { return compute_->faults().calls(call) == 1; },
                   loop_.clock().Monotonic() + 600 * kSecond);
  }

  std::string Notify(const std::string& host, NotificationType type, const std::string& payload) {
    auto n = service_->CreateNotification(
        {.type = type, .hostname = host, .generated_time = loop_.clock().Now(), .payload_json = payload});
    EXPECT_TRUE(n.has_value()) << (n ? "" : n.error().ToString());
    if (!n) return "";
    if (engine_) engine_->NotificationCreated(n->uuid);
    return n->uuid;
  }
  std::string HostDown(const std::string& host,
                       const std::string& payload = R"({"event":"STOPPED","host_status":"NORMAL"})") {
    return Notify(host, NotificationType::kComputeHost, payload);
  }

  Notification Get(const std::string& uuid) {
    auto n = service_->GetNotification(uuid);
    EXPECT_TRUE(n.has_value());
    return n ? *n : Notification{};
  }
  static bool Final(NotificationStatus s) {
    return s == NotificationStatus::kFinished || s == NotificationStatus::kIgnored ||
           s == NotificationStatus::kError || s == NotificationStatus::kFailed;
  }
  // Runs the simulated world until the notification is final (or `limit` of simulated time).
  Notification RunToEnd(const std::string& uuid, int64_t limit = 3600 * kSecond) {
    loop_.RunUntil([&] { return Final(Get(uuid).status); }, loop_.clock().Monotonic() + limit);
    loop_.RunReady();
    return Get(uuid);
  }
  // compute1 of a 4-host cloud with one instance each is lost and the first evacuation of
  // its instance fails: the recovery has to end finished with that one move succeeded on
  // the second evacuation, which is returned.
  VMove RecoverWithTheFirstEvacuationFailing() {
    MakeCloud(4, 1);
    StartEngine();
    sim_->FailNextEvacuations(1);
    sim_->PowerLoss("compute1");
    const std::string id = HostDown("compute1");
    EXPECT_EQ(RunToEnd(id).status, NotificationStatus::kFinished);
    auto moves = Moves(id);
    EXPECT_EQ(moves.size(), 1u);
    if (moves.empty()) return {};
    EXPECT_EQ(moves[0].status, VMoveStatus::kSucceeded);
    EXPECT_EQ(sim_->evacuations(moves[0].instance_uuid), 2);
    return moves[0];
  }

  std::vector<VMove> Moves(const std::string& uuid) {
    store::Page page;
    page.limit = 100000;
    auto m = service_->ListVMoves(uuid, {}, page);
    EXPECT_TRUE(m.has_value());
    return m ? m->moves : std::vector<VMove>{};
  }
  Host HostNamed(const std::string& name) {
    Host out;
    EXPECT_TRUE(store_->Read([&](store::ReadTx& tx) -> Result<void> {
      auto h = tx.FindHostByName(name);
      if (!h || !*h) return NotFound(name);
      out = **h;
      return {};
    }));
    return out;
  }
  // Instances that are active (or stopped as they were) on a powered host.
  int64_t InstancesOn(const std::string& host) {
    int64_t n = 0;
    for (auto& [_, i] : sim_->instances()) n += i.info.host == host;
    return n;
  }
  bool LogHas(const std::string& needle) {
    for (auto& l : log_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  SimulatedEventLoop loop_;
  std::filesystem::path path_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ha::HaService> service_;
  sim::SimOptions sim_options_;
  std::unique_ptr<sim::SimCloud> sim_;
  std::unique_ptr<drivers::ComputeDriver> compute_inner_;
  std::unique_ptr<drivers::Fencer> fencer_inner_;
  std::unique_ptr<drivers::Faulty<drivers::ComputeDriver>> compute_;
  std::unique_ptr<drivers::Faulty<drivers::Fencer>> fencer_;
  std::unique_ptr<drivers::Fencer> engine_fencer_;  // if set, the engine's fencer instead of fencer_
  drivers::ProcessRestarter* restarter_ = nullptr;  // the engine's, if set before StartEngine
  EngineOptions options_;
  std::unique_ptr<RecoveryEngine> engine_;
  Segment segment_;
  std::vector<std::string> log_;
};

}  // namespace warden::engine
