#include "store/sqlite/recent_payloads.h"

#include <algorithm>
#include <cassert>

namespace warden::store {

namespace {

constexpr size_t kMinSlots = 16;  // per shard
// Slots in use at most (of 8): three quarters keeps probes short at 4 bytes a slot.
constexpr size_t kMaxLoadEighths = 6;
constexpr int64_t kMaxIdSpan = std::numeric_limits<uint32_t>::max();

}  // namespace

RecentPayloads::RecentPayloads(int64_t horizon_micros, uint32_t sequence_limit)
    : horizon_(horizon_micros), sequence_limit_(sequence_limit) {
  assert(horizon_micros > 0 && sequence_limit >= 2 && sequence_limit <= (1u << 31));
  shards_.resize(size_t(1) << kShardBits);
  for (Shard& shard : shards_) shard.slots.assign(kMinSlots, kEmpty);
}

uint32_t RecentPayloads::Hash32(int64_t payload_hash, uint32_t key) {
  // The key mixed in: one payload sent for many hosts (a whole rack's host-down notifications
  // carry the same one) spreads over the table instead of lining up behind one slot.
  const uint64_t h = uint64_t(payload_hash) ^ (uint64_t(key) * 0x9E3779B97F4A7C15ull);
  return uint32_t(h >> 32) ^ uint32_t(h);
}

uint32_t RecentPayloads::Second(int64_t micros) {
  // Whole seconds rounded down, so that t1 <= t2 implies Second(t1) <= Second(t2).
  int64_t s = micros / 1'000'000;
  if (micros % 1'000'000 < 0) --s;
  return uint32_t(std::clamp<int64_t>(s, 0, std::numeric_limits<uint32_t>::max()));
}

size_t RecentPayloads::SlotOf(const Shard& shard, uint32_t hash) {
  // Fibonacci hashing spreads the FNV bits over the table.
  return size_t((uint64_t(hash) * 0x9E3779B97F4A7C15ull) >> 32) & (shard.slots.size() - 1);
}

void RecentPayloads::Place(Shard& shard, uint32_t hash, uint32_t value) {
  const size_t mask = shard.slots.size() - 1;
  size_t i = SlotOf(shard, hash);
  while (shard.slots[i] != kEmpty) i = (i + 1) & mask;
  shard.slots[i] = value;
  ++shard.used;
}

void RecentPayloads::SetNewest(int64_t created_at) {
  newest_ = std::max(newest_, created_at);
  load_floor_ = newest_ < kNever + horizon_ ? kNever + 1 : newest_ - horizon_;
}

uint32_t RecentPayloads::KeyOf(std::string_view host_uuid, std::string_view type) {
  std::string name;
  name.reserve(host_uuid.size() + 1 + type.size());
  name.append(host_uuid).push_back('\0');
  name.append(type);
  auto [it, added] = key_ids_.try_emplace(std::move(name), uint32_t(keys_.size()));
  if (added) keys_.emplace_back();
  return it->second;
}

std::optional<bool> RecentPayloads::Covers(uint32_t key, int64_t since) const {
  const KeyState& k = keys_[key];
  int64_t latest = k.evicted_latest;
  if (load_floor_ != kNever) {
    if (!k.loaded_latest) return std::nullopt;
    latest = std::max(latest, *k.loaded_latest);
  }
  return since > latest;
}

void RecentPayloads::SetLoadedLatest(uint32_t key, int64_t generated_time) {
  keys_[key].loaded_latest = generated_time;
}

void RecentPayloads::Candidates(int64_t payload_hash, uint32_t key, int64_t since,
                                std::vector<int64_t>& ids) const {
  const uint32_t hash = Hash32(payload_hash, key);
  const uint32_t second = Second(since);
  const Shard& shard = ShardOf(hash);
  const size_t mask = shard.slots.size() - 1;
  for (size_t i = SlotOf(shard, hash); shard.slots[i] != kEmpty; i = (i + 1) & mask) {
    const Entry& e = At(shard.slots[i]);
    if (e.hash == hash && e.key == key && e.generated >= second) ids.push_back(id_base_ + e.id);
  }
  for (const Pending& p : pending_) {
    if (p.payload_hash == payload_hash && p.key == key && p.generated_time >= since) {
      ids.push_back(p.id);
    }
  }
}

void RecentPayloads::Add(int64_t payload_hash, uint32_t key, int64_t id, int64_t generated_time,
                         int64_t created_at) {
  pending_.push_back({payload_hash, key, id, generated_time, created_at});
}

void RecentPayloads::ForgetAll() {
  entries_.clear();
  marks_.clear();
  first_seq_ = 0;
  id_base_ = kNever;
  for (Shard& shard : shards_) {
    shard.slots.assign(kMinSlots, kEmpty);
    shard.used = 0;
  }
  for (KeyState& k : keys_) k = KeyState{};
  load_floor_ = kEverything;
  Abort();
}

void RecentPayloads::Abort() {
  pending_.clear();
  savepoint_ = 0;
}

void RecentPayloads::Commit() {
  const size_t added = pending_.size();
  if (added > 0) {
    for (const Pending& p : pending_) {
      Insert(p.id, Hash32(p.payload_hash, p.key), p.key, Second(p.generated_time));
      newest_ = std::max(newest_, p.created_at);
    }
    // This commit's entries are the last ones; they share the mark of the last commit in the
    // same second.
    const uint32_t created = Second(newest_);
    if (marks_.empty() || marks_.back().created != created) {
      const size_t mine = std::min(added, entries_.size());
      marks_.push_back({first_seq_ + uint32_t(entries_.size() - mine), created});
    }
  }
  pending_.clear();
  savepoint_ = 0;
  if (newest_ == kNever) return;
  // Oldest first, a few more than were added, so that a commit after a long quiet spell
  // does not pause for all of them at once. One generated after the horizon (a client's
  // clock ahead) goes to the back instead, until the horizon passes it: were it let go, its
  // key could not be answered from memory until then. But not one generated more than a
  // horizon ahead: memory stays bounded, and that host's checks go to SQL until then.
  const uint32_t horizon = newest_ < kNever + horizon_ ? 0 : Second(newest_ - horizon_);
  const uint32_t ahead = newest_ > std::numeric_limits<int64_t>::max() - horizon_
                             ? std::numeric_limits<uint32_t>::max()
                             : Second(newest_ + horizon_);
  for (size_t n = 0; n < 4 * added + 64 && !entries_.empty(); ++n) {
    while (marks_.size() > 1 && marks_[1].first <= first_seq_) marks_.pop_front();
    if (marks_.front().created >= horizon) break;
    const Entry oldest = TakeOldest();
    if (oldest.generated >= horizon && oldest.generated < ahead) {
      Insert(id_base_ + oldest.id, oldest.hash, oldest.key, oldest.generated);
    } else {
      LetGo(oldest);
    }
  }
}

void RecentPayloads::LetGo(const Entry& e) {
  // The latest time it may have been generated: the end of its whole second.
  const int64_t latest = e.generated == std::numeric_limits<uint32_t>::max()
                             ? std::numeric_limits<int64_t>::max()
                             : (int64_t(e.generated) + 1) * 1'000'000 - 1;
  KeyState& k = keys_[e.key];
  k.evicted_latest = std::max(k.evicted_latest, latest);
}

void RecentPayloads::Insert(int64_t id, uint32_t hash, uint32_t key, uint32_t generated) {
  if (id_base_ == kNever || id < id_base_ || id - id_base_ > kMaxIdSpan) Rebase(id);
  if (first_seq_ + entries_.size() + 1 >= sequence_limit_) Renumber();
  Shard& shard = ShardOf(hash);
  if ((shard.used + 1) * 8 > shard.slots.size() * kMaxLoadEighths) {
    Resize(shard, shard.slots.size() * 2);
  }
  const uint32_t seq = first_seq_ + uint32_t(entries_.size());
  entries_.push_back({uint32_t(id - id_base_), hash, key, generated});
  Place(shard, hash, seq + 1);
}

// Ids are held as offsets from a base: a new id outside their range moves the base to the
// smallest id. Should the ids then span more than 32 bits (billions of notifications apart),
// every entry is let go instead: correct, only slower until the horizon passes.
void RecentPayloads::Rebase(int64_t id) {
  int64_t lowest = id, highest = id;
  for (const Entry& e : entries_) {
    lowest = std::min(lowest, id_base_ + e.id);
    highest = std::max(highest, id_base_ + e.id);
  }
  if (highest - lowest > kMaxIdSpan) {
    while (!entries_.empty()) LetGo(TakeOldest());
    lowest = id;
  }
  for (Entry& e : entries_) e.id = uint32_t(id_base_ + e.id - lowest);
  id_base_ = lowest;
}

// Removes the oldest entry: its slot is emptied and the probe run after it shifted back, so
// that no lookup stops early at the hole.
RecentPayloads::Entry RecentPayloads::TakeOldest() {
  const Entry oldest = entries_.front();
  Shard& shard = ShardOf(oldest.hash);
  std::vector<uint32_t>& slots = shard.slots;
  const size_t mask = slots.size() - 1;
  size_t slot = SlotOf(shard, oldest.hash);
  while (slots[slot] != first_seq_ + 1) slot = (slot + 1) & mask;
  size_t hole = slot;
  for (size_t i = (slot + 1) & mask; slots[i] != kEmpty; i = (i + 1) & mask) {
    const size_t home = SlotOf(shard, At(slots[i]).hash);
    // Stays unless its home lies cyclically in (hole, i].
    const bool home_after_hole =
        hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (!home_after_hole) {
      slots[hole] = slots[i];
      hole = i;
    }
  }
  slots[hole] = kEmpty;
  --shard.used;
  entries_.pop_front();
  ++first_seq_;
  // Memory follows the number of entries back down after a burst.
  if (slots.size() > kMinSlots && shard.used * 8 < slots.size()) {
    Resize(shard, slots.size() / 2);
  }
  return oldest;
}

// Rebuilds one shard's slots at this size from its own entries.
void RecentPayloads::Resize(Shard& shard, size_t slot_count) {
  std::vector<uint32_t> old(slot_count, kEmpty);
  old.swap(shard.slots);
  shard.used = 0;
  for (uint32_t value : old) {
    if (value != kEmpty) Place(shard, At(value).hash, value);
  }
}

// Numbers the entries (and their marks) from 0 again: once in 2^31 inserts, a pause of a
// whole rebuild.
void RecentPayloads::Renumber() {
  for (Mark& m : marks_) m.first = std::max(m.first, first_seq_) - first_seq_;
  first_seq_ = 0;
  for (Shard& shard : shards_) {
    std::fill(shard.slots.begin(), shard.slots.end(), kEmpty);
    shard.used = 0;
  }
  for (size_t p = 0; p < entries_.size(); ++p) {
    Place(ShardOf(entries_[p].hash), entries_[p].hash, uint32_t(p + 1));
  }
}

}  // namespace warden::store
