#include "store/sqlite/recent_payloads.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace warden::store {
namespace {

constexpr int64_t kSecond = 1'000'000;

std::set<int64_t> CandidatesOf(const RecentPayloads& r, int64_t hash, int64_t since) {
  std::vector<int64_t> ids;
  r.Candidates(hash, since, ids);
  return {ids.begin(), ids.end()};
}

TEST(RecentPayloads, AnEmptyIndexCoversEveryTime) {
  RecentPayloads r(180 * kSecond);
  EXPECT_TRUE(r.Covers(std::numeric_limits<int64_t>::min()));
  EXPECT_TRUE(CandidatesOf(r, 42, 0).empty());
}

TEST(RecentPayloads, FindsCommittedAndPendingEntriesByHashAndTime) {
  RecentPayloads r(180 * kSecond);
  r.Add(7, 1, 100 * kSecond, 100 * kSecond);
  r.Add(8, 2, 100 * kSecond, 100 * kSecond);
  r.Commit();
  r.Add(7, 3, 150 * kSecond, 150 * kSecond);  // pending: found exactly by time
  EXPECT_EQ(CandidatesOf(r, 7, 0), (std::set<int64_t>{1, 3}));
  EXPECT_EQ(CandidatesOf(r, 8, 0), (std::set<int64_t>{2}));
  EXPECT_EQ(CandidatesOf(r, 7, 150 * kSecond), (std::set<int64_t>{3}));
  EXPECT_EQ(CandidatesOf(r, 7, 150 * kSecond + 1), (std::set<int64_t>{}));
  // Committed entries compare whole seconds: a superset, never fewer.
  EXPECT_EQ(CandidatesOf(r, 8, 100 * kSecond + 999'999), (std::set<int64_t>{2}));
  EXPECT_EQ(CandidatesOf(r, 8, 101 * kSecond), (std::set<int64_t>{}));
  EXPECT_EQ(r.size(), 2u);
  r.Commit();
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(CandidatesOf(r, 7, 150 * kSecond), (std::set<int64_t>{3}));
}

TEST(RecentPayloads, ARolledBackTransactionOrAbortedBatchLeavesNothing) {
  RecentPayloads r(180 * kSecond);
  r.Savepoint();
  r.Add(7, 1, 100 * kSecond, 100 * kSecond);
  r.Savepoint();
  r.Add(7, 2, 100 * kSecond, 100 * kSecond);
  r.RollbackToSavepoint();  // the second transaction failed
  r.Commit();
  EXPECT_EQ(CandidatesOf(r, 7, 0), (std::set<int64_t>{1}));

  r.Savepoint();
  r.Add(7, 3, 200 * kSecond, 200 * kSecond);
  r.Abort();  // the commit failed
  EXPECT_EQ(CandidatesOf(r, 7, 0), (std::set<int64_t>{1}));
  r.Commit();
  EXPECT_EQ(r.size(), 1u);
  // The aborted batch's creation time did not move the floor.
  EXPECT_EQ(r.floor(), 100 * kSecond - 180 * kSecond);
}

TEST(RecentPayloads, TheFloorFollowsTheNewestCreationNotTheGeneratedTime) {
  RecentPayloads r(180 * kSecond);
  r.SetNewest(1000 * kSecond);
  EXPECT_EQ(r.floor(), 820 * kSecond);
  EXPECT_TRUE(r.Covers(820 * kSecond));
  EXPECT_FALSE(r.Covers(820 * kSecond - 1));
  // A client's far-future generated time is kept, and does not move the floor.
  r.Add(9, 1, 4'000'000'000 * kSecond, 1001 * kSecond);
  // Below the floor: nothing will ask for it.
  r.Add(9, 2, 800 * kSecond, 1001 * kSecond);
  r.Commit();
  EXPECT_EQ(r.floor(), 821 * kSecond);
  EXPECT_EQ(CandidatesOf(r, 9, 821 * kSecond), (std::set<int64_t>{1}));
  for (int i = 0; i < 100; ++i) r.Commit();
  EXPECT_EQ(r.size(), 1u);
  // The floor never moves back.
  r.SetNewest(0);
  EXPECT_EQ(r.floor(), 821 * kSecond);
}

TEST(RecentPayloads, OldEntriesGoAndMemoryFollowsThemDown) {
  RecentPayloads r(10 * kSecond);
  int64_t id = 0;
  for (int second = 0; second < 100; ++second) {
    for (int i = 0; i < 1000; ++i) {
      ++id;
      r.Add(int64_t(id * 2654435761u), id, second * kSecond, second * kSecond);
    }
    r.Commit();
  }
  // About the last 10 s remain (eviction runs behind by a little).
  EXPECT_GE(r.size(), 10'000u);
  EXPECT_LE(r.size(), 20'000u);
  // Every entry within the horizon is still found.
  for (int64_t k = id - 9'000; k <= id; ++k) {
    ASSERT_EQ(CandidatesOf(r, int64_t(k * 2654435761u), r.floor()).count(k), 1u) << k;
  }
  // Creates stop; time moves on: everything goes.
  r.SetNewest(1000 * kSecond);
  for (int i = 0; i < 10'000; ++i) r.Commit();
  EXPECT_EQ(r.size(), 0u);
}

// Against a plain model: after any sequence of batches, every entry at or above the floor
// with the asked hash is among the candidates, and no candidate has another hash.
TEST(RecentPayloads, NeverMissesAnEntryAboveTheFloor) {
  std::mt19937_64 rng(12345);
  RecentPayloads r(50 * kSecond);
  struct Row {
    int64_t hash, generated;
  };
  std::map<int64_t, Row> committed;
  std::map<int64_t, Row> pending;
  std::map<int64_t, Row> savepoint;
  int64_t id = 0, now = 1000 * kSecond;
  for (int batch = 0; batch < 3000; ++batch) {
    const int txs = int(rng() % 6);
    for (int t = 0; t < txs; ++t) {
      r.Savepoint();
      savepoint = pending;
      const int rows = 1 + int(rng() % 3);
      for (int k = 0; k < rows; ++k) {
        ++id;
        const int64_t hash = int64_t(rng() % 64);  // few hashes: many collisions
        // Mostly now, sometimes late, sometimes far ahead.
        int64_t generated = now - int64_t(rng() % (80 * kSecond));
        if (rng() % 50 == 0) generated = now + int64_t(rng() % (1000 * kSecond));
        r.Add(hash, id, generated, now);
        if (generated >= r.floor()) pending[id] = {hash, generated};
      }
      if (rng() % 5 == 0) {
        r.RollbackToSavepoint();
        pending = savepoint;
      }
    }
    if (rng() % 10 == 0) {
      r.Abort();
      pending.clear();
    } else {
      r.Commit();
      committed.insert(pending.begin(), pending.end());
      pending.clear();
    }
    now += int64_t(rng() % (2 * kSecond));
    // Ask about a few hashes at times at or above the floor.
    for (int q = 0; q < 3; ++q) {
      const int64_t hash = int64_t(rng() % 64);
      const int64_t since = r.floor() + int64_t(rng() % (60 * kSecond));
      const std::set<int64_t> got = CandidatesOf(r, hash, since);
      for (const auto& [row_id, row] : committed) {
        if (row.hash == hash && row.generated >= since) {
          ASSERT_EQ(got.count(row_id), 1u) << "batch " << batch << " id " << row_id;
        }
      }
      for (int64_t c : got) {
        ASSERT_TRUE(committed.count(c)) << c;
        ASSERT_EQ(committed[c].hash, hash);
      }
    }
  }
  // Memory holds about one horizon of rows, not all of them.
  EXPECT_LT(r.size(), committed.size() / 2);
}

}  // namespace
}  // namespace warden::store
