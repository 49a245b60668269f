// EvacuateInstancesTask: every VM move of a failed host, side by side, each from its slot to its
// end — plan a destination over a capacity snapshot, lock the instance, issue the evacuation,
// follow its migration record, confirm it on the instance, leave it in the state its owner had
// it in, unlock it — and, when an attempt fails, the retry on another host (RunMove).
//
// Bounds: at most [host_failure] max_parallel_evacuations moves per segment at once, in the
// order they were asked for; per destination host, a pace that starts at
// kInitialPerDestination, grows by one per rebuild that ends cleanly (until its first trouble,
// then by one per window of them), halves when a rebuild fails and shrinks by a fifth when one
// takes far longer than the fastest seen there — never above max_parallel_per_destination.
// Capacity promised to moves under way is deducted from what the planner sees, so concurrent
// recoveries do not overcommit a host.
//
// Crash safety: a move is journalled `ongoing` with its destination before its evacuation is
// issued; a move found `ongoing` after a restart is reconciled against the cloud (its instance,
// its migration records) and never blindly issued again. Warden's lock on an instance is
// recorded before it is taken, and released even when the recovery ends first.
//
// Threading: on the engine's loop thread only.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/planner.h"
#include "engine/recovery.h"
#include "engine/task_context.h"

namespace warden::engine {

class Evacuations {
 public:
  explicit Evacuations(TaskContext& ctx);

  // The task: ends when every move has ended; an error if any of them failed.
  Task<Result<TaskResult>> EvacuateInstances(std::shared_ptr<Recovery> rec);
  // The recovery ended with `status`: moves not ended end with it (failed, for a cancel or an
  // expiry), and the locks Warden holds on their instances are released.
  void Ended(Recovery& rec, NotificationStatus status, const std::string& message);
  // Nova's event that `instance_uuid`'s rebuild ended: its move, if it waits for its record,
  // wants a look now (the watcher is woken); news of an instance whose evacuation is not yet
  // accepted is kept a while, for when it is. Returns whether a waiting move was found.
  bool InstanceNews(const std::string& instance_uuid,
                    const std::map<std::string, std::shared_ptr<Recovery>>& active);

 private:
  // How one attempt at moving an instance to a destination ended.
  struct AttemptEnd {
    enum Kind { kConfirmed, kFailed, kEnded } kind = kConfirmed;
    std::string why;  // kFailed
    // What it says of the destination's rebuild, for its pace: confirmed after an evacuation
    // issued in this attempt, or failed in the cloud (its record, or not done in time).
    bool rebuild_seen = false;
  };

  Task<void> StartAll(std::shared_ptr<Recovery> rec, std::vector<std::shared_ptr<Move>> to_plan,
                      std::vector<std::shared_ptr<Move>> to_resume);
  Task<void> PlanAndStart(std::shared_ptr<Recovery> rec, std::vector<std::shared_ptr<Move>> moves);
  Task<void> FetchInstance(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  Task<Result<std::vector<HostCapacity>>> Capacity(std::shared_ptr<Recovery> rec);
  Task<void> BringReservedHostIn(std::shared_ptr<Recovery> rec, std::string name);
  Task<void> JoinAggregatesOf(std::shared_ptr<Recovery> rec, std::string reserved);

  Task<void> RunMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  Task<AttemptEnd> Attempt(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                           std::string dest, bool reconcile_first);
  Task<void> Lock(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  Task<Result<void>> Confirm(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  Task<void> WatchEvacuations(std::shared_ptr<Recovery> rec);
  Task<Result<void>> ConfirmOnInstance(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                       MonoMicros deadline);
  Task<std::optional<Result<void>>> MovedOff(std::shared_ptr<Move> m);
  Task<void> Settle(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  Task<void> EndMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m, VMoveStatus status,
                     std::string message);
  void FinishMove(Recovery& rec, Move& m, VMoveStatus status, std::string message);
  // Detached (they outlive their recovery): the lock call, and the release of a lock.
  Task<void> LockDetached(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                          std::function<void(Result<void>)> done);
  Task<void> ReleaseLock(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                         std::function<void(Result<void>)> done);

  PlanRequest PlanRequestFor(const Recovery& rec, std::vector<HostCapacity> hosts,
                             const std::vector<std::shared_ptr<Move>>& moves) const;
  void Reserve(Move& m, const std::string& dest);
  void Unreserve(Move& m);

  TaskContext& ctx_;
  // The pace of one destination host: evacuations to it at once.
  struct DestPace {
    double window = 0;
    int64_t fastest = -1;     // the quickest clean attempt seen there, micros
    WallMicros last_cut = -1;  // rebuilds issued before it do not cut again
    bool growing_fast = true;
  };
  static constexpr int kInitialPerDestination = 5;
  // The destination's pace, made on first use.
  DestPace& PaceOf(const std::string& dest);
  // A rebuild on `dest` issued at `issued` (wall time) ended, cleanly or not.
  void PaceDestination(const std::string& dest, bool clean, WallMicros issued);
  // "Pace: <the driver's>; evacuations at once per destination: compute2 12, compute3 20."
  std::string PaceNote() const;
  std::map<std::string, DestPace> dest_pace_;

  // Instance news that came before the move was waiting for its record: instance → when.
  std::map<std::string, MonoMicros> early_news_;
  KeyedSlots segment_slots_;  // moves under way per segment
  KeyedSlots dest_slots_;     // moves under way per destination host
  std::map<std::string, drivers::Flavor> inflight_;  // capacity promised to moves under way
  bool follow_each_instance_ = false;  // the cloud cannot list evacuations in one call
};

}  // namespace warden::engine
