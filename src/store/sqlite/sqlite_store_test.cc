#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>

#include "core/test_temp_dir.h"
#include "core/uuid.h"
#include "store/store_conformance.h"

namespace warden::store {
namespace {

std::string NewSqlitePath() {
  static std::atomic<int> n{0};
  const auto dir = ProcessTempDir("warden-store-test");
  std::string path = (dir / ("db" + std::to_string(n++) + ".sqlite")).string();
  // Pids are reused and earlier runs leave their files: never start from another run's data.
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return path;
}

std::unique_ptr<Store> OpenSqlite(const std::string& path) {
  auto s = OpenSqliteStore({.path = path});
  EXPECT_TRUE(s.has_value()) << s.error().ToString();
  return s ? std::move(*s) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         testing::Values(StoreBackend{"Sqlite", NewSqlitePath, OpenSqlite}),
                         [](const auto& info) { return info.param.name; });

TEST(SqliteStore, RefusesMemoryAndEmptyPaths) {
  EXPECT_EQ(OpenSqliteStore({.path = ""}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(OpenSqliteStore({.path = ":memory:"}).error().code(), ErrorCode::kInvalidArgument);
}

TEST(SqliteStore, RefusesADuplicateHorizonOutOfRange) {
  for (int64_t seconds : {int64_t{0}, int64_t{-5}, int64_t{1} << 50}) {
    auto s = OpenSqliteStore({.path = NewSqlitePath(), .duplicate_horizon_seconds = seconds});
    ASSERT_FALSE(s.has_value()) << seconds;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message().find("duplicate_horizon_seconds"), std::string::npos);
  }
}

TEST(SqliteStore, UnwritableLocationIsUnavailable) {
  auto s = OpenSqliteStore({.path = "/nonexistent-dir/warden.db"});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message().find("/nonexistent-dir/warden.db"), std::string::npos);
}

TEST(SqliteStore, RefusesADatabaseFromANewerWarden) {
  std::string path = NewSqlitePath();
  { ASSERT_TRUE(OpenSqliteStore({.path = path}).has_value()); }
  {
    auto s = OpenSqlite(path);
    // Pretend a future version migrated this file.
    ASSERT_TRUE(s->Write([](WriteTx&) -> Result<void> { return {}; }));
  }
  std::string cmd = "sqlite3 " + path + " \"INSERT INTO schema_migrations VALUES (999, 0)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto s = OpenSqliteStore({.path = path});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
}

// A database of an old schema (version 2) gets the vmoves index of migration 3 and the move
// bookkeeping columns of migration 4 on open, and its moves are still found by notification.
TEST(SqliteStore, MigratesAVersion2DatabaseToTheStatusIndex) {
  std::string path = NewSqlitePath();
  {
    auto s = OpenSqlite(path);
    ASSERT_TRUE(s->Write([](WriteTx& tx) -> Result<void> {
      VMove v;
      v.uuid = NewUuid();
      v.notification_uuid = "n1";
      v.instance_uuid = NewUuid();
      v.instance_name = "vm";
      v.source_host = "c1";
      v.status = VMoveStatus::kOngoing;
      auto r = tx.InsertVMove(v);
      if (!r) return std::unexpected(r.error());
      return {};
    }));
  }
  std::string back_to_2 = "sqlite3 " + path +
                          " \"DROP INDEX vmoves_notification_status; "
                          "CREATE INDEX vmoves_notification ON vmoves(notification_uuid); "
                          "ALTER TABLE vmoves DROP COLUMN restore_state; "
                          "ALTER TABLE vmoves DROP COLUMN warden_locked; "
                          "ALTER TABLE notifications DROP COLUMN error_retries; "
                          "DELETE FROM schema_migrations WHERE version >= 3\"";
  ASSERT_EQ(std::system(back_to_2.c_str()), 0);
  {
    auto s = OpenSqlite(path);
    ASSERT_TRUE(s->Read([](ReadTx& tx) -> Result<void> {
      auto counts = tx.CountVMoves({.notification_uuids = {"n1"}});
      EXPECT_TRUE(counts.has_value());
      if (counts) {
        EXPECT_EQ(counts->ongoing, 1);
      }
      auto moves = tx.ListVMoves({.notification_uuid = "n1"}, {});
      EXPECT_TRUE(moves.has_value());
      if (moves && moves->size() == 1) {
        EXPECT_FALSE(moves->front().restore_state.has_value());
        EXPECT_FALSE(moves->front().warden_locked);
      }
      return {};
    }));
  }
  std::string indexes = path + ".indexes";
  std::string list = "sqlite3 " + path +
                     " \"SELECT name FROM sqlite_master WHERE type = 'index' AND "
                     "tbl_name = 'vmoves' ORDER BY name\" > " +
                     indexes;
  ASSERT_EQ(std::system(list.c_str()), 0);
  std::ifstream in(indexes);
  std::string names((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(names, "vmoves_notification_status\nvmoves_uuid\n");
}

// Stores a COMPUTE_HOST notification of `host` with this payload and times, in a write
// transaction of its own.
void AddHostNotification(Store& store, const std::string& host, const std::string& payload,
                         int64_t generated, int64_t created) {
  ASSERT_TRUE(store.Write([&](WriteTx& tx) -> Result<void> {
    Notification n;
    n.uuid = NewUuid();
    n.generated_time = generated;
    n.source_host_uuid = host;
    n.segment_uuid = "seg";
    n.type = NotificationType::kComputeHost;
    n.payload_json = payload;
    n.meta.created_at = created;
    auto r = tx.InsertNotification(n);
    if (!r) return std::unexpected(r.error());
    return {};
  }));
}

// The duplicate check's question, asked in a write transaction (where the writer's payload
// index answers it) and in a read transaction (plain SQL).
struct PayloadCounts {
  int64_t written = -1, read = -1;
};
PayloadCounts CountPayload(Store& store, const std::string& host, const std::string& payload,
                           int64_t since) {
  const NotificationFilter f = {.source_host_uuid = host,
                                .type = NotificationType::kComputeHost,
                                .generated_since = since,
                                .payload_json = payload};
  PayloadCounts c;
  EXPECT_TRUE(store.Write([&](WriteTx& tx) -> Result<void> {
    auto n = tx.CountNotifications(f);
    if (!n) return std::unexpected(n.error());
    c.written = *n;
    return {};
  }));
  EXPECT_TRUE(store.Read([&](ReadTx& tx) -> Result<void> {
    auto n = tx.CountNotifications(f);
    if (!n) return std::unexpected(n.error());
    c.read = *n;
    return {};
  }));
  return c;
}

// The writer's payload index is rebuilt when the store opens (also right after the migration
// that dropped the payload-hash index), and a question reaching back past its horizon is
// answered in SQL: duplicate checks give the same answers before and after a restart, for
// recent, late and far-future notifications.
TEST(SqliteStore, DuplicateChecksSurviveReopenAndReachPastTheHorizon) {
  constexpr int64_t kS = 1'000'000;
  const std::string path = NewSqlitePath();
  const SqliteOptions options = {.path = path, .duplicate_horizon_seconds = 60};
  const std::string host = NewUuid();
  auto add = [&](Store& store, int64_t generated, int64_t created, const std::string& payload) {
    AddHostNotification(store, host, payload, generated, created);
  };
  auto expect = [&](Store& store, const std::string& payload, int64_t since, int64_t want) {
    PayloadCounts c = CountPayload(store, host, payload, since);
    EXPECT_EQ(c.written, want) << payload << " since " << since;
    EXPECT_EQ(c.read, want) << payload << " since " << since;
  };
  auto check_all = [&](Store& store) {
    expect(store, "old", 900 * kS, 2);  // created before the horizon (1940 s): SQL
    expect(store, "old", 1001 * kS, 1);
    expect(store, "old", 1200 * kS, 1);  // the later of the two old ones decides
    expect(store, "old", 1501 * kS, 0);
    expect(store, "recent", 1950 * kS, 1);  // within it: the index
    expect(store, "recent", 2000 * kS, 1);
    expect(store, "recent", 2000 * kS + 1, 0);
    expect(store, "future", 1950 * kS, 1);
    expect(store, "late", 1950 * kS, 0);
    expect(store, "late", 1000 * kS, 1);
  };
  {
    auto opened = OpenSqliteStore(options);
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    add(**opened, 1500 * kS, 999 * kS, "old");  // created first, generated later
    add(**opened, 1000 * kS, 1000 * kS, "old");
    add(**opened, 2000 * kS, 2000 * kS, "recent");
    add(**opened, 9'000'000 * kS, 1990 * kS, "future");  // a client's clock far ahead
    add(**opened, 1500 * kS, 1995 * kS, "late");         // below the floor when it came
    check_all(**opened);
  }
  {
    auto opened = OpenSqliteStore(options);
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    check_all(**opened);
  }
  // Back to schema 5, with its payload-hash index: reopening migrates and still finds them.
  std::string back_to_5 = "sqlite3 " + path +
                          " \"DROP INDEX notifications_host_generated; "
                          "CREATE INDEX notifications_payload_hash ON notifications(payload_hash); "
                          "DELETE FROM schema_migrations WHERE version >= 6\"";
  ASSERT_EQ(std::system(back_to_5.c_str()), 0);
  {
    auto opened = OpenSqliteStore(options);
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    check_all(**opened);
  }
  std::string indexes = path + ".indexes";
  std::string list = "sqlite3 " + path +
                     " \"SELECT name FROM sqlite_master WHERE type = 'index' AND "
                     "tbl_name = 'notifications' ORDER BY name\" > " +
                     indexes;
  ASSERT_EQ(std::system(list.c_str()), 0);
  std::ifstream in(indexes);
  std::string names((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(names,
            "notifications_created\nnotifications_host_generated\nnotifications_segment\n"
            "notifications_status\nnotifications_uuid\n");
}

// A payload sent again and again (statuses allowing it) by a host with many notifications in
// the window: the check looks its few rows up by id instead of ranging over the host's
// notifications (which SQLite chose for more than one id, until told otherwise).
TEST(SqliteStore, ChecksOfARepeatedPayloadStayCheapOnABusyHost) {
  constexpr int64_t kS = 1'000'000;
  auto store = OpenSqlite(NewSqlitePath());
  const std::string host = NewUuid();
  ASSERT_TRUE(store->Write([&](WriteTx& tx) -> Result<void> {
    for (int i = 0; i < 60'000; ++i) {
      Notification n;
      n.uuid = NewUuid();
      n.generated_time = 1000 * kS + i;
      n.source_host_uuid = host;
      n.segment_uuid = "seg";
      n.type = NotificationType::kVm;
      n.payload_json = i % 20'000 == 0 ? "repeated" : "p" + std::to_string(i);
      n.status = NotificationStatus::kFinished;
      n.meta.created_at = 1000 * kS + i;
      auto r = tx.InsertNotification(n);
      if (!r) return std::unexpected(r.error());
    }
    return {};
  }));
  const NotificationFilter f = {.statuses = {NotificationStatus::kFinished},
                                .source_host_uuid = host,
                                .type = NotificationType::kVm,
                                .generated_since = 900 * kS,
                                .payload_json = "repeated"};
  // Timed against as many lookups of one notification by its uuid (an index search each),
  // so that a slow or instrumented build moves both alike.
  const std::string some_uuid = [&] {
    std::string uuid;
    EXPECT_TRUE(store->Read([&](ReadTx& tx) -> Result<void> {
      auto l = tx.ListNotifications({}, {.limit = 1});
      if (!l) return std::unexpected(l.error());
      uuid = l->front().uuid;
      return {};
    }));
    return uuid;
  }();
  auto timed = [&](const std::function<void(WriteTx&)>& each) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(store->Write([&](WriteTx& tx) -> Result<void> {
      for (int i = 0; i < 300; ++i) each(tx);
      return {};
    }));
    return std::chrono::steady_clock::now() - start;
  };
  const auto lookups = timed([&](WriteTx& tx) { EXPECT_TRUE(tx.GetNotification(some_uuid)); });
  const auto checks = timed([&](WriteTx& tx) {
    auto n = tx.CountNotifications(f);
    EXPECT_TRUE(n.has_value() && *n == 3);
  });
  // By id: about three lookups' worth each; ranging over 60,000 rows: thousands.
#ifdef WARDEN_SANITIZED
  GTEST_SKIP() << "timings under sanitizers: Warden's code is instrumented, SQLite is not";
#endif
  EXPECT_LT(checks, 30 * lookups) << "checks " << checks.count() << " ns, lookups "
                                  << lookups.count() << " ns";
}

// Another connection (here a second store on the same file, as another process would be)
// writes a notification: the first store's next write notices, and its duplicate check finds
// that notification instead of trusting its memory.
TEST(SqliteStore, DuplicateChecksSeeNotificationsWrittenByAnotherConnection) {
  constexpr int64_t kS = 1'000'000;
  const std::string path = NewSqlitePath();
  const std::string host = NewUuid();
  auto add = [&](Store& store, const std::string& payload) {
    AddHostNotification(store, host, payload, 1000 * kS, 1000 * kS);
  };
  auto first = OpenSqlite(path);
  add(*first, "mine");
  EXPECT_EQ(CountPayload(*first, host, "mine", 900 * kS).written, 1);
  EXPECT_EQ(CountPayload(*first, host, "theirs", 900 * kS).written, 0);
  EXPECT_EQ(first->GetStats().foreign_writes, 0);
  {
    auto second = OpenSqlite(path);
    add(*second, "theirs");
  }
  EXPECT_EQ(CountPayload(*first, host, "theirs", 900 * kS).written, 1);
  EXPECT_EQ(CountPayload(*first, host, "mine", 900 * kS).written, 1);
  EXPECT_EQ(first->GetStats().foreign_writes, 1);
  // Its own writes after that are known again from memory, and are not taken for foreign.
  add(*first, "later");
  EXPECT_EQ(CountPayload(*first, host, "later", 900 * kS).written, 1);
  EXPECT_EQ(first->GetStats().foreign_writes, 1);
}

// With no write of its own, the store still notices another connection's commit within a
// fraction of a second, and moves its generation (what cached reads are keyed by); its own
// commits, idle afterwards, are not taken for foreign.
TEST(SqliteStore, AnIdleStoreNoticesAnotherConnectionsCommit) {
  const std::string path = NewSqlitePath();
  const std::string host = NewUuid();
  auto first = OpenSqlite(path);
  AddHostNotification(*first, host, "mine", 1'000'000'000, 1'000'000'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // two idle checks
  const Store::Stats before = first->GetStats();
  EXPECT_EQ(before.foreign_writes, 0);
  {
    auto second = OpenSqlite(path);
    AddHostNotification(*second, host, "theirs", 1'000'000'000, 1'000'000'000);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (first->GetStats().generation == before.generation &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(first->GetStats().generation, before.generation);
  EXPECT_EQ(first->GetStats().foreign_writes, 1);
  EXPECT_EQ(first->GetStats().commits, before.commits);  // noticed without writing
}

// Commits far larger than the WAL write buffer (64 KiB) are written whole and read back.
TEST(SqliteStore, LargeCommitsSurviveReopen) {
  std::string path = NewSqlitePath();
  {
    auto store = OpenSqlite(path);
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE(store->Write([&](WriteTx& tx) -> Result<void> {
        for (int i = 0; i < 150; ++i) {
          Segment s;
          s.uuid = NewUuid();
          s.name = "big-" + std::to_string(round) + "-" + std::to_string(i);
          s.service_type = "COMPUTE";
          s.description = std::string(3000, char('a' + i % 26));
          s.meta.created_at = i;
          auto ins = tx.InsertSegment(s);
          if (!ins) return std::unexpected(ins.error());
        }
        return {};
      }));
    }
  }
  auto store = OpenSqlite(path);
  ASSERT_TRUE(store->Read([&](ReadTx& tx) -> Result<void> {
    auto all = tx.ListSegments({}, {.sort = {{"name", true}}, .limit = 1000});
    EXPECT_TRUE(all.has_value());
    EXPECT_EQ(all->size(), 450u);
    for (const Segment& s : *all) {
      EXPECT_EQ(s.description->size(), 3000u) << s.name;
    }
    return {};
  }));
}

// Under a steady stream of commits the WAL restarts from its beginning instead of growing:
// SQLite restarts it only when a write begins with every frame copied into the database,
// which a background checkpoint alone never achieves while writes keep coming.
TEST(SqliteStore, TheWalStaysBoundedUnderSteadyWrites) {
  std::string path = NewSqlitePath();
  auto opened = OpenSqliteStore({.path = path, .checkpoint_pages = 300});
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  auto store = std::move(*opened);
  std::atomic<bool> failed{false};
  std::atomic<uintmax_t> largest_wal{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 600 && !failed; ++i) {
        Segment s;
        s.uuid = NewUuid();
        s.name = "steady-" + std::to_string(w) + "-" + std::to_string(i);
        s.service_type = "COMPUTE";
        s.description = std::string(3000, 'x');  // about a page each
        auto written = store->Write([&](WriteTx& tx) -> Result<void> {
          if (auto ins = tx.InsertSegment(s); !ins) return std::unexpected(ins.error());
          return {};
        });
        if (!written) failed = true;
        std::error_code ec;
        uintmax_t size = std::filesystem::file_size(path + "-wal", ec);
        if (!ec && size > largest_wal) largest_wal = size;
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_FALSE(failed);
  // 2,400 pages and more of WAL written in all; kept to a few checkpoint intervals.
  EXPECT_LT(largest_wal.load(), uintmax_t(300 * 4 * 4096)) << "the WAL grew without restarting";
  EXPECT_GE(store->GetStats().checkpoints, 2);
  ASSERT_TRUE(store->Read([&](ReadTx& tx) -> Result<void> {
    auto all = tx.ListSegments({}, {.limit = 3000});
    EXPECT_TRUE(all.has_value());
    EXPECT_EQ(all->size(), 2400u);
    return {};
  }));
}

// A full disk in the middle of group commits: every write reported committed is stored, no
// write reported failed is, and the store then refuses writes instead of guessing.
TEST(SqliteStore, FullDiskNeverReportsAWriteWrongly) {
  std::string path = NewSqlitePath();
  std::mutex mu;
  std::set<std::string> succeeded, failed;
  {
    auto opened = OpenSqliteStore({.path = path, .max_page_count = 60});
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    Store& store = **opened;
    std::vector<std::thread> writers;
    for (int t = 0; t < 6; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          Segment s;
          s.uuid = NewUuid();
          s.name = "s-" + std::to_string(t) + "-" + std::to_string(i);
          s.service_type = "COMPUTE";
          s.description = std::string(700, 'x');
          s.meta.created_at = i;
          auto r = store.Write([&](WriteTx& tx) -> Result<void> {
            auto ins = tx.InsertSegment(s);
            if (!ins) return std::unexpected(ins.error());
            return {};
          });
          std::lock_guard lock(mu);
          (r ? succeeded : failed).insert(s.name);
        }
      });
    }
    for (auto& w : writers) w.join();
    ASSERT_FALSE(failed.empty()) << "the page limit was never reached";
    ASSERT_FALSE(succeeded.empty());
    // Latched: readiness says so, and later writes are refused.
    EXPECT_FALSE(store.Ping().has_value());
    auto later = store.Write([](WriteTx&) -> Result<void> { return {}; });
    ASSERT_FALSE(later.has_value());
    EXPECT_EQ(later.error().code(), ErrorCode::kUnavailable);
  }
  auto reopened = OpenSqliteStore({.path = path});
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  std::set<std::string> stored;
  ASSERT_TRUE((*reopened)->Read([&](ReadTx& tx) -> Result<void> {
    auto all = tx.ListSegments({}, {.limit = 100000});
    if (!all) return std::unexpected(all.error());
    for (auto& s : *all) stored.insert(s.name);
    return {};
  }));
  EXPECT_EQ(stored, succeeded);
}

}  // namespace
}  // namespace warden::store
