// What a workflow task may ask of the engine, and nothing more: the cloud's drivers and the
// store, calls with the engine's timeout and retries, waits on the loop's clock, the journal,
// progress details and logs. The life cycle (recovery_engine.cc) owns one and hands it to every
// task of the flows (flows/*.cc).
//
// Threading: on the engine's loop thread only. Lifetime: outlives every coroutine it serves
// (the engine destroys their frames first).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/coro.h"
#include "core/retry.h"
#include "drivers/compute.h"
#include "drivers/fencer.h"
#include "drivers/process_restarter.h"
#include "engine/journal.h"
#include "engine/recovery.h"
#include "engine/recovery_engine.h"

namespace warden::engine {

using Fields = std::vector<std::pair<std::string, std::string>>;

// Whole seconds, rounded, for messages: "within 600 s".
std::string Seconds(int64_t micros);

class TaskContext {
 public:
  struct Deps {
    EventLoop& loop;
    store::Store& store;
    drivers::ComputeDriver& compute;
    drivers::Fencer& fencer;
    drivers::ProcessRestarter* restarter;  // may be null: no agents
    const EngineOptions& options;
    Journal& journal;
    RecoveryEngine::Stats& stats;
    CoroScope& detached;
    // Whether a recovery of this host (by uuid) is under way: it is then no destination.
    std::function<bool(const std::string&)> host_under_recovery;
  };
  explicit TaskContext(Deps deps);

  EventLoop& loop() { return d_.loop; }
  const Clock& clock() const { return d_.loop.clock(); }
  store::Store& store() { return d_.store; }
  drivers::ComputeDriver& compute() { return d_.compute; }
  drivers::Fencer& fencer() { return d_.fencer; }
  drivers::ProcessRestarter* restarter() { return d_.restarter; }
  const EngineOptions& options() const { return d_.options; }
  Journal& journal() { return d_.journal; }
  RecoveryEngine::Stats& stats() { return d_.stats; }
  std::mt19937_64& rng() { return rng_; }
  // Work that must finish even if its recovery ends first (releasing an instance's lock).
  CoroScope& detached() { return d_.detached; }
  bool HostUnderRecovery(const std::string& host_uuid) const {
    return d_.host_under_recovery(host_uuid);
  }

  // --- calls and waits -----------------------------------------------------------------------

  // One driver call: answered within the call timeout (else kDeadlineExceeded), transient
  // errors (IsRetryable) tried again on `policy`'s schedule.
  template <typename T>
  Task<Result<T>> Call(std::function<void(drivers::Callback<T>)> op, RetryPolicy policy);
  template <typename T>
  Task<Result<T>> Call(std::function<void(drivers::Callback<T>)> op) {
    return Call<T>(std::move(op), d_.options.call_retry);
  }
  template <typename T>
  Task<Result<T>> CallOnce(std::function<void(drivers::Callback<T>)> op) {
    return Call<T>(std::move(op), RetryPolicy{.attempts = 1});
  }

  // What a condition check answers: nullopt while not there yet, else the outcome.
  using Check = std::function<Task<std::optional<Result<void>>>()>;
  // Runs `check` every poll interval until it answers or the deadline passes (then
  // kDeadlineExceeded with `what`).
  Task<Result<void>> WaitUntil(MonoMicros deadline, Check check, std::string what);
  // Resumes after `micros` on the loop's clock.
  Answer<bool> Sleep(int64_t micros) { return warden::Sleep(d_.loop, micros); }

  // --- journal, progress, logs ---------------------------------------------------------------

  void SaveNotification(Recovery& rec);
  void SaveMove(const Move& m);
  // The task's entry in recovery_workflow_details (Masakari 1.1), made if missing.
  nlohmann::json& Entry(Recovery& rec, const std::string& task);
  double ProgressOf(Recovery& rec, const std::string& task);
  void Progress(Recovery& rec, const std::string& task, const std::string& message,
                double progress, bool save = true);
  void SetState(Recovery& rec, const std::string& task, const char* state);

  void Log(std::string_view level, std::string_view msg, Fields fields);
  void Log(std::string_view level, std::string_view msg, const Recovery& rec, Fields fields = {});

 private:
  Deps d_;
  std::mt19937_64 rng_;
};

template <typename T>
Task<Result<T>> TaskContext::Call(std::function<void(drivers::Callback<T>)> op,
                                  RetryPolicy policy) {
  const int64_t timeout = d_.options.call_timeout_micros;
  for (int attempt = 1;; ++attempt) {
    Result<T> r = co_await Answer<Result<T>>(
        d_.loop, timeout,
        [timeout] {
          return Result<T>(MakeError(ErrorCode::kDeadlineExceeded,
                                     "no answer within " + Seconds(timeout) + " s"));
        },
        op);
    if (r || !IsRetryable(r.error()) || attempt >= policy.attempts) co_return r;
    co_await Sleep(policy.DelayBefore(attempt + 1, rng_));
  }
}

}  // namespace warden::engine
