// The state of one recovery under way — a notification the engine owns, the host and segment it
// concerns, its workflow's progress and, for a host failure, its VM moves — and what a task of
// its workflow answers. Shared by the life cycle (recovery_engine.cc) and the flows
// (flows/*.cc); only the engine's loop thread touches it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/coro.h"
#include "core/domain.h"
#include "drivers/compute.h"
#include "engine/engine_options.h"

namespace warden::engine {

// How a task that succeeded lets the workflow go on.
enum class Outcome {
  kContinue,     // to the next task
  kFinishEarly,  // the recovery is finished (nothing left to do)
  kIgnore,       // the notification is ignored (nothing to recover)
};
struct TaskResult {
  Outcome outcome = Outcome::kContinue;
  std::string message;
};

// Whether the instance's metadata marks it HA-enabled (`key`: [host_failure] ha_enabled_key).
inline bool IsHaEnabled(const drivers::Instance& i, const std::string& key) {
  auto it = i.metadata.find(key);
  if (it == i.metadata.end()) return false;
  return ParseBoolString(it->second).value_or(false);
}

// The instances a failure of `host` evacuates, of those listed on it: not deleted, not in
// error with ignore_instances_in_error_state, HA-enabled ones first, the others only with
// evacuate_all_instances. Defined with the host-failure flow that uses it.
struct InstanceChoice {
  std::vector<drivers::Instance> instances;  // HA-enabled first, each group in listed order
  int64_t ha = 0;
  int64_t skipped_error = 0;
  int64_t skipped_deleted = 0;
  int64_t skipped_non_ha = 0;
};
InstanceChoice ChooseInstances(const std::string& host, std::vector<drivers::Instance> listed,
                               const EngineOptions& options);

// One instance's evacuation: its VM move record and what this process knows of its attempts.
struct Move {
  VMove v;
  std::optional<drivers::Instance> instance;
  int attempts = 0;
  std::set<std::string> tried;  // destinations that failed for it
  std::string original_state;
  std::string planned_dest;   // chosen by the planner, before the move starts
  std::string reserved_dest;  // whose capacity this move holds in the engine's ledger
  int calls = 0;              // evacuate calls in this attempt
  WallMicros issued_at = 0;   // last evacuate call in this process
  bool lock_sent = false;     // the lock call was made in this process
  bool lock_in_flight = false;      // ... and not answered yet
  bool release_after_lock = false;  // the move ended meanwhile: unlock once it is answered
  bool ending = false;              // the move is releasing the instance's lock to end
  bool done = false;
  std::set<std::string> spent_records;  // migration records earlier attempts failed with

  bool Ended() const { return done || ending; }

  // Migrations of this move are those created since it started (or was last issued here).
  // Nova stamps them with its own clock: 30 s of slack keep a Nova whose clock is behind
  // Warden's from hiding them (the newest record wins, so earlier attempts in the window do
  // not count).
  WallMicros IssuedSince() const {
    return std::max(v.start_time.value_or(0), issued_at) - 30'000'000;
  }
};

// What the evacuation watcher tells a move waiting for its migration record to end.
enum class RecordVerdict { kDone, kFailed, kTimedOut, kFollowInstance };
struct RecordNews {
  RecordVerdict verdict = RecordVerdict::kDone;
  std::string status;  // the record's status, for kFailed
};

struct Recovery {
  Notification n;
  Host host;
  Segment segment;
  nlohmann::json payload;
  std::vector<std::string> tasks;
  size_t next_task = 0;
  nlohmann::json details = nlohmann::json::array();
  bool fence_confirmed = false;
  bool finished = false;
  std::vector<std::shared_ptr<Move>> moves;
  int64_t moves_total = 0;  // moves the evacuation task works on in this run
  int64_t moves_left = 0;
  int64_t moves_failed = 0;
  int64_t last_reported_decile = -1;
  bool capacity_unknown_told = false;  // the workflow details say the capacity was unreadable
  // Answers the evacuation task once its last move has ended.
  std::function<void(Result<TaskResult>)> evacuate_done;
  // Moves whose evacuation was accepted, waiting for its migration record to end (with each
  // one's deadline and how to tell it); one listing of the cloud's evacuations per poll
  // follows them all.
  struct Awaiting {
    std::shared_ptr<Move> move;
    MonoMicros deadline = 0;
    std::function<void(RecordNews)> tell;
    MonoMicros next_look = 0;  // when it wants the next listing
    int64_t interval = 0;      // between its listings: doubles up to the poll interval
    MonoMicros news_at = -1;   // when Nova last said its rebuild ended (AMQP), if it did
  };
  std::vector<Awaiting> awaiting;
  bool watching = false;
  // The watcher, while it sleeps until `watcher_due`: woken when a move wants a look sooner.
  std::function<void(bool)> wake_watcher;
  MonoMicros watcher_due = 0;
  // Every coroutine of this recovery: ended together when the recovery ends (Finish).
  CoroScope scope;
};

}  // namespace warden::engine
