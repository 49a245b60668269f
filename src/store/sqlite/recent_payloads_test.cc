#include "store/sqlite/recent_payloads.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace warden::store {
namespace {

constexpr int64_t kSecond = 1'000'000;

std::set<int64_t> CandidatesOf(const RecentPayloads& r, int64_t hash, uint32_t key, int64_t since) {
  std::vector<int64_t> ids;
  r.Candidates(hash, key, since, ids);
  return {ids.begin(), ids.end()};
}

TEST(RecentPayloads, AnIndexOfAnEmptyDatabaseCoversEveryTime) {
  RecentPayloads r(180 * kSecond);
  const uint32_t key = r.KeyOf("host-1", "VM");
  EXPECT_EQ(r.Covers(key, RecentPayloads::kNever + 1), std::optional<bool>(true));
  EXPECT_TRUE(CandidatesOf(r, 42, key, 0).empty());
}

TEST(RecentPayloads, KeysNameAHostAndAType) {
  RecentPayloads r(180 * kSecond);
  const uint32_t a = r.KeyOf("host-1", "VM");
  EXPECT_EQ(r.KeyOf("host-1", "VM"), a);
  EXPECT_NE(r.KeyOf("host-1", "PROCESS"), a);
  EXPECT_NE(r.KeyOf("host-2", "VM"), a);
  EXPECT_NE(r.KeyOf("host-1V", "M"), a);
}

TEST(RecentPayloads, FindsCommittedAndPendingEntriesByHashAndTime) {
  RecentPayloads r(180 * kSecond);
  const uint32_t key = r.KeyOf("h", "VM");
  r.Add(7, key, 1, 100 * kSecond, 100 * kSecond);
  r.Add(8, key, 2, 100 * kSecond, 100 * kSecond);
  r.Commit();
  r.Add(7, key, 3, 150 * kSecond, 150 * kSecond);  // pending: compared exactly
  EXPECT_EQ(CandidatesOf(r, 7, key, 0), (std::set<int64_t>{1, 3}));
  EXPECT_EQ(CandidatesOf(r, 8, key, 0), (std::set<int64_t>{2}));
  EXPECT_EQ(CandidatesOf(r, 7, key, 150 * kSecond), (std::set<int64_t>{3}));
  EXPECT_EQ(CandidatesOf(r, 7, key, 150 * kSecond + 1), (std::set<int64_t>{}));
  // Committed entries compare whole seconds: a superset, never fewer.
  EXPECT_EQ(CandidatesOf(r, 8, key, 100 * kSecond + 999'999), (std::set<int64_t>{2}));
  EXPECT_EQ(CandidatesOf(r, 8, key, 101 * kSecond), (std::set<int64_t>{}));
  EXPECT_EQ(r.size(), 2u);
  r.Commit();
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(CandidatesOf(r, 7, key, 150 * kSecond), (std::set<int64_t>{3}));
}

TEST(RecentPayloads, ARolledBackTransactionOrAbortedBatchLeavesNothing) {
  RecentPayloads r(180 * kSecond);
  const uint32_t key = r.KeyOf("h", "VM");
  r.Savepoint();
  r.Add(7, key, 1, 100 * kSecond, 100 * kSecond);
  r.Savepoint();
  r.Add(7, key, 2, 100 * kSecond, 100 * kSecond);
  r.RollbackToSavepoint();  // the second transaction failed
  r.Commit();
  EXPECT_EQ(CandidatesOf(r, 7, key, 0), (std::set<int64_t>{1}));

  r.Savepoint();
  r.Add(7, key, 3, 200 * kSecond, 10'000 * kSecond);
  r.Abort();  // the commit failed
  EXPECT_EQ(CandidatesOf(r, 7, key, 0), (std::set<int64_t>{1}));
  r.Commit();
  // The aborted batch's creation time did not push the first entry out.
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.Covers(key, 0), std::optional<bool>(true));
}

// Entries leave once created and generated before the horizon; the key then answers only for
// times after the latest it let go. One generated a little ahead (a client's clock) stays
// until the horizon passes it, so its key is still answered from memory; one generated more
// than a horizon ahead goes, and its key is answered in SQL until then.
TEST(RecentPayloads, EntriesGoByCreationAndTheirKeyRemembersHowLateTheyWere) {
  RecentPayloads r(60 * kSecond);
  const uint32_t behind = r.KeyOf("slow-clock", "VM");
  const uint32_t ahead = r.KeyOf("fast-clock", "VM");
  const uint32_t far = r.KeyOf("broken-clock", "VM");
  const uint32_t quiet = r.KeyOf("quiet", "VM");
  r.Add(1, behind, 1, 400 * kSecond + 5, 1000 * kSecond);  // clock 10 minutes behind
  r.Add(2, ahead, 2, 1130 * kSecond, 1000 * kSecond);      // 130 s ahead
  r.Add(3, far, 3, 9'000'000 * kSecond, 1000 * kSecond);   // days ahead
  r.Commit();
  r.Add(4, behind, 4, 1000 * kSecond, 1100 * kSecond);  // 100 s later
  r.Commit();
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(CandidatesOf(r, 1, behind, RecentPayloads::kNever + 1), (std::set<int64_t>{}));
  // The slow host is answered from memory for times after its let-go entry's second.
  EXPECT_EQ(r.Covers(behind, 401 * kSecond), std::optional<bool>(true));
  EXPECT_EQ(r.Covers(behind, 400 * kSecond + 999'999), std::optional<bool>(false));
  // The fast host's entry stays, and keeps being found.
  EXPECT_EQ(r.Covers(ahead, 0), std::optional<bool>(true));
  EXPECT_EQ(CandidatesOf(r, 2, ahead, 1100 * kSecond), (std::set<int64_t>{2}));
  for (int i = 0; i < 200; ++i) r.Commit();
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(CandidatesOf(r, 2, ahead, 1100 * kSecond), (std::set<int64_t>{2}));
  // The broken clock's went: memory cannot answer for it until its time has passed.
  EXPECT_EQ(r.Covers(far, 1100 * kSecond), std::optional<bool>(false));
  EXPECT_EQ(r.Covers(far, 9'000'001 * kSecond), std::optional<bool>(true));
  EXPECT_EQ(r.Covers(quiet, 0), std::optional<bool>(true));
}

// Another connection wrote the database: nothing in memory is trusted, and each key asks
// again about everything then in the database.
TEST(RecentPayloads, ForgetAllMakesEveryKeyAskAgain) {
  RecentPayloads r(60 * kSecond);
  const uint32_t key = r.KeyOf("h", "VM");
  r.Add(5, key, 1, 100 * kSecond, 100 * kSecond);
  r.Commit();
  EXPECT_EQ(r.Covers(key, 0), std::optional<bool>(true));
  r.ForgetAll();
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.load_floor(), RecentPayloads::kEverything);
  EXPECT_EQ(r.Covers(key, 0), std::nullopt);
  r.SetLoadedLatest(key, 150 * kSecond);  // the other connection's notification
  EXPECT_EQ(r.Covers(key, 150 * kSecond), std::optional<bool>(false));
  EXPECT_EQ(r.Covers(key, 150 * kSecond + 1), std::optional<bool>(true));
  r.Add(5, key, 9, 200 * kSecond, 200 * kSecond);
  r.Commit();
  EXPECT_EQ(CandidatesOf(r, 5, key, 150 * kSecond + 1), (std::set<int64_t>{9}));
}

// Ids are held as 32-bit offsets: ids below the base or far above it still come back whole,
// and ids billions apart let the old ones go (answered in SQL from then on).
TEST(RecentPayloads, IdsOfAnySpanComeBackWhole) {
  RecentPayloads r(600 * kSecond);
  const uint32_t key = r.KeyOf("h", "VM");
  r.Add(1, key, 1'000'000, 100 * kSecond, 100 * kSecond);
  r.Commit();
  r.Add(1, key, 7, 100 * kSecond, 100 * kSecond);  // below the base
  r.Add(1, key, 1'000'000 + 4'000'000'000, 100 * kSecond, 100 * kSecond);
  r.Commit();
  EXPECT_EQ(CandidatesOf(r, 1, key, 0),
            (std::set<int64_t>{7, 1'000'000, 1'000'000 + 4'000'000'000}));
  EXPECT_EQ(r.Covers(key, 0), std::optional<bool>(true));
  r.Add(1, key, int64_t(1) << 40, 200 * kSecond, 200 * kSecond);
  r.Commit();
  EXPECT_EQ(CandidatesOf(r, 1, key, 150 * kSecond), (std::set<int64_t>{int64_t(1) << 40}));
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.Covers(key, 100 * kSecond + 999'999), std::optional<bool>(false));
  EXPECT_EQ(r.Covers(key, 101 * kSecond), std::optional<bool>(true));
}

// After a restart the index holds what was created within the horizon; for older ones it
// asks, per key, once.
TEST(RecentPayloads, KeysAskAboutNotificationsCreatedBeforeTheLoad) {
  RecentPayloads r(60 * kSecond);
  r.SetNewest(1000 * kSecond);
  EXPECT_EQ(r.load_floor(), 940 * kSecond);
  const uint32_t key = r.KeyOf("h", "VM");
  r.Add(5, key, 10, 990 * kSecond, 990 * kSecond);
  r.Commit();
  EXPECT_EQ(r.Covers(key, 0), std::nullopt);
  r.SetLoadedLatest(key, 500 * kSecond);
  EXPECT_EQ(r.Covers(key, 500 * kSecond), std::optional<bool>(false));
  EXPECT_EQ(r.Covers(key, 500 * kSecond + 1), std::optional<bool>(true));
  const uint32_t none = r.KeyOf("new-host", "VM");
  r.SetLoadedLatest(none, RecentPayloads::kNever);
  EXPECT_EQ(r.Covers(none, RecentPayloads::kNever + 1), std::optional<bool>(true));
}

TEST(RecentPayloads, MemoryFollowsTheHorizon) {
  RecentPayloads r(10 * kSecond);
  const uint32_t key = r.KeyOf("h", "VM");
  int64_t id = 0;
  for (int second = 0; second < 100; ++second) {
    for (int i = 0; i < 1000; ++i) {
      ++id;
      r.Add(int64_t(uint64_t(id) * 2654435761u), key, id, second * kSecond, second * kSecond);
    }
    r.Commit();
  }
  // The last 11 seconds remain (the horizon's edge is a whole second).
  EXPECT_EQ(r.size(), 11'000u);
  for (int64_t k = id - 10'999; k <= id; ++k) {
    ASSERT_EQ(CandidatesOf(r, int64_t(uint64_t(k) * 2654435761u), key, 89 * kSecond).count(k), 1u)
        << k;
  }
  // Creates stop, and much later one comes: the rest leave over the next commits.
  for (int i = 0; i < 300; ++i) {
    r.Add(1, key, ++id, 10'000 * kSecond, 10'000 * kSecond);
    r.Commit();
  }
  EXPECT_EQ(r.size(), 300u);
}

// Against a plain model: after any sequence of batches, for every key the index says it
// covers, every committed entry of that key generated at or after the time asked is among
// the candidates, and no candidate has another hash.
TEST(RecentPayloads, NeverMissesAnEntryItClaimsToCover) {
  std::mt19937_64 rng(12345);
  // Few sequence numbers: entries are renumbered every thousand or so.
  RecentPayloads r(50 * kSecond, 1000);
  std::vector<int64_t> pool;  // few payloads: many collisions, spread over the shards
  for (int i = 0; i < 64; ++i) pool.push_back(int64_t(rng()));
  const uint32_t keys[] = {r.KeyOf("a", "VM"), r.KeyOf("b", "VM"), r.KeyOf("c", "VM")};
  struct Row {
    int64_t hash;
    uint32_t key;
    int64_t generated;
  };
  std::map<int64_t, Row> committed, pending, savepoint;
  int64_t id = 0, now = 1000 * kSecond;
  int covered_questions = 0, covered_slow_clock = 0;
  bool forgot = false;
  for (int batch = 0; batch < 3000; ++batch) {
    const int txs = int(rng() % 6);
    for (int t = 0; t < txs; ++t) {
      r.Savepoint();
      savepoint = pending;
      const int rows = 1 + int(rng() % 3);
      for (int k = 0; k < rows; ++k) {
        ++id;
        const int64_t hash = pool[rng() % pool.size()];
        const uint32_t key = keys[rng() % 3];
        // Key c's clock is steadily 10 minutes behind; the others' sometimes jump ahead, now
        // and then by far more than the horizon. Sometimes one arrives late.
        int64_t generated = now - int64_t(rng() % (20 * kSecond));
        if (key == keys[2]) {
          generated -= 600 * kSecond;
        } else if (rng() % 200 == 0) {
          generated += int64_t(rng() % (40 * kSecond));
        } else if (rng() % 3000 == 0) {
          generated += int64_t(rng() % (1000 * kSecond));
        }
        if (rng() % 50 == 0) generated -= int64_t(rng() % (300 * kSecond));
        r.Add(hash, key, id, generated, now);
        pending[id] = {hash, key, generated};
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
    // Once, another connection writes: every key then asks about everything stored.
    if (batch == 1500) {
      r.ForgetAll();
      forgot = true;
    }
    for (int q = 0; q < 3; ++q) {
      const int64_t hash = pool[rng() % pool.size()];
      const uint32_t key = keys[rng() % 3];
      // Mostly what a duplicate check asks (a window back from the host's clock), sometimes
      // far back.
      int64_t since = now - int64_t(rng() % (40 * kSecond));
      if (key == keys[2]) since -= 600 * kSecond;
      if (rng() % 4 == 0) since -= int64_t(rng() % (800 * kSecond));
      std::optional<bool> covered = r.Covers(key, since);
      if (!covered) {
        ASSERT_TRUE(forgot);
        int64_t latest = RecentPayloads::kNever;
        for (const auto& [row_id, row] : committed) {
          if (row.key == key) latest = std::max(latest, row.generated);
        }
        r.SetLoadedLatest(key, latest);
        covered = r.Covers(key, since);
      }
      ASSERT_TRUE(covered.has_value());
      if (!*covered) continue;
      ++covered_questions;
      if (key == keys[2]) ++covered_slow_clock;
      const std::set<int64_t> got = CandidatesOf(r, hash, key, since);
      for (const auto& [row_id, row] : committed) {
        if (row.hash == hash && row.key == key && row.generated >= since) {
          ASSERT_EQ(got.count(row_id), 1u) << "batch " << batch << " id " << row_id;
        }
      }
      for (int64_t c : got) {
        ASSERT_TRUE(committed.count(c)) << c;
        ASSERT_EQ(committed[c].hash, hash);
        ASSERT_EQ(committed[c].key, key);
      }
    }
  }
  // Most questions were answered from memory, including the slow clock's...
  EXPECT_GT(covered_questions, 4500);
  EXPECT_GT(covered_slow_clock, 1500);
  // ...and memory holds about one horizon of rows, not all of them.
  EXPECT_LT(r.size(), committed.size() / 10);
}

}  // namespace
}  // namespace warden::store
