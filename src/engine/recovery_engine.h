// The recovery engine: from a stored notification to workloads running again, recorded step
// by step.
//
// It owns every notification from `new` on: triage, then the workflow of named tasks for the
// notification's type (fence → disable + forced_down → list → plan → evacuate in parallel →
// confirm, for a host), recording progress as recovery_workflow_details and each evacuation as
// a VM move. This file's .cc is the life cycle of a notification (claim, triage, run its tasks
// one after the other, finish, retry, cancel, expire, resume); the tasks themselves are the
// flows in engine/flows/, each a coroutine over engine/task_context.h. Nothing is lost across a crash: status and moves are journalled before each
// action, `running` notifications are resumed at Start() and reconciled against the cloud
// (an evacuation already accepted is confirmed, never issued again).
//
// Threading: everything runs on the EventLoop given at construction; public methods may be
// called from any thread (they post). Driver callbacks must arrive on that loop. Store reads
// are synchronous on the loop (SQLite reads take microseconds); writes are batched into one
// asynchronous transaction per loop turn.
//
// Lifetime: destroy the engine on its loop thread or with the loop stopped; callbacks that
// arrive afterwards are dropped (a "crash" in tests is exactly that).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "core/event_loop.h"
#include "drivers/compute.h"
#include "drivers/fencer.h"
#include "drivers/process_restarter.h"
#include "engine/engine_options.h"
#include "ha/recovery_control.h"
#include "store/store.h"

namespace warden::engine {

class RecoveryEngine final : public ha::RecoveryControl {
 public:
  // `restarter` (may be null: no agents) serves RestartProcessTask.
  RecoveryEngine(EventLoop& loop, store::Store& store, drivers::ComputeDriver& compute,
                 drivers::Fencer& fencer, EngineOptions options,
                 drivers::ProcessRestarter* restarter = nullptr);
  ~RecoveryEngine() override;

  // Resumes `running` notifications, takes `new` ones, and starts the periodic checks.
  void Start();
  // A notification was stored (the API calls this after the commit). Thread-safe.
  void NotificationCreated(const std::string& uuid);

  // Nova said instance `instance_uuid`'s rebuild ended (an AMQP event): if an evacuation of it
  // waits for its record, the record is read now rather than at the next poll. A hint only:
  // the record decides. Thread-safe.
  void InstanceNews(const std::string& instance_uuid);

  void Retry(const std::string& uuid, const std::string& who,
             std::function<void(Result<Notification>)> done) override;
  void Cancel(const std::string& uuid, const std::string& who,
              std::function<void(Result<Notification>)> done) override;
  void Unfence(const std::string& host_uuid, const std::string& who,
               std::function<void(Result<Host>)> done) override;
  void CheckHeadroom(const std::string& segment_uuid,
                     std::function<void(Result<ha::SegmentHeadroom>)> done) override;

  struct Stats {
    int64_t active = 0;  // notifications being recovered now
    int64_t queued = 0;  // waiting for their host's earlier notification
    int64_t evacuations_issued = 0;
    int64_t evacuations_succeeded = 0;
    int64_t evacuations_failed = 0;
    int64_t storm_guard_holds = 0;
    int64_t journal_commits = 0;
    int64_t instance_news = 0;  // instance news that made a record be read before its poll
  };
  // REQUIRES: on the loop thread.
  Stats stats() const;
  // The stats as of the last journal commit or queue change. Thread-safe.
  Stats PublishedStats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  EventLoop& loop_;
};

}  // namespace warden::engine
