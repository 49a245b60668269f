#include "ha/ha_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/test_temp_dir.h"
#include "core/uuid.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::ha {
namespace {

class HaServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    const auto dir = ProcessTempDir("warden-ha");
    auto path = dir / ("t" + std::to_string(n++) + ".db");
    auto s = store::OpenSqliteStore({.path = path.string()});
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    service_ = std::make_unique<HaService>(*store_, clock_, HaOptions{});
    segment_ = *service_->CreateSegment(
        {.name = "seg", .recovery_method = RecoveryMethod::kAuto, .service_type = "COMPUTE"});
    host_ = service_
                ->CreateHost(segment_.uuid,
                             {.name = "compute3", .type = "COMPUTE", .control_attributes = "ssh"})
                ->host;
  }

  NotificationCreate HostDown(const std::string& host = "compute3") {
    return {.type = NotificationType::kComputeHost,
            .hostname = host,
            .generated_time = clock_.Now(),
            .payload_json = R"({"event":"STOPPED","host_status":"NORMAL"})"};
  }

  void SetStatus(const Notification& n, NotificationStatus status) {
    Notification copy = n;
    copy.status = status;
    ASSERT_TRUE(store_->Write([&](store::WriteTx& tx) { return tx.UpdateNotification(copy); }));
  }

  void AddMove(const std::string& notification_uuid, const std::string& name,
               VMoveStatus status = VMoveStatus::kPending,
               std::optional<WallMicros> start = std::nullopt,
               std::optional<WallMicros> end = std::nullopt) {
    VMove v;
    v.uuid = NewUuid();
    v.notification_uuid = notification_uuid;
    v.instance_uuid = NewUuid();
    v.instance_name = name;
    v.source_host = "compute3";
    v.status = status;
    v.start_time = start;
    v.end_time = end;
    v.meta.created_at = clock_.Now();
    ASSERT_TRUE(store_->Write([&](store::WriteTx& tx) -> Result<void> {
      auto r = tx.InsertVMove(v);
      if (!r) return std::unexpected(r.error());
      return {};
    }));
  }

  static std::set<std::string> Names(const std::vector<VMove>& moves) {
    std::set<std::string> names;
    for (const VMove& v : moves) names.insert(v.instance_name);
    return names;
  }

  SimulatedClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<HaService> service_;
  Segment segment_;
  Host host_;
};

TEST_F(HaServiceTest, NotificationIsStoredNewWithItsHostAndSegment) {
  auto n = service_->CreateNotification(HostDown());
  ASSERT_TRUE(n.has_value()) << n.error().ToString();
  EXPECT_EQ(n->status, NotificationStatus::kNew);
  EXPECT_EQ(n->source_host_uuid, host_.uuid);
  EXPECT_EQ(n->segment_uuid, segment_.uuid);
  EXPECT_EQ(service_->GetNotification(n->uuid)->uuid, n->uuid);
}

TEST_F(HaServiceTest, UnknownHostIsInvalidArgument) {
  auto n = service_->CreateNotification(HostDown("compute30"));
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(n.error().message(), "Host with name compute30 could not be found.");
}

TEST_F(HaServiceTest, HostOnMaintenanceRefusesNotifications) {
  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, host_.uuid, {.on_maintenance = true}));
  auto n = service_->CreateNotification(HostDown());
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(n.error().message(),
            "Notification received from host compute3 of type 'COMPUTE_HOST' is ignored as the "
            "host is already under maintenance.");
}

TEST_F(HaServiceTest, DuplicateRuleIsTypeHostPayloadWithinTheWindowRegardlessOfStatus) {
  auto first = service_->CreateNotification(HostDown());
  ASSERT_TRUE(first.has_value());
  // Masakari ignores status: even an ignored notification blocks a resend.
  SetStatus(*first, NotificationStatus::kIgnored);
  clock_.Advance(60'000'000);
  auto dup = service_->CreateNotification(HostDown());
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup.error().message(),
            "Notification received from host compute3 of type COMPUTE_HOST is duplicate.");

  // A different payload is not a duplicate.
  auto other = HostDown();
  other.payload_json = R"({"event":"STARTED","host_status":"NORMAL"})";
  EXPECT_TRUE(service_->CreateNotification(other).has_value());

  // Nor is the same payload generated more than the window after the first.
  clock_.Advance(121'000'000);
  EXPECT_TRUE(service_->CreateNotification(HostDown()).has_value());
}

TEST_F(HaServiceTest, ChosenUuidIsStoredOnceEvenOutsideTheDuplicateWindow) {
  auto in = HostDown();
  in.uuid = "5b1e3f4e-2a9c-5d1e-8f00-0123456789ab";
  auto first = service_->CreateNotification(in);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->uuid, in.uuid);
  // Long after the duplicate window, and with another payload: the uuid alone refuses it.
  clock_.Advance(3600'000'000);
  in.generated_time = clock_.Now();
  in.payload_json = R"({"event":"STOPPED","host_status":"UNKNOWN"})";
  auto again = service_->CreateNotification(in);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.error().message(), "Notification " + in.uuid + " already exists.");
  // Checked before the host's maintenance, which the first notification may have caused.
  SetStatus(*first, NotificationStatus::kFinished);
  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, host_.uuid, {.on_maintenance = true}));
  EXPECT_EQ(service_->CreateNotification(in).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(service_->ListNotifications({}, {})->size(), 1u);
}

TEST_F(HaServiceTest, SegmentInUseBlocksSegmentAndHostChanges) {
  auto n = service_->CreateNotification(HostDown());
  ASSERT_TRUE(n.has_value());
  for (auto status :
       {NotificationStatus::kNew, NotificationStatus::kRunning, NotificationStatus::kError}) {
    SetStatus(*n, status);
    auto upd = service_->UpdateSegment(segment_.uuid, {.name = "x"});
    ASSERT_FALSE(upd.has_value());
    EXPECT_EQ(upd.error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(service_->DeleteSegment(segment_.uuid).error().code(),
              ErrorCode::kFailedPrecondition);
    EXPECT_EQ(service_->UpdateHost(segment_.uuid, host_.uuid, {.reserved = true}).error().code(),
              ErrorCode::kFailedPrecondition);
    EXPECT_EQ(service_->DeleteHost(segment_.uuid, host_.uuid).error().code(),
              ErrorCode::kFailedPrecondition);
  }
  SetStatus(*n, NotificationStatus::kFinished);
  EXPECT_TRUE(service_->UpdateSegment(segment_.uuid, {.name = "renamed"}).has_value());
  EXPECT_EQ(service_->GetSegment(segment_.uuid)->name, "renamed");
}

TEST_F(HaServiceTest, HostOfAnotherSegmentIsNotFound) {
  auto other = *service_->CreateSegment(
      {.name = "other", .recovery_method = RecoveryMethod::kAuto, .service_type = "COMPUTE"});
  auto h = service_->GetHost(other.uuid, host_.uuid);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(h.error().message(), "Host '" + host_.uuid + "' under failover_segment '" + other.uuid +
                                     "' could not be found.");
  EXPECT_TRUE(service_->GetHost(segment_.uuid, host_.uuid).has_value());
}

TEST_F(HaServiceTest, DeletingASegmentDeletesItsHosts) {
  ASSERT_TRUE(service_->DeleteSegment(segment_.uuid));
  EXPECT_EQ(service_->CreateNotification(HostDown()).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(service_->ListHosts(segment_.uuid, {}, {}).error().code(), ErrorCode::kNotFound);
}

TEST_F(HaServiceTest, UpdateSetsUpdatedAtAndKeepsOtherFields) {
  clock_.Advance(5'000'000);
  auto s = service_->UpdateSegment(segment_.uuid, {.description = std::optional<std::string>("d")});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->description, "d");
  EXPECT_EQ(s->name, "seg");
  EXPECT_EQ(s->meta.updated_at, clock_.Now());
  s = service_->UpdateSegment(segment_.uuid, {.description = std::optional<std::string>()});
  EXPECT_FALSE(s->description.has_value());
}

TEST_F(HaServiceTest, VMovesExistOnlyForHostNotifications) {
  auto vm = service_->CreateNotification(
      {.type = NotificationType::kVm,
       .hostname = "compute3",
       .generated_time = clock_.Now(),
       .payload_json =
           R"({"event":"LIFECYCLE","instance_uuid":"x","vir_domain_event":"STOPPED_FAILED"})"});
  ASSERT_TRUE(vm.has_value());
  auto moves = service_->ListVMoves(vm->uuid, {}, {});
  ASSERT_FALSE(moves.has_value());
  EXPECT_EQ(moves.error().code(), ErrorCode::kInvalidArgument);
  auto host = service_->CreateNotification(HostDown());
  auto none = service_->ListVMoves(host->uuid, {}, {});
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->moves.empty());
  EXPECT_EQ(none->counts.Total(), 0);
  EXPECT_EQ(none->notification.uuid, host->uuid);
}

TEST_F(HaServiceTest, VMoveCountsCoverEveryMoveWhateverThePage) {
  auto n = service_->CreateNotification(HostDown());
  ASSERT_TRUE(n.has_value());
  for (int i = 0; i < 5; ++i) AddMove(n->uuid, "ok" + std::to_string(i), VMoveStatus::kSucceeded);
  AddMove(n->uuid, "bad", VMoveStatus::kFailed);
  AddMove(n->uuid, "busy", VMoveStatus::kOngoing);
  AddMove("another-notification", "stray", VMoveStatus::kFailed);
  auto page = service_->ListVMoves(n->uuid, {.status = VMoveStatus::kSucceeded}, {.limit = 2});
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->moves.size(), 2u);
  EXPECT_EQ(page->notification.status, NotificationStatus::kNew);
  EXPECT_EQ(page->counts.Total(), 7);
  EXPECT_EQ(page->counts.succeeded, 5);
  EXPECT_EQ(page->counts.failed, 1);
  EXPECT_EQ(page->counts.ongoing, 1);
}

TEST_F(HaServiceTest, RecentVMovesComeFromTheNewestHostNotifications) {
  AddMove("no-such-notification", "stray");
  // No notification at all: no moves (not every move).
  ASSERT_TRUE(service_->ListRecentVMoves(5, {}, {}).has_value());
  EXPECT_TRUE(service_->ListRecentVMoves(5, {}, {})->empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto n = service_->CreateNotification(HostDown());
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    ids.push_back(n->uuid);
    AddMove(n->uuid, "vm" + std::to_string(i));
    clock_.Advance(600'000'000);  // past the duplicate window
  }
  // A newer notification of another type moves nothing and takes no place in the window.
  ASSERT_TRUE(
      service_
          ->CreateNotification({.type = NotificationType::kProcess,
                                .hostname = "compute3",
                                .generated_time = clock_.Now(),
                                .payload_json = R"({"event":"STOPPED","process_name":"x"})"})
          .has_value());
  EXPECT_EQ(Names(*service_->ListRecentVMoves(2, {}, {})), (std::set<std::string>{"vm1", "vm2"}));
  EXPECT_EQ(Names(*service_->ListRecentVMoves(1, {}, {})), (std::set<std::string>{"vm2"}));
  EXPECT_EQ(Names(*service_->ListRecentVMoves(50, {}, {})),
            (std::set<std::string>{"vm0", "vm1", "vm2"}));
  EXPECT_TRUE(service_->ListRecentVMoves(50, {.status = VMoveStatus::kFailed}, {})->empty());
}

TEST_F(HaServiceTest, OverviewShowsHostStatesRecoveriesCountsAndTimings) {
  constexpr int64_t kS = 1'000'000;
  clock_.Advance(100 * 24 * 3600 * kS);
  const auto host = [&](const std::string& seg, const std::string& name, HostCreate in = {}) {
    in.name = name;
    in.type = "COMPUTE";
    return service_->CreateHost(seg, in)->host;
  };
  const Host fenced = host(segment_.uuid, "compute1");
  const Host spare = host(segment_.uuid, "compute2", {.reserved = true});
  const Host vm_host = host(segment_.uuid, "compute4");
  const Host proc = host(segment_.uuid, "compute5");
  const Host idle = host(segment_.uuid, "compute6");
  const Host later = host(segment_.uuid, "compute7");
  const Segment other = *service_->CreateSegment(
      {.name = "another", .recovery_method = RecoveryMethod::kReservedHost, .service_type = "COMPUTE"});
  host(other.uuid, "x1");

  const auto move = [&](const Notification& n, VMoveStatus status, std::optional<int64_t> start,
                        std::optional<int64_t> end) { AddMove(n.uuid, "vm", status, start, end); };

  // compute1 failed two days ago and was recovered; it stays on maintenance: fenced.
  const int64_t t0 = clock_.Now() - 48 * 3600 * kS;
  NotificationCreate old = HostDown("compute1");
  old.generated_time = t0;
  const Notification done = *service_->CreateNotification(old);
  SetStatus(done, NotificationStatus::kFinished);
  move(done, VMoveStatus::kSucceeded, t0 + 20 * kS, t0 + 80 * kS);
  move(done, VMoveStatus::kSucceeded, t0 + 25 * kS, t0 + 95 * kS);
  move(done, VMoveStatus::kFailed, t0 + 22 * kS, t0 + 300 * kS);
  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, fenced.uuid, {.on_maintenance = true}));
  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, idle.uuid, {.on_maintenance = true}));
  // compute7 was recovered too, then put on maintenance by hand later: not fenced.
  NotificationCreate seven = HostDown("compute7");
  seven.generated_time = t0;
  SetStatus(*service_->CreateNotification(seven), NotificationStatus::kFinished);
  clock_.Advance(kS);
  ASSERT_TRUE(service_->UpdateHost(segment_.uuid, later.uuid, {.on_maintenance = true}));

  // compute3 is being recovered now; compute5's process is; an instance of compute4 is.
  clock_.Advance(10 * kS);
  const Notification running = *service_->CreateNotification(HostDown("compute3"));
  SetStatus(running, NotificationStatus::kRunning);
  move(running, VMoveStatus::kSucceeded, clock_.Now() + 5 * kS, clock_.Now() + 50 * kS);
  move(running, VMoveStatus::kOngoing, clock_.Now() + 6 * kS, std::nullopt);
  move(running, VMoveStatus::kPending, std::nullopt, std::nullopt);
  clock_.Advance(kS);
  const Notification process = *service_->CreateNotification(
      {.type = NotificationType::kProcess, .hostname = "compute5", .generated_time = clock_.Now(),
       .payload_json = R"({"process_name":"nova-compute","event":"STOPPED"})"});
  clock_.Advance(kS);
  const Notification vm = *service_->CreateNotification(
      {.type = NotificationType::kVm, .hostname = "compute4", .generated_time = clock_.Now(),
       .payload_json = R"({"instance_uuid":"i1","vir_domain_event":"STOPPED_FAILED","event":"LIFECYCLE"})"});
  SetStatus(vm, NotificationStatus::kError);

  auto o = service_->GetOverview(/*active_limit=*/2, /*recent=*/5);
  ASSERT_TRUE(o) << o.error().ToString();
  EXPECT_EQ(o->now - o->since, 24 * 3600 * kS);
  ASSERT_EQ(o->segments.size(), 2u);
  EXPECT_EQ(o->segments[0].segment.name, "another");  // by name
  const auto& hosts = o->segments[1].hosts;
  std::map<std::string, std::string> state, why;
  for (const auto& h : hosts) {
    state[h.host.name] = std::string(h.state);
    why[h.host.name] = h.notification_uuid;
  }
  EXPECT_EQ(state, (std::map<std::string, std::string>{{"compute1", "fenced"},
                                                       {"compute2", "reserved"},
                                                       {"compute3", "in_recovery"},
                                                       {"compute4", "up"},
                                                       {"compute5", "in_recovery"},
                                                       {"compute6", "maintenance"},
                                                       {"compute7", "maintenance"}}));
  EXPECT_EQ(why["compute1"], done.uuid);
  EXPECT_EQ(why["compute3"], running.uuid);
  // compute5's notification is beyond the listed two, and still counts.
  EXPECT_EQ(why["compute5"], process.uuid);
  EXPECT_EQ(why["compute4"], "");

  EXPECT_EQ(o->active_total, 3);
  ASSERT_EQ(o->active.size(), 2u);  // oldest first
  EXPECT_EQ(o->active[0].notification.uuid, running.uuid);
  EXPECT_EQ(o->active[0].host_name, "compute3");
  EXPECT_EQ(o->active[0].moves.Total(), 3);
  EXPECT_EQ(o->active[0].moves.succeeded, 1);
  EXPECT_EQ(o->active[0].moves.ongoing, 1);
  EXPECT_EQ(o->active[1].notification.uuid, process.uuid);
  EXPECT_EQ(o->active[1].moves.Total(), 0);

  std::map<NotificationStatus, int64_t> day(o->last_day.begin(), o->last_day.end());
  EXPECT_EQ(day.size(), 6u);
  EXPECT_EQ(day[NotificationStatus::kRunning], 1);
  EXPECT_EQ(day[NotificationStatus::kNew], 1);
  EXPECT_EQ(day[NotificationStatus::kError], 1);
  EXPECT_EQ(day[NotificationStatus::kFinished], 0);  // two days old: outside the window

  ASSERT_EQ(o->recent.size(), 2u);  // compute1's and compute7's
  const auto it = std::find_if(o->recent.begin(), o->recent.end(),
                               [&](const auto& x) { return x.notification.uuid == done.uuid; });
  ASSERT_NE(it, o->recent.end());
  const auto& r = *it;
  EXPECT_EQ(r.notification.uuid, done.uuid);
  EXPECT_EQ(r.host_name, "compute1");
  EXPECT_EQ(r.notification.generated_time, t0);
  EXPECT_EQ(r.moves.first_start, t0 + 20 * kS);
  EXPECT_EQ(r.moves.last_recovered, t0 + 95 * kS);  // the failed move's end is no recovery
  (void)spare;
  (void)vm_host;
  (void)proc;
}

}  // namespace
}  // namespace warden::ha
