// The single-threaded owner of engine state: tasks and timers run one at a time on the loop.
//
// Everything the engine and the simulated cloud do happens in tasks on one EventLoop, so their
// state needs no locks (STYLE.md: state has one owner). Work that must block (store commits,
// HTTP calls to a real cloud) runs elsewhere and posts its result back through BindToLoop,
// which also tells a simulated loop that a result is still to come.
//
// Two implementations: ThreadEventLoop (a real thread, real time) and SimulatedEventLoop
// (driven by a test or a benchmark; time jumps straight to the next due timer, so an hour of
// recovery runs in milliseconds and always in the same order).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

#include "core/clock.h"

namespace warden {

using TimerId = uint64_t;

class EventLoop {
 public:
  virtual ~EventLoop() = default;

  virtual const Clock& clock() const = 0;

  // Runs fn on the loop after the tasks already posted. Thread-safe.
  virtual void Post(std::function<void()> fn) = 0;
  // Runs fn on the loop once clock().Monotonic() >= when. Thread-safe. Timers due at the same
  // time run in the order they were set.
  virtual TimerId RunAt(MonoMicros when, std::function<void()> fn) = 0;
  TimerId RunAfter(int64_t micros, std::function<void()> fn) {
    return RunAt(clock().Monotonic() + micros, std::move(fn));
  }
  // Cancels a timer that has not run yet; a no-op otherwise. Thread-safe.
  virtual void Cancel(TimerId id) = 0;

  // An operation outside the loop has started and will Post its result: a simulated loop does
  // not move time forward until every such operation has ended. Use BindToLoop.
  virtual void BeginExternal() = 0;
  virtual void EndExternal() = 0;
  // Post(fn) and EndExternal() as one step: a simulated loop may be destroyed as soon as the
  // task has run, so the poster must not touch it after posting.
  virtual void PostExternal(std::function<void()> fn) {
    Post(std::move(fn));
    EndExternal();
  }
};

// Wraps `fn` into a callback that may be called once from any thread: it posts fn with the
// arguments to `loop`. Counts as an outstanding external operation until then.
template <typename... Args>
std::function<void(Args...)> BindToLoop(EventLoop& loop,
                                        std::type_identity_t<std::function<void(Args...)>> fn) {
  loop.BeginExternal();
  return [&loop, fn = std::move(fn)](Args... args) mutable {
    loop.PostExternal(
        [fn = std::move(fn), ... args = std::move(args)]() mutable { fn(std::move(args)...); });
  };
}

// A loop on its own thread, on real time. Stop() (or the destructor) finishes the task being
// run, drops the rest and joins.
class ThreadEventLoop final : public EventLoop {
 public:
  explicit ThreadEventLoop(const Clock& clock);
  ~ThreadEventLoop() override;

  const Clock& clock() const override { return clock_; }
  void Post(std::function<void()> fn) override;
  TimerId RunAt(MonoMicros when, std::function<void()> fn) override;
  void Cancel(TimerId id) override;
  void BeginExternal() override {}
  void EndExternal() override {}

  // Runs fn on the loop and waits for it. REQUIRES: not called on the loop's thread.
  void RunSync(const std::function<void()>& fn);
  void Stop();

 private:
  void Run();

  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;                         // guarded by mu_
  std::map<std::pair<MonoMicros, TimerId>, std::function<void()>> timers_;  // guarded by mu_
  std::map<TimerId, MonoMicros> timer_due_;                          // guarded by mu_
  TimerId next_timer_ = 1;                                           // guarded by mu_
  bool stopping_ = false;                                            // guarded by mu_
  std::thread thread_;
};

// A loop run by its caller on a SimulatedClock it owns.
class SimulatedEventLoop final : public EventLoop {
 public:
  explicit SimulatedEventLoop(WallMicros start = 1'700'000'000'000'000) : clock_(start) {}

  const Clock& clock() const override { return clock_; }
  SimulatedClock& simulated_clock() { return clock_; }
  void Post(std::function<void()> fn) override;
  TimerId RunAt(MonoMicros when, std::function<void()> fn) override;
  void Cancel(TimerId id) override;
  void BeginExternal() override;
  void EndExternal() override;
  void PostExternal(std::function<void()> fn) override;

  // Runs tasks, and timers in due order moving the clock to each, until `done()` holds after
  // a task, or simulated time would pass `until`, or nothing is left to run. While an external
  // operation is outstanding, waits for it in real time instead of moving the clock.
  // Returns done().
  bool RunUntil(const std::function<bool()>& done, MonoMicros until);
  // Runs for `micros` of simulated time; the clock ends exactly `micros` later.
  void RunFor(int64_t micros);
  // Runs what is ready now (and outstanding externals) without moving the clock.
  void RunReady();

  int64_t tasks_run() const { return tasks_run_; }

 private:
  // Runs one ready task, or waits for an external if any; false if neither.
  bool Step();

  SimulatedClock clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;                                 // guarded by mu_
  std::map<std::pair<MonoMicros, TimerId>, std::function<void()>> timers_;  // guarded by mu_
  std::map<TimerId, MonoMicros> timer_due_;                                  // guarded by mu_
  TimerId next_timer_ = 1;                                                   // guarded by mu_
  int64_t externals_ = 0;                                                    // guarded by mu_
  int64_t tasks_run_ = 0;
};

}  // namespace warden
