// The writer's in-memory index of recent notifications by payload hash.
//
// The duplicate check asks for notifications of one host and type, generated at or after
// some time, with a given payload. An index on the payload's hash answers that, but its keys
// are random: every create dirtied a page of it somewhere in the file, a whole page in the
// WAL at each commit and again when the checkpoint copied it — half the disk writes of a
// create, measured. This index holds, for every notification generated at or after a floor,
// its payload hash, row id and generated time, so the writer finds the few rows worth
// comparing without any such index on disk; the store then checks those rows (status,
// deletion, the exact payload) in SQL.
//
// The floor follows the newest creation time (the server's clock, not the client's
// generated_time) minus a horizon, so that memory holds one horizon of notifications and a
// client's far-future generated_time cannot push everything out. A question about an older
// time is not covered and goes to SQL on the generated_time index.
//
// Entries follow the writer's transactions: Add records into the batch under way, which
// Commit keeps and Abort drops; Savepoint/RollbackToSavepoint bracket one transaction of the
// batch. Entries below the floor are removed a few at a time at each commit.
//
// Thread-safety: none; owned and used by the store's writer thread (and by Start before that
// thread runs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace warden::store {

class RecentPayloads {
 public:
  // REQUIRES: horizon_micros > 0.
  explicit RecentPayloads(int64_t horizon_micros);

  // Whether every live notification generated at or after `since` has an entry (committed or
  // in the batch under way).
  bool Covers(int64_t since) const { return since >= floor_; }

  // Appends to `ids` the row ids of notifications with this payload hash that may have been
  // generated at or after `since`: a superset (hashes are compared in 32 bits, times in whole
  // seconds), to be checked in SQL. REQUIRES: Covers(since).
  void Candidates(int64_t payload_hash, int64_t since, std::vector<int64_t>& ids) const;

  // The newest creation time already in the database when the store opens (the floor
  // follows from it), before the entries at or above that floor are added and committed.
  void SetNewest(int64_t created_at);

  // A notification inserted by the transaction under way.
  void Add(int64_t payload_hash, int64_t id, int64_t generated_time, int64_t created_at);

  // Marks the start of one transaction of the batch; RollbackToSavepoint drops what it added.
  void Savepoint() { savepoint_ = pending_.size(); }
  void RollbackToSavepoint() { pending_.resize(savepoint_); }

  // The batch committed: its entries stay, the floor follows its newest creation time, and a
  // few entries below the floor are removed.
  void Commit();
  // The batch did not commit: its entries go.
  void Abort();

  // Committed entries (for tests and the store's figures).
  size_t size() const { return entries_.size(); }
  int64_t floor() const { return floor_; }

 private:
  struct Entry {
    int64_t id;
    uint32_t hash;  // 32 bits of the payload hash
    uint32_t second;  // generated_time in whole seconds, clamped to [0, 2^32)
  };
  struct Pending {
    int64_t payload_hash;
    int64_t id;
    int64_t generated_time;
  };
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  static constexpr uint32_t kEmpty = 0;  // slots hold an entry's position + 1

  static uint32_t Hash32(int64_t payload_hash);
  static uint32_t Second(int64_t micros);
  size_t SlotOf(uint32_t hash) const;
  void Insert(const Entry& e);
  void EraseAt(size_t slot);
  void Rehash(size_t slot_count);
  void EvictSome(size_t budget);

  const int64_t horizon_;
  int64_t floor_ = kNever;    // every live notification generated at or after it has an entry
  int64_t newest_ = kNever;   // newest creation time committed
  std::vector<Entry> entries_;   // dense, in no particular order
  std::vector<uint32_t> slots_;  // open addressing, linear probing; power-of-two size
  size_t sweep_ = 0;             // where eviction goes on
  std::vector<Pending> pending_;
  size_t savepoint_ = 0;
  int64_t pending_newest_ = kNever;
};

}  // namespace warden::store
