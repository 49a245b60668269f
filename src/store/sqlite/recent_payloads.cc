#include "store/sqlite/recent_payloads.h"

#include <algorithm>
#include <cassert>

namespace warden::store {

namespace {

constexpr size_t kMinSlots = 64;
// Slots in use at most (of 8): three quarters keeps probes short at 4 bytes a slot.
constexpr size_t kMaxLoadEighths = 6;

}  // namespace

RecentPayloads::RecentPayloads(int64_t horizon_micros) : horizon_(horizon_micros) {
  assert(horizon_micros > 0);
  slots_.assign(kMinSlots, kEmpty);
}

uint32_t RecentPayloads::Hash32(int64_t payload_hash) {
  const auto h = uint64_t(payload_hash);
  return uint32_t(h >> 32) ^ uint32_t(h);
}

uint32_t RecentPayloads::Second(int64_t micros) {
  // Whole seconds rounded down, so that t1 <= t2 implies Second(t1) <= Second(t2).
  int64_t s = micros / 1'000'000;
  if (micros % 1'000'000 < 0) --s;
  return uint32_t(std::clamp<int64_t>(s, 0, std::numeric_limits<uint32_t>::max()));
}

size_t RecentPayloads::SlotOf(uint32_t hash) const {
  // Fibonacci hashing spreads the FNV bits over the table.
  return size_t((uint64_t(hash) * 0x9E3779B97F4A7C15ull) >> 32) & (slots_.size() - 1);
}

void RecentPayloads::SetNewest(int64_t created_at) {
  newest_ = std::max(newest_, created_at);
  floor_ = newest_ < kNever + horizon_ ? kNever : newest_ - horizon_;
}

void RecentPayloads::Candidates(int64_t payload_hash, int64_t since,
                                std::vector<int64_t>& ids) const {
  assert(Covers(since));
  const uint32_t hash = Hash32(payload_hash);
  const uint32_t second = Second(since);
  const size_t mask = slots_.size() - 1;
  for (size_t i = SlotOf(hash); slots_[i] != kEmpty; i = (i + 1) & mask) {
    const Entry& e = entries_[slots_[i] - 1];
    if (e.hash == hash && e.second >= second) ids.push_back(e.id);
  }
  for (const Pending& p : pending_) {
    if (p.payload_hash == payload_hash && p.generated_time >= since) ids.push_back(p.id);
  }
}

void RecentPayloads::Add(int64_t payload_hash, int64_t id, int64_t generated_time,
                         int64_t created_at) {
  pending_newest_ = std::max(pending_newest_, created_at);
  // Below the floor nothing will ask for it (the floor only rises).
  if (generated_time < floor_) return;
  pending_.push_back({payload_hash, id, generated_time});
}

void RecentPayloads::Commit() {
  for (const Pending& p : pending_) {
    Insert({p.id, Hash32(p.payload_hash), Second(p.generated_time)});
  }
  const size_t added = pending_.size();
  pending_.clear();
  savepoint_ = 0;
  if (pending_newest_ != kNever) SetNewest(pending_newest_);
  pending_newest_ = kNever;
  // Looks at several slots for each one filled, so that a sweep of the whole table takes a
  // small share of the horizon's creates (memory stays near one horizon of entries) and no
  // commit pauses for a whole sweep.
  EvictSome(8 * added + 64);
}

void RecentPayloads::Abort() {
  pending_.clear();
  savepoint_ = 0;
  pending_newest_ = kNever;
}

void RecentPayloads::Insert(const Entry& e) {
  if ((entries_.size() + 1) * 8 > slots_.size() * kMaxLoadEighths) Rehash(slots_.size() * 2);
  entries_.push_back(e);
  const size_t mask = slots_.size() - 1;
  size_t i = SlotOf(e.hash);
  while (slots_[i] != kEmpty) i = (i + 1) & mask;
  slots_[i] = uint32_t(entries_.size());
}

// Removes the entry in `slot`: its place in `entries_` takes the last entry, and the probe
// run after the slot is shifted back so that no lookup stops early at the hole.
void RecentPayloads::EraseAt(size_t slot) {
  const size_t mask = slots_.size() - 1;
  const uint32_t position = slots_[slot] - 1;
  const uint32_t last = uint32_t(entries_.size() - 1);
  if (position != last) {
    // The slot pointing at the last entry now points at `position`.
    size_t j = SlotOf(entries_[last].hash);
    while (slots_[j] != last + 1) j = (j + 1) & mask;
    slots_[j] = position + 1;
    entries_[position] = entries_[last];
  }
  entries_.pop_back();
  // Backward-shift deletion.
  size_t hole = slot;
  for (size_t i = (slot + 1) & mask; slots_[i] != kEmpty; i = (i + 1) & mask) {
    const size_t home = SlotOf(entries_[slots_[i] - 1].hash);
    // Moves back unless its home lies cyclically in (hole, i].
    const bool home_after_hole = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (!home_after_hole) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = kEmpty;
}

void RecentPayloads::Rehash(size_t slot_count) {
  slots_.assign(slot_count, kEmpty);
  const size_t mask = slot_count - 1;
  for (size_t p = 0; p < entries_.size(); ++p) {
    size_t i = SlotOf(entries_[p].hash);
    while (slots_[i] != kEmpty) i = (i + 1) & mask;
    slots_[i] = uint32_t(p + 1);
  }
  sweep_ = 0;
}

void RecentPayloads::EvictSome(size_t budget) {
  if (entries_.empty()) return;
  const uint32_t floor_second = Second(floor_);
  // Entries below the floor's second are surely below the floor.
  for (size_t n = 0; n < budget && !entries_.empty(); ++n) {
    sweep_ &= slots_.size() - 1;
    const uint32_t s = slots_[sweep_];
    if (s != kEmpty && entries_[s - 1].second < floor_second) {
      EraseAt(sweep_);  // the slot may now hold a shifted entry: look at it again
    } else {
      ++sweep_;
    }
  }
  // Memory follows the number of entries back down after a burst.
  if (slots_.size() > kMinSlots && entries_.size() * 8 < slots_.size()) {
    Rehash(slots_.size() / 2);
    entries_.shrink_to_fit();
  }
}

}  // namespace warden::store
