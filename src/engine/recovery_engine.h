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
#include "engine/triage.h"
#include "engine/workflow.h"
#include "ha/recovery_control.h"
#include "store/store.h"

namespace warden::engine {

struct EngineOptions {
  TriageOptions triage;
  Workflows workflows;

  // Notification life cycle (Masakari's keys and defaults).
  int64_t process_unfinished_interval_micros = 120'000'000;
  int64_t retry_new_after_micros = 60'000'000;  // a `new` one nobody took is taken again
  int64_t check_expired_interval_micros = 600'000'000;
  int64_t expire_after_micros = 86'400'000'000;
  int max_error_retries = 1;  // error → retried this many times → failed

  // Host failure.
  bool evacuate_all_instances = true;
  bool ignore_instances_in_error_state = false;
  std::string ha_enabled_key = "HA_Enabled";
  std::string service_disable_reason = "Warden detected host failed.";
  int max_parallel_evacuations = 100;     // per segment
  int max_parallel_per_destination = 20;  // per destination host
  int evacuation_attempts = 3;            // per instance, each to another destination
  int64_t evacuation_timeout_micros = 600'000'000;  // accepted → confirmed on the new host
  int64_t fence_timeout_micros = 60'000'000;        // power off → confirmed off
  int64_t poll_interval_micros = 1'000'000;         // condition checks (power, instance state)
  int64_t call_timeout_micros = 30'000'000;         // any one driver call
  RetryPolicy call_retry{.attempts = 5, .delay_micros = 1'000'000, .exponential = true,
                         .max_delay_micros = 30'000'000, .jitter = 0.2};
  // As Masakari's [host_failure] add_reserved_host_to_aggregate: a reserved host taken into
  // service joins every aggregate of the failed host first, so Nova's scheduler accepts it.
  bool add_reserved_host_to_aggregate = false;
  bool stay_in_segment = true;  // destinations only inside the failed host's segment
  // Lock each instance (as Masakari does) while it is moved, so that its owner cannot act on
  // it half-way; an instance its owner had locked is left as it was.
  bool lock_instances = true;

  // Instance failure.
  bool process_all_instances = false;
  bool recover_ignoring_error_instances = false;
  int64_t power_off_timeout_micros = 180'000'000;
  int64_t power_on_timeout_micros = 60'000'000;

  // Process failure.
  std::string process_disable_reason = "Warden detected process failed.";

  uint64_t seed = 0;  // jitter; 0: from the clock

  // Receives the engine's log lines: level ("info", "warning", "error"), message, fields.
  std::function<void(std::string_view, std::string_view,
                     const std::vector<std::pair<std::string, std::string>>&)>
      log;
};

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

  void Retry(const std::string& uuid, const std::string& who,
             std::function<void(Result<Notification>)> done) override;
  void Cancel(const std::string& uuid, const std::string& who,
              std::function<void(Result<Notification>)> done) override;
  void Unfence(const std::string& host_uuid, const std::string& who,
               std::function<void(Result<Host>)> done) override;

  struct Stats {
    int64_t active = 0;  // notifications being recovered now
    int64_t queued = 0;  // waiting for their host's earlier notification
    int64_t evacuations_issued = 0;
    int64_t evacuations_succeeded = 0;
    int64_t evacuations_failed = 0;
    int64_t storm_guard_holds = 0;
    int64_t journal_commits = 0;
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
