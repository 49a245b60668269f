#include "store/store_conformance.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "core/uuid.h"

namespace warden::store {
namespace {

Segment MakeSegment(const std::string& name, WallMicros created_at = 1000) {
  Segment s;
  s.uuid = NewUuid();
  s.name = name;
  s.service_type = "COMPUTE";
  s.recovery_method = RecoveryMethod::kAuto;
  s.meta.created_at = created_at;
  return s;
}

Host MakeHost(const Segment& seg, const std::string& name) {
  Host h;
  h.uuid = NewUuid();
  h.name = name;
  h.segment_uuid = seg.uuid;
  h.type = "COMPUTE";
  h.control_attributes = "ssh";
  h.meta.created_at = 2000;
  return h;
}

Notification MakeNotification(const Host& h, WallMicros generated, NotificationStatus status) {
  Notification n;
  n.uuid = NewUuid();
  n.generated_time = generated;
  n.source_host_uuid = h.uuid;
  n.segment_uuid = h.segment_uuid;
  n.type = NotificationType::kComputeHost;
  n.payload_json = R"({"event":"STOPPED","host_status":"NORMAL"})";
  n.status = status;
  n.meta.created_at = generated;
  return n;
}

template <typename T>
T Must(Result<T> r) {
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return std::move(*r);
}

Result<Segment> AddSegment(Store& store, Segment s) {
  Result<Segment> out = Internal("unset");
  auto w = store.Write([&](WriteTx& tx) -> Result<void> {
    out = tx.InsertSegment(s);
    if (!out) return std::unexpected(out.error());
    return {};
  });
  if (!w) return std::unexpected(w.error());
  return out;
}

Result<Host> AddHost(Store& store, Host h) {
  Result<Host> out = Internal("unset");
  auto w = store.Write([&](WriteTx& tx) -> Result<void> {
    out = tx.InsertHost(h);
    if (!out) return std::unexpected(out.error());
    return {};
  });
  if (!w) return std::unexpected(w.error());
  return out;
}

Result<Notification> AddNotification(Store& store, Notification n) {
  Result<Notification> out = Internal("unset");
  auto w = store.Write([&](WriteTx& tx) -> Result<void> {
    out = tx.InsertNotification(n);
    if (!out) return std::unexpected(out.error());
    return {};
  });
  if (!w) return std::unexpected(w.error());
  return out;
}

VMove MakeVMove(const std::string& notification_uuid, const std::string& name,
                VMoveStatus status = VMoveStatus::kPending) {
  VMove v;
  v.uuid = NewUuid();
  v.notification_uuid = notification_uuid;
  v.instance_uuid = NewUuid();
  v.instance_name = name;
  v.source_host = "compute1";
  v.status = status;
  v.meta.created_at = 10;
  return v;
}

Result<VMove> AddVMove(Store& store, VMove v) {
  Result<VMove> out = Internal("unset");
  auto w = store.Write([&](WriteTx& tx) -> Result<void> {
    out = tx.InsertVMove(v);
    if (!out) return std::unexpected(out.error());
    return {};
  });
  if (!w) return std::unexpected(w.error());
  return out;
}

// The instance names of the listed moves, in order.
std::vector<std::string> VMoveNames(Store& store, const VMoveFilter& f, const Page& p) {
  std::vector<std::string> names;
  auto r = store.Read([&](ReadTx& tx) -> Result<void> {
    auto l = tx.ListVMoves(f, p);
    if (!l) return std::unexpected(l.error());
    for (const VMove& v : *l) names.push_back(v.instance_name);
    return {};
  });
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return names;
}

std::vector<Segment> Segments(Store& store, const SegmentFilter& f, const Page& p) {
  std::vector<Segment> out;
  auto r = store.Read([&](ReadTx& tx) -> Result<void> {
    auto l = tx.ListSegments(f, p);
    if (!l) return std::unexpected(l.error());
    out = std::move(*l);
    return {};
  });
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return out;
}

TEST_P(StoreConformance, SegmentRoundTripsAllFields) {
  Segment s = MakeSegment("seg1", 1234567);
  s.description = "multi\nline";
  s.enabled = false;
  s.recovery_method = RecoveryMethod::kRhPriority;
  Segment stored = Must(AddSegment(*store_, s));
  EXPECT_GT(stored.meta.id, 0);
  Segment got;
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    got = Must(tx.GetSegment(s.uuid));
    return {};
  }));
  EXPECT_EQ(got.meta.id, stored.meta.id);
  EXPECT_EQ(got.name, "seg1");
  EXPECT_EQ(got.description, "multi\nline");
  EXPECT_FALSE(got.enabled);
  EXPECT_EQ(got.recovery_method, RecoveryMethod::kRhPriority);
  EXPECT_EQ(got.meta.created_at, 1234567);
  EXPECT_FALSE(got.meta.updated_at.has_value());
  EXPECT_FALSE(got.meta.deleted);
}

TEST_P(StoreConformance, MissingRecordsAreNotFoundWithMasakarisMessage) {
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    auto s = tx.GetSegment("nope");
    EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(s.error().message(), "No failover segment with id nope.");
    EXPECT_EQ(tx.GetHost("x").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(tx.GetNotification("x").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(tx.GetVMove("x").error().code(), ErrorCode::kNotFound);
    EXPECT_FALSE(Must(tx.FindHostByName("ghost")).has_value());
    return {};
  }));
}

TEST_P(StoreConformance, SegmentNamesAreUniqueAmongLiveRecords) {
  Segment a = Must(AddSegment(*store_, MakeSegment("dup")));
  auto again = AddSegment(*store_, MakeSegment("dup"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.error().message(), "Failover segment with name dup already exists.");
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) { return tx.DeleteSegment(a.meta.id, 5000); }));
  EXPECT_TRUE(AddSegment(*store_, MakeSegment("dup")).has_value());
}

TEST_P(StoreConformance, FailedWriteTransactionChangesNothing) {
  Segment s = MakeSegment("atomic");
  auto r = store_->Write([&](WriteTx& tx) -> Result<void> {
    auto ins = tx.InsertSegment(s);
    if (!ins) return std::unexpected(ins.error());
    return FailedPrecondition("changed my mind");
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "changed my mind");
  EXPECT_TRUE(Segments(*store_, {}, {}).empty());
  // A later write is unaffected by the rolled-back one.
  EXPECT_TRUE(AddSegment(*store_, MakeSegment("atomic")).has_value());
}

TEST_P(StoreConformance, DeleteSegmentSoftDeletesItsHosts) {
  Segment s = Must(AddSegment(*store_, MakeSegment("seg")));
  Host h = Must(AddHost(*store_, MakeHost(s, "compute1")));
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) { return tx.DeleteSegment(s.meta.id, 9000); }));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    EXPECT_EQ(tx.GetSegment(s.uuid).error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(tx.GetHost(h.uuid).error().code(), ErrorCode::kNotFound);
    EXPECT_FALSE(Must(tx.FindHostByName("compute1")).has_value());
    return {};
  }));
  // The name is free again, across segments.
  Segment s2 = Must(AddSegment(*store_, MakeSegment("seg2")));
  EXPECT_TRUE(AddHost(*store_, MakeHost(s2, "compute1")).has_value());
}

TEST_P(StoreConformance, HostNamesAreGloballyUnique) {
  Segment s1 = Must(AddSegment(*store_, MakeSegment("s1")));
  Segment s2 = Must(AddSegment(*store_, MakeSegment("s2")));
  Must(AddHost(*store_, MakeHost(s1, "compute1")));
  auto dup = AddHost(*store_, MakeHost(s2, "compute1"));
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().message(), "Host with name compute1 already exists.");
}

TEST_P(StoreConformance, UpdatesPersistAndRenameCollisionsAreRejected) {
  Segment s = Must(AddSegment(*store_, MakeSegment("s")));
  Host h1 = Must(AddHost(*store_, MakeHost(s, "compute1")));
  Must(AddHost(*store_, MakeHost(s, "compute2")));
  h1.on_maintenance = true;
  h1.reserved = true;
  h1.meta.updated_at = 777;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) { return tx.UpdateHost(h1); }));
  Host renamed = h1;
  renamed.name = "compute2";
  auto clash = store_->Write([&](WriteTx& tx) { return tx.UpdateHost(renamed); });
  ASSERT_FALSE(clash.has_value());
  EXPECT_EQ(clash.error().code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    Host got = Must(tx.GetHost(h1.uuid));
    EXPECT_EQ(got.name, "compute1");
    EXPECT_TRUE(got.on_maintenance);
    EXPECT_TRUE(got.reserved);
    EXPECT_EQ(got.meta.updated_at, 777);
    return {};
  }));
}

TEST_P(StoreConformance, ListFiltersSegments) {
  Segment a = MakeSegment("a");
  a.enabled = false;
  Segment b = MakeSegment("b");
  b.recovery_method = RecoveryMethod::kReservedHost;
  b.service_type = "OTHER";
  Must(AddSegment(*store_, a));
  Must(AddSegment(*store_, b));
  EXPECT_EQ(Segments(*store_, {.enabled = false}, {}).size(), 1u);
  EXPECT_EQ(Segments(*store_, {.enabled = true}, {}).front().name, "b");
  EXPECT_EQ(Segments(*store_, {.recovery_method = RecoveryMethod::kReservedHost}, {}).size(), 1u);
  EXPECT_EQ(Segments(*store_, {.service_type = "COMPUTE"}, {}).front().name, "a");
  EXPECT_TRUE(Segments(*store_, {.service_type = "nothing"}, {}).empty());
}

TEST_P(StoreConformance, DefaultOrderIsNewestFirstAndLimitApplies) {
  for (int i = 0; i < 5; ++i) Must(AddSegment(*store_, MakeSegment("s" + std::to_string(i), i)));
  auto all = Segments(*store_, {}, {});
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().name, "s4");
  EXPECT_EQ(all.back().name, "s0");
  EXPECT_EQ(Segments(*store_, {}, {.limit = 2}).size(), 2u);
  EXPECT_TRUE(Segments(*store_, {}, {.limit = 0}).empty());
}

TEST_P(StoreConformance, MarkerPaginationVisitsEveryRecordOnceInAnyOrder) {
  // Equal created_at values and NULL descriptions make ties the tiebreaker must resolve.
  for (int i = 0; i < 23; ++i) {
    Segment s = MakeSegment("seg" + std::to_string(i), i % 4);
    if (i % 3 == 0) s.description = "d" + std::to_string(i % 5);
    Must(AddSegment(*store_, s));
  }
  for (auto sort : std::vector<std::vector<SortKey>>{{},
                                                     {{"name", true}},
                                                     {{"description", true}, {"name", false}},
                                                     {{"created_at", false}},
                                                     {{"updated_at", true}}}) {
    std::vector<std::string> seen;
    Page page{.sort = sort, .limit = 4};
    while (true) {
      auto got = Segments(*store_, {}, page);
      for (auto& s : got) seen.push_back(s.name);
      if (got.size() < 4) break;
      page.marker = got.back().meta.id;
    }
    std::set<std::string> unique(seen.begin(), seen.end());
    EXPECT_EQ(seen.size(), 23u);
    EXPECT_EQ(unique.size(), 23u);
  }
  auto by_name = Segments(*store_, {}, {.sort = {{"name", true}}});
  EXPECT_TRUE(std::is_sorted(by_name.begin(), by_name.end(),
                             [](auto& a, auto& b) { return a.name < b.name; }));
}

TEST_P(StoreConformance, BadSortKeyAndUnknownMarkerAreInvalidArguments) {
  Must(AddSegment(*store_, MakeSegment("only")));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    auto bad = tx.ListSegments({}, {.sort = {{"bogus", true}}});
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(bad.error().message(), "Sort key supplied is invalid: bogus");
    auto repeated =
        tx.ListSegments({}, {.sort = {{"name", true}, {"uuid", true}, {"name", false}}});
    EXPECT_EQ(repeated.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(repeated.error().message(), "Sort key supplied is invalid: name is repeated");
    auto marker = tx.ListSegments({}, {.marker = 424242});
    EXPECT_EQ(marker.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(marker.error().message(), "Marker 424242 could not be found.");
    return {};
  }));
}

// Regression: many distinct sort orders (each its own SQL text) must not grow a connection's
// memory without bound, and every one must still work.
TEST_P(StoreConformance, ManyDistinctQueriesKeepWorking) {
  Must(AddSegment(*store_, MakeSegment("a")));
  const std::vector<std::string> cols = {
      "name", "uuid", "description", "service_type", "recovery_method", "updated_at", "enabled"};
  int runs = 0;
  for (size_t i = 0; i < cols.size(); ++i) {
    for (size_t j = 0; j < cols.size(); ++j) {
      for (size_t k = 0; k < cols.size(); ++k) {
        if (i == j || j == k || i == k) continue;
        for (bool asc : {true, false}) {
          EXPECT_EQ(
              Segments(*store_, {}, {.sort = {{cols[i], asc}, {cols[j], false}, {cols[k], true}}})
                  .size(),
              1u);
          ++runs;
        }
      }
    }
  }
  EXPECT_GT(runs, 250);
}

TEST_P(StoreConformance, NotificationFiltersAndCounts) {
  Segment s = Must(AddSegment(*store_, MakeSegment("s")));
  Host h1 = Must(AddHost(*store_, MakeHost(s, "compute3")));
  Host h2 = Must(AddHost(*store_, MakeHost(s, "compute30")));
  Must(AddNotification(*store_, MakeNotification(h1, 100, NotificationStatus::kNew)));
  Must(AddNotification(*store_, MakeNotification(h1, 200, NotificationStatus::kRunning)));
  Notification vm = MakeNotification(h2, 300, NotificationStatus::kFinished);
  vm.type = NotificationType::kVm;
  Must(AddNotification(*store_, vm));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    EXPECT_EQ(Must(tx.CountNotifications({})), 3);
    EXPECT_EQ(Must(tx.CountNotifications({.source_host_uuid = h1.uuid})), 2);
    EXPECT_EQ(Must(tx.CountNotifications(
                  {.statuses = {NotificationStatus::kNew, NotificationStatus::kRunning}})),
              2);
    EXPECT_EQ(Must(tx.CountNotifications({.type = NotificationType::kVm})), 1);
    EXPECT_EQ(Must(tx.CountNotifications({.generated_since = 200})), 2);
    EXPECT_EQ(Must(tx.CountNotifications({.segment_uuid = s.uuid})), 3);
    auto listed = Must(tx.ListNotifications({.statuses = {NotificationStatus::kFinished}}, {}));
    EXPECT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed.front().payload_json, vm.payload_json);
    EXPECT_EQ(listed.front().type, NotificationType::kVm);
    return {};
  }));
}

// The duplicate check's question: same host, type and exact payload, generated at or after
// a time. Read and write transactions answer it alike, and a write transaction sees its own
// notification before it commits and not after it fails.
TEST_P(StoreConformance, PayloadFilterMatchesTheExactPayloadSinceATime) {
  constexpr int64_t kS = 1'000'000;
  const std::string p = R"({"event":"STOPPED","host_status":"NORMAL"})";
  const std::string q = R"({"event":"STARTED","host_status":"NORMAL"})";
  Segment s = Must(AddSegment(*store_, MakeSegment("s")));
  Host h1 = Must(AddHost(*store_, MakeHost(s, "compute1")));
  Host h2 = Must(AddHost(*store_, MakeHost(s, "compute2")));
  Notification a =
      Must(AddNotification(*store_, MakeNotification(h1, 100 * kS, NotificationStatus::kNew)));
  Notification b = MakeNotification(h1, 200 * kS, NotificationStatus::kFinished);
  b.payload_json = q;
  Must(AddNotification(*store_, b));
  Must(AddNotification(*store_, MakeNotification(h2, 300 * kS, NotificationStatus::kNew)));
  Notification vm = MakeNotification(h1, 300 * kS, NotificationStatus::kNew);
  vm.type = NotificationType::kVm;
  Must(AddNotification(*store_, vm));

  auto ask = [&](ReadTx& tx) {
    auto count = [&](NotificationFilter f) { return Must(tx.CountNotifications(f)); };
    const auto host = NotificationType::kComputeHost;
    EXPECT_EQ(
        count({.source_host_uuid = h1.uuid, .type = host, .generated_since = 0, .payload_json = p}),
        1);
    EXPECT_EQ(count({.source_host_uuid = h1.uuid,
                     .type = host,
                     .generated_since = 100 * kS,
                     .payload_json = p}),
              1);
    EXPECT_EQ(count({.source_host_uuid = h1.uuid,
                     .type = host,
                     .generated_since = 100 * kS + 1,
                     .payload_json = p}),
              0);
    EXPECT_EQ(
        count({.source_host_uuid = h1.uuid, .type = host, .generated_since = 0, .payload_json = q}),
        1);
    EXPECT_EQ(
        count({.source_host_uuid = h2.uuid, .type = host, .generated_since = 0, .payload_json = p}),
        1);
    EXPECT_EQ(count({.payload_json = p}), 3);
    EXPECT_EQ(count({.statuses = {NotificationStatus::kFinished},
                     .source_host_uuid = h1.uuid,
                     .generated_since = 0,
                     .payload_json = p}),
              0);
    EXPECT_EQ(count({.generated_since = 0, .payload_json = p + " "}), 0);
    auto listed = Must(tx.ListNotifications(
        {.source_host_uuid = h1.uuid, .type = host, .generated_since = 0, .payload_json = p}, {}));
    EXPECT_EQ(listed.size(), 1u);
    if (!listed.empty()) {
      EXPECT_EQ(listed.front().uuid, a.uuid);
    }
  };
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    ask(tx);
    return {};
  }));
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Result<void> {
    ask(tx);
    return {};
  }));

  const std::string r = R"({"event":"STOPPED","host_status":"UNKNOWN"})";
  const NotificationFilter asked_r = {.source_host_uuid = h1.uuid,
                                      .type = NotificationType::kComputeHost,
                                      .generated_since = 350 * kS,
                                      .payload_json = r};
  auto failed = store_->Write([&](WriteTx& tx) -> Result<void> {
    Notification n = MakeNotification(h1, 400 * kS, NotificationStatus::kNew);
    n.payload_json = r;
    Must(tx.InsertNotification(n));
    EXPECT_EQ(Must(tx.CountNotifications(asked_r)), 1);
    return FailedPrecondition("changed my mind");
  });
  ASSERT_FALSE(failed.has_value());
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Result<void> {
    EXPECT_EQ(Must(tx.CountNotifications(asked_r)), 0);
    return {};
  }));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    EXPECT_EQ(Must(tx.CountNotifications(asked_r)), 0);
    return {};
  }));
}

// Queued writes that each check for the same payload and insert it if absent, committed
// together (the writer is held while they queue): the first inserts and then fails (rolled
// back), the second stores it, and every later one sees it, before the commit, and refuses
// — also after the fifth, which inserts another payload and fails (its rollback takes only
// its own).
TEST_P(StoreConformance, WritesOfOneBatchSeeEachOthersPayloads) {
  constexpr int64_t kS = 1'000'000;
  Segment s = Must(AddSegment(*store_, MakeSegment("s")));
  Host h = Must(AddHost(*store_, MakeHost(s, "compute1")));
  for (int round = 0; round < 3; ++round) {
    const int64_t generated = (1000 + round) * kS;
    const std::string payload = R"({"round":)" + std::to_string(round) + "}";
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    store_->WriteAsync(
        [released](WriteTx&) -> Result<void> {
          released.wait();
          return {};
        },
        [](Result<void>) {});
    constexpr int kWrites = 8;
    std::mutex mu;
    std::vector<std::string> outcomes(kWrites);
    std::promise<void> all_done;
    std::future<void> all_done_future = all_done.get_future();  // before any write can finish
    int done = 0;
    for (int i = 0; i < kWrites; ++i) {
      store_->WriteAsync(
          [&, i](WriteTx& tx) -> Result<void> {
            auto dups = tx.CountNotifications({.source_host_uuid = h.uuid,
                                               .type = NotificationType::kComputeHost,
                                               .generated_since = generated - 180 * kS,
                                               .payload_json = payload});
            if (!dups) return std::unexpected(dups.error());
            if (*dups > 0 && i != 4) return AlreadyExists("duplicate");
            Notification n = MakeNotification(h, generated, NotificationStatus::kNew);
            n.payload_json = i == 4 ? payload + " " : payload;
            auto ins = tx.InsertNotification(n);
            if (!ins) return std::unexpected(ins.error());
            if (i == 0 || i == 4) return FailedPrecondition("inserted, then failed");
            return {};
          },
          [&, i](Result<void> r) {
            bool last;
            {
              std::lock_guard lock(mu);
              outcomes[i] = r ? "stored" : r.error().message();
              last = ++done == kWrites;
            }
            // After the unlock: the waiting test goes on to its next round, and mu with it.
            if (last) all_done.set_value();
          });
    }
    release.set_value();
    all_done_future.wait();
    EXPECT_EQ(outcomes[0], "inserted, then failed") << "round " << round;
    EXPECT_EQ(outcomes[1], "stored") << "round " << round;
    for (int i = 2; i < kWrites; ++i) {
      EXPECT_EQ(outcomes[i], i == 4 ? "inserted, then failed" : "duplicate")
          << "round " << round << " write " << i;
    }
    ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
      EXPECT_EQ(Must(tx.CountNotifications({.payload_json = payload})), 1);
      return {};
    }));
  }
}

TEST_P(StoreConformance, NotificationUpdateKeepsWorkflowDetailsAndMessage) {
  Segment s = Must(AddSegment(*store_, MakeSegment("s")));
  Host h = Must(AddHost(*store_, MakeHost(s, "c1")));
  Notification n = Must(AddNotification(*store_, MakeNotification(h, 1, NotificationStatus::kNew)));
  n.status = NotificationStatus::kError;
  n.message = "fencing not confirmed";
  n.workflow_details_json = R"([{"name":"FenceHostTask"}])";
  n.meta.updated_at = 99;
  EXPECT_EQ(n.error_retries, 0);
  n.error_retries = 2;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) { return tx.UpdateNotification(n); }));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    Notification got = Must(tx.GetNotification(n.uuid));
    EXPECT_EQ(got.status, NotificationStatus::kError);
    EXPECT_EQ(got.message, "fencing not confirmed");
    EXPECT_EQ(got.workflow_details_json, n.workflow_details_json);
    EXPECT_EQ(got.meta.updated_at, 99);
    EXPECT_EQ(got.error_retries, 2);
    return {};
  }));
}

TEST_P(StoreConformance, VMovesRoundTripAndFilter) {
  VMove v;
  v.uuid = NewUuid();
  v.notification_uuid = "n1";
  v.instance_uuid = NewUuid();
  v.instance_name = "vm-1";
  v.source_host = "compute1";
  v.meta.created_at = 10;
  v.restore_state = "stopped";
  v.warden_locked = true;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Result<void> {
    auto r = tx.InsertVMove(v);
    if (!r) return std::unexpected(r.error());
    v.meta.id = r->meta.id;
    return {};
  }));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    VMove got = Must(tx.GetVMove(v.uuid));
    EXPECT_EQ(got.restore_state, "stopped");
    EXPECT_TRUE(got.warden_locked);
    return {};
  }));
  v.restore_state = "error";
  v.warden_locked = false;
  v.status = VMoveStatus::kSucceeded;
  v.dest_host = "compute2";
  v.start_time = 11;
  v.end_time = 12;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) { return tx.UpdateVMove(v); }));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    VMove got = Must(tx.GetVMove(v.uuid));
    EXPECT_EQ(got.dest_host, "compute2");
    EXPECT_EQ(got.end_time, 12);
    EXPECT_EQ(got.status, VMoveStatus::kSucceeded);
    EXPECT_EQ(got.restore_state, "error");
    EXPECT_FALSE(got.warden_locked);
    EXPECT_EQ(Must(tx.ListVMoves({.notification_uuid = "n1"}, {})).size(), 1u);
    EXPECT_TRUE(Must(tx.ListVMoves({.status = VMoveStatus::kFailed}, {})).empty());
    return {};
  }));
}

TEST_P(StoreConformance, VMovesFilterByNotificationsAndHosts) {
  // Ids that need escaping must match themselves only, whatever the backend does with a list.
  const std::vector<std::string> ids = {"n1", "n2", "n3", R"(n"4\)", "n\u00e9"};
  for (size_t i = 0; i < ids.size(); ++i) {
    VMove to_c2 = MakeVMove(ids[i], "vm" + std::to_string(i) + "a");
    to_c2.dest_host = "compute2";
    Must(AddVMove(*store_, to_c2));
    VMove unplaced = MakeVMove(ids[i], "vm" + std::to_string(i) + "b");
    unplaced.source_host = "compute9";
    Must(AddVMove(*store_, unplaced));
  }
  auto sorted = [&](const VMoveFilter& f) {
    auto names = VMoveNames(*store_, f, {.sort = {{"instance_name", true}}});
    return names;
  };
  using Names = std::vector<std::string>;
  EXPECT_EQ(sorted({.notification_uuids = {"n1", "n3"}}), (Names{"vm0a", "vm0b", "vm2a", "vm2b"}));
  EXPECT_EQ(sorted({.notification_uuids = {ids[3]}}), (Names{"vm3a", "vm3b"}));
  EXPECT_EQ(sorted({.notification_uuids = {ids[4], "nobody"}}), (Names{"vm4a", "vm4b"}));
  EXPECT_EQ(sorted({.notification_uuids = {"nobody"}}), Names{});
  EXPECT_EQ(sorted({}).size(), 2 * ids.size());  // no ids: no constraint
  // Constraints combine.
  EXPECT_EQ(sorted({.notification_uuid = "n1", .notification_uuids = {"n1", "n2"}}),
            (Names{"vm0a", "vm0b"}));
  EXPECT_EQ(sorted({.notification_uuid = "n3", .notification_uuids = {"n1", "n2"}}), Names{});
  EXPECT_EQ(sorted({.notification_uuids = {"n1", "n2"}, .source_host = "compute9"}),
            (Names{"vm0b", "vm1b"}));
  EXPECT_EQ(sorted({.notification_uuids = {"n2"}, .dest_host = "compute2"}), Names{"vm1a"});
  EXPECT_EQ(sorted({.dest_host = "compute9"}), Names{});  // a NULL dest_host matches no host
  EXPECT_EQ(sorted({.status = VMoveStatus::kPending, .source_host = "compute1"}).size(),
            ids.size());
  EXPECT_EQ(sorted({.status = VMoveStatus::kFailed, .source_host = "compute1"}), Names{});
}

TEST_P(StoreConformance, VMovesAreCountedByStatus) {
  int i = 0;
  for (auto [status, n] : std::vector<std::pair<VMoveStatus, int>>{{VMoveStatus::kPending, 3},
                                                                   {VMoveStatus::kOngoing, 2},
                                                                   {VMoveStatus::kSucceeded, 5},
                                                                   {VMoveStatus::kFailed, 1},
                                                                   {VMoveStatus::kIgnored, 4}}) {
    for (int k = 0; k < n; ++k) {
      VMove v = MakeVMove(k % 2 == 0 ? "even" : "odd", "vm" + std::to_string(i++), status);
      // Moves that started did so at 1000 + i s; those that ended, 100 s later.
      if (status != VMoveStatus::kPending) v.start_time = (1000 + i) * 1'000'000LL;
      if (status != VMoveStatus::kPending && status != VMoveStatus::kOngoing) {
        v.end_time = (1100 + i) * 1'000'000LL;
      }
      Must(AddVMove(*store_, v));
    }
  }
  VMove early = MakeVMove("other", "elsewhere", VMoveStatus::kFailed);
  early.start_time = 5 * 1'000'000LL;
  Must(AddVMove(*store_, early));
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    VMoveCounts all = Must(tx.CountVMoves({.notification_uuids = {"even", "odd"}}));
    EXPECT_EQ(all.pending, 3);
    EXPECT_EQ(all.ongoing, 2);
    EXPECT_EQ(all.succeeded, 5);
    EXPECT_EQ(all.failed, 1);
    EXPECT_EQ(all.ignored, 4);
    EXPECT_EQ(all.Total(), 15);
    // The first start of any move (a pending one has none); the last end of a succeeded one
    // (succeeded are i = 6..10; failed and ignored ones ended later but recovered nothing).
    EXPECT_EQ(all.first_start, 1004 * 1'000'000LL);
    EXPECT_EQ(all.last_recovered, 1110 * 1'000'000LL);
    EXPECT_EQ(Must(tx.CountVMoves({})).first_start, 5 * 1'000'000LL);
    VMoveCounts none = Must(tx.CountVMoves({.notification_uuid = "none"}));
    EXPECT_FALSE(none.first_start.has_value());
    EXPECT_FALSE(none.last_recovered.has_value());
    VMoveCounts even = Must(tx.CountVMoves({.notification_uuid = "even"}));
    EXPECT_EQ(even.Total(), 2 + 1 + 3 + 1 + 2);
    EXPECT_EQ(even.ongoing, 1);
    EXPECT_EQ(Must(tx.CountVMoves({})).Total(), 16);
    EXPECT_EQ(Must(tx.CountVMoves({.status = VMoveStatus::kFailed})).failed, 2);
    EXPECT_EQ(Must(tx.CountVMoves({.notification_uuid = "none"})).Total(), 0);
    return {};
  }));
}

TEST_P(StoreConformance, VMovesSortByStartTimeWithUnstartedOnesEarliest) {
  // Equal start times and several unstarted moves: ties the created_at/id keys resolve.
  const std::vector<std::optional<WallMicros>> starts = {50,           std::nullopt, 10, 50,
                                                         std::nullopt, 30,           10};
  for (size_t i = 0; i < starts.size(); ++i) {
    VMove v = MakeVMove("n", "vm" + std::to_string(i));
    v.start_time = starts[i];
    v.meta.created_at = 100 + int64_t(i % 3);
    Must(AddVMove(*store_, v));
  }
  for (bool ascending : {false, true}) {
    const Page page{.sort = {{"start_time", ascending}}};
    auto all = VMoveNames(*store_, {}, page);
    ASSERT_EQ(all.size(), starts.size());
    std::vector<WallMicros> seen;
    for (const std::string& name : all) {
      seen.push_back(starts[std::stoul(name.substr(2))].value_or(-1));
    }
    if (ascending) {
      EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
      EXPECT_EQ(seen.front(), -1);
    } else {
      EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
      EXPECT_EQ(seen.back(), -1);  // newest first, unstarted last
    }
    // Page by page, with the marker, the same order.
    std::vector<std::string> paged;
    Page p = page;
    p.limit = 2;
    while (true) {
      std::vector<VMove> got;
      ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
        got = Must(tx.ListVMoves({}, p));
        return {};
      }));
      for (const VMove& v : got) paged.push_back(v.instance_name);
      if (got.size() < 2) break;
      p.marker = got.back().meta.id;
    }
    EXPECT_EQ(paged, all);
  }
}

TEST_P(StoreConformance, CommittedWritesSurviveReopen) {
  Segment s = Must(AddSegment(*store_, MakeSegment("durable")));
  Reopen();
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    EXPECT_EQ(Must(tx.GetSegment(s.uuid)).name, "durable");
    return {};
  }));
}

TEST_P(StoreConformance, ConcurrentWritersAllCommitAndShareCommits) {
  Segment s = Must(AddSegment(*store_, MakeSegment("s")));
  Host h = Must(AddHost(*store_, MakeHost(s, "c1")));
  const int kThreads = 8, kEach = 50;
  std::atomic<int> failures{0};
  auto before = store_->GetStats();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!AddNotification(*store_,
                             MakeNotification(h, t * 1000 + i, NotificationStatus::kNew))) {
          failures++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto after = store_->GetStats();
  EXPECT_EQ(after.transactions - before.transactions, kThreads * kEach);
  EXPECT_LE(after.commits - before.commits, kThreads * kEach);
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Result<void> {
    EXPECT_EQ(Must(tx.CountNotifications({})), kThreads * kEach);
    return {};
  }));
}

TEST_P(StoreConformance, ReadersSeeCommittedWritesFromOtherThreads) {
  std::atomic<bool> stop{false};
  std::atomic<int> max_seen{0};
  std::thread reader([&] {
    while (!stop) {
      int n = int(Segments(*store_, {}, {}).size());
      EXPECT_GE(n, max_seen.load());  // never goes backwards
      max_seen = std::max(max_seen.load(), n);
    }
  });
  for (int i = 0; i < 20; ++i) Must(AddSegment(*store_, MakeSegment("r" + std::to_string(i))));
  stop = true;
  reader.join();
  EXPECT_EQ(Segments(*store_, {}, {}).size(), 20u);
}

}  // namespace
}  // namespace warden::store
