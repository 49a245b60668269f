#include "core/event_loop.h"

#include <chrono>

namespace warden {

// --- ThreadEventLoop -------------------------------------------------------------------------

ThreadEventLoop::ThreadEventLoop(const Clock& clock) : clock_(clock) {
  thread_ = std::thread([this] { Run(); });
}

ThreadEventLoop::~ThreadEventLoop() { Stop(); }

void ThreadEventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

TimerId ThreadEventLoop::RunAt(MonoMicros when, std::function<void()> fn) {
  TimerId id;
  {
    std::lock_guard lock(mu_);
    id = next_timer_++;
    if (stopping_) return id;
    timers_.emplace(std::make_pair(when, id), std::move(fn));
    timer_due_.emplace(id, when);
  }
  cv_.notify_one();
  return id;
}

void ThreadEventLoop::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  auto it = timer_due_.find(id);
  if (it == timer_due_.end()) return;
  timers_.erase({it->second, id});
  timer_due_.erase(it);
}

void ThreadEventLoop::RunSync(const std::function<void()>& fn) {
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  Post([&] {
    fn();
    std::lock_guard lock(done_mu);
    done = true;
    done_cv.notify_one();
  });
  std::unique_lock lock(done_mu);
  done_cv.wait(lock, [&] {
    if (done) return true;
    std::lock_guard l(mu_);
    return stopping_;
  });
}

void ThreadEventLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  tasks_.clear();
  timers_.clear();
  timer_due_.clear();
}

void ThreadEventLoop::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::function<void()> fn;
    if (!tasks_.empty()) {
      fn = std::move(tasks_.front());
      tasks_.pop_front();
    } else if (!timers_.empty()) {
      auto it = timers_.begin();
      const MonoMicros now = clock_.Monotonic();
      if (it->first.first <= now) {
        fn = std::move(it->second);
        timer_due_.erase(it->first.second);
        timers_.erase(it);
      } else {
        cv_.wait_for(lock, std::chrono::microseconds(it->first.first - now));
        continue;
      }
    } else {
      cv_.wait(lock);
      continue;
    }
    lock.unlock();
    fn();
    fn = nullptr;  // destroy captures outside the lock
    lock.lock();
  }
}

// --- SimulatedEventLoop ----------------------------------------------------------------------

// Here notifications are made under the lock: once a waiting Step can go on, its caller may
// run the task, finish and destroy the loop, so nothing of the loop is touched after the unlock.
void SimulatedEventLoop::Post(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  tasks_.push_back(std::move(fn));
  cv_.notify_one();
}

void SimulatedEventLoop::PostExternal(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  tasks_.push_back(std::move(fn));
  --externals_;
  cv_.notify_one();
}

TimerId SimulatedEventLoop::RunAt(MonoMicros when, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  TimerId id = next_timer_++;
  timers_.emplace(std::make_pair(when, id), std::move(fn));
  timer_due_.emplace(id, when);
  return id;
}

void SimulatedEventLoop::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  auto it = timer_due_.find(id);
  if (it == timer_due_.end()) return;
  timers_.erase({it->second, id});
  timer_due_.erase(it);
}

void SimulatedEventLoop::BeginExternal() {
  std::lock_guard lock(mu_);
  ++externals_;
}

void SimulatedEventLoop::EndExternal() {
  std::lock_guard lock(mu_);
  --externals_;
  cv_.notify_one();
}

bool SimulatedEventLoop::Step() {
  std::unique_lock lock(mu_);
  // An external's result is posted before its count drops, so waiting for "a task or no
  // externals" never misses one.
  cv_.wait(lock, [&] { return !tasks_.empty() || externals_ == 0; });
  if (tasks_.empty()) return false;
  auto fn = std::move(tasks_.front());
  tasks_.pop_front();
  lock.unlock();
  ++tasks_run_;
  fn();
  return true;
}

void SimulatedEventLoop::RunReady() {
  while (Step()) {
  }
}

bool SimulatedEventLoop::RunUntil(const std::function<bool()>& done, MonoMicros until) {
  while (true) {
    while (Step()) {
      if (done()) return true;
    }
    if (done()) return true;
    std::function<void()> fn;
    {
      std::lock_guard lock(mu_);
      if (timers_.empty()) return false;
      auto it = timers_.begin();
      if (it->first.first > until) return false;
      if (it->first.first > clock_.Monotonic()) clock_.Advance(it->first.first - clock_.Monotonic());
      fn = std::move(it->second);
      timer_due_.erase(it->first.second);
      timers_.erase(it);
    }
    ++tasks_run_;
    fn();
    if (done()) return true;
  }
}

void SimulatedEventLoop::RunFor(int64_t micros) {
  const MonoMicros until = clock_.Monotonic() + micros;
  RunUntil([] { return false; }, until);
  if (clock_.Monotonic() < until) clock_.Advance(until - clock_.Monotonic());
}

}  // namespace warden
