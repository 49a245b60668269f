// The writer's in-memory index of recent notifications by payload hash.
//
// The duplicate check asks for notifications of one host and type with a given payload,
// generated at or after some time. An index on the payload's hash answers that, but its keys
// are random: every create dirtied a page of it somewhere in the file, a whole page in the
// WAL at each commit and again when the checkpoint copied it — measured, 40% of the bytes a
// create wrote and more than half of the write requests. This index holds the payload hash, row id and generated time of every
// notification created within a horizon of the newest one (creation times are the server's
// clock), so the writer finds the few rows worth comparing without such an index on disk;
// the store then checks those rows (status, deletion, the exact payload) in SQL.
//
// Whether the index can answer depends on the host and type asked about: it can if none of
// their notifications outside it (created before the horizon) was generated at or after the
// time asked. For each host and type it keeps the latest generated time among those it let go,
// and learns once, from the store, the latest among those created before it was loaded. A
// host whose clock is behind is answered from memory like any other; a notification arriving
// long after it was generated, or a host whose clock jumps, is answered in SQL.
//
// Entries follow the writer's transactions: Add records into the batch under way, which
// Commit keeps and Abort drops; Savepoint/RollbackToSavepoint bracket one transaction of the
// batch. Entries created and generated before the horizon go, oldest first, at each commit;
// so do those generated more than a horizon ahead (a host's clock far ahead: its checks go to
// SQL until then), so that memory holds about one horizon of creates (two at worst).
//
// It knows only what its own writer wrote: the store tells it (ForgetAll) when another
// connection has written the database.
//
// Thread-safety: none; owned and used by the store's writer thread (and by Start before that
// thread runs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace warden::store {

class RecentPayloads {
 public:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kEverything = std::numeric_limits<int64_t>::max();

  // REQUIRES: horizon_micros > 0; 2 <= sequence_limit <= 2^31 (how many entries are numbered
  // before all are renumbered; smaller only in tests).
  explicit RecentPayloads(int64_t horizon_micros, uint32_t sequence_limit = 1u << 31);

  // At start-up, before the notifications created at or after load_floor() are added and
  // committed: the newest creation time in the database, if it has notifications.
  void SetNewest(int64_t created_at);
  // Notifications created before this are not in the index: kNever if there were none.
  int64_t load_floor() const { return load_floor_; }

  // Another connection wrote the database: what it wrote is not here. Everything is
  // dropped, and every key asks the store again (load_floor() becomes kEverything: every
  // notification then in the database counts as created before it).
  void ForgetAll();

  // The index's name for a host and notification type (stable for the store's lifetime).
  uint32_t KeyOf(std::string_view host_uuid, std::string_view type);

  // Whether every live notification of `key` generated at or after `since` has an entry
  // (committed or in the batch under way); nullopt while the latest generated time among the
  // key's notifications created before load_floor() is unknown (see SetLoadedLatest).
  std::optional<bool> Covers(uint32_t key, int64_t since) const;
  // The latest generated time among the key's live notifications created before
  // load_floor(), kNever if none: looked up by the store when Covers asks for it.
  void SetLoadedLatest(uint32_t key, int64_t generated_time);

  // Appends to `ids` the row ids of the key's notifications with this payload hash that may
  // have been generated at or after `since`: a superset (hashes are compared in 32 bits,
  // times of committed entries in whole seconds), to be checked in SQL.
  void Candidates(int64_t payload_hash, uint32_t key, int64_t since,
                  std::vector<int64_t>& ids) const;

  // A notification inserted by the transaction under way.
  void Add(int64_t payload_hash, uint32_t key, int64_t id, int64_t generated_time,
           int64_t created_at);

  // Marks the start of one transaction of the batch; RollbackToSavepoint drops what it added.
  void Savepoint() { savepoint_ = pending_.size(); }
  void RollbackToSavepoint() { pending_.resize(savepoint_); }

  // The batch committed: its entries stay, and those created and generated more than the
  // horizon before the newest creation go.
  void Commit();
  // The batch did not commit: its entries go.
  void Abort();

  // Committed entries (for tests and the store's figures).
  size_t size() const { return entries_.size(); }

 private:
  // 16 bytes: the index holds one horizon of creates (at 10,000 a second for 13 minutes,
  // 7.8 million entries).
  struct Entry {
    uint32_t id;         // minus id_base_
    uint32_t hash;       // 32 bits of the payload hash mixed with the key
    uint32_t key;        // host and type
    uint32_t generated;  // whole seconds, clamped to [0, 2^32)
  };
  // Entries from sequence number `first` on were committed at `created` (whole seconds).
  struct Mark {
    uint32_t first;
    uint32_t created;
  };
  struct Pending {
    int64_t payload_hash;
    uint32_t key;
    int64_t id;
    int64_t generated_time;
    int64_t created_at;
  };
  struct KeyState {
    std::optional<int64_t> loaded_latest;  // unknown until the store looked it up
    int64_t evicted_latest = kNever;       // an upper bound
  };
  static constexpr uint32_t kEmpty = 0;  // slots hold an entry's sequence number + 1
  // The slots are split by the hash's top bits into shards, each an open-addressing table
  // (linear probing, power-of-two size) grown and shrunk on its own: resizing one table of
  // millions of entries held the writer for tens of milliseconds (measured: 16 ms at 400,000,
  // doubling with each size), a shard's takes 1/256 of that.
  static constexpr int kShardBits = 8;
  struct Shard {
    std::vector<uint32_t> slots;
    size_t used = 0;
  };

  static uint32_t Hash32(int64_t payload_hash, uint32_t key);
  static uint32_t Second(int64_t micros);
  Shard& ShardOf(uint32_t hash) { return shards_[hash >> (32 - kShardBits)]; }
  const Shard& ShardOf(uint32_t hash) const { return shards_[hash >> (32 - kShardBits)]; }
  static size_t SlotOf(const Shard& shard, uint32_t hash);
  static void Place(Shard& shard, uint32_t hash, uint32_t value);
  void Resize(Shard& shard, size_t slot_count);
  void Renumber();
  const Entry& At(uint32_t slot_value) const { return entries_[slot_value - 1 - first_seq_]; }
  void Insert(int64_t id, uint32_t hash, uint32_t key, uint32_t generated);
  void Rebase(int64_t id);
  Entry TakeOldest();
  void LetGo(const Entry& e);

  const int64_t horizon_;
  const uint32_t sequence_limit_;
  int64_t newest_ = kNever;  // newest creation time committed
  int64_t load_floor_ = kNever;
  std::unordered_map<std::string, uint32_t> key_ids_;
  std::vector<KeyState> keys_;
  std::deque<Entry> entries_;  // in commit order; entries_[0] has sequence number first_seq_
  std::deque<Mark> marks_;     // one per commit that added entries, oldest first
  uint32_t first_seq_ = 0;     // renumbered to 0 before it could wrap
  int64_t id_base_ = kNever;   // unset until the first entry
  std::vector<Shard> shards_;
  std::vector<Pending> pending_;
  size_t savepoint_ = 0;
};

}  // namespace warden::store
