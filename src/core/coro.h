// Coroutines on an EventLoop, so that a multi-step operation reads top to bottom: a lazily
// started Task<T>, a CoroScope that owns detached tasks and ends them all at once, and the
// awaitables they suspend on — a callback's answer with an optional deadline (Answer), a pause
// on the loop's clock (Sleep), and counted slots per key (KeyedSlots).
//
//   Task<Result<int>> Twice(EventLoop& loop, Driver& d) {
//     Result<int> a = co_await Answer<Result<int>>([&](auto cb) { d.Get(cb); });
//     co_await Sleep(loop, 1'000'000);   // simulated time on a SimulatedEventLoop
//     co_return a;
//   }
//
// Threading: every coroutine of a scope runs on one EventLoop's thread, and every answer must
// arrive on it (the drivers' contract; BindToLoop brings other threads' answers there).
//
// Lifetime and cancellation. A Task owns its frame and destroys it with itself; awaiting a
// task runs it to its end and hands back its value. CoroScope::Spawn starts a task that nobody
// awaits and the scope owns. Cancel() ends every task of the scope: none is resumed again, and
// each suspended frame is destroyed — at once, or, when one of the scope's coroutines is running
// (it may have called Cancel itself), as soon as it suspends. Destroying a frame runs the
// destructors of its locals, so RAII holds there (a KeyedSlots::Lease gives its slot back, a
// pending Answer forgets its callback and its timer). An answer that arrives for a destroyed
// frame is dropped.
//
// g++ 12 rules, kept by every coroutine in Warden:
// - Parameters are taken by value, or refer to objects that outlive the frame.
// - A co_await stands alone in a statement or an initializer (`T x = co_await ...;`,
//   `co_return co_await ...;`), never inside a larger expression.
// - Inside a co_await's expression, g++ 12 destroys some temporaries twice: a closure
//   converted to a std::function argument, the result of a conditional operator. That is
//   harmless only for what owns nothing, so there a lambda captures by reference only (`[&]`)
//   and an argument is a name, a literal or a call's result; a lambda that must own copies (a
//   journal write) or a computed choice is put in a named variable first (see coro_test's
//   GccTwiceDestroyedClosure).
#pragma once

#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/event_loop.h"

namespace warden {

namespace coro_detail {

// What a scope's coroutines share: whether it was cancelled, how many of its resumptions are
// under way, and the frames of its detached tasks.
struct ScopeState {
  bool cancelled = false;
  int running = 0;
  std::set<void*> roots;

  // Destroys every detached frame. Safe to re-enter (a frame's destruction may end the
  // object that owns the scope).
  void DestroyAll() {
    while (!roots.empty()) {
      void* frame = *roots.begin();
      roots.erase(roots.begin());
      std::coroutine_handle<>::from_address(frame).destroy();
    }
  }
};

// Resumes `h`, counted as running in its scope; a cancelled scope's frames are destroyed once
// none of them runs any more.
inline void ResumeIn(std::coroutine_handle<> h, std::shared_ptr<ScopeState> scope) {
  if (!scope) return h.resume();
  ++scope->running;
  h.resume();
  if (--scope->running == 0 && scope->cancelled) scope->DestroyAll();
}

// A suspended coroutine, resumed at most once: not after its awaiter let go of it (the frame
// was destroyed) nor after its scope was cancelled.
struct Resumer {
  std::coroutine_handle<> handle;
  std::shared_ptr<ScopeState> scope;

  bool Live() const { return handle && !(scope && scope->cancelled); }
  void Resume() {
    if (!Live()) return;
    ResumeIn(std::exchange(handle, {}), scope);
  }
};

struct PromiseBase {
  std::coroutine_handle<> continuation;
  std::shared_ptr<ScopeState> scope;  // inherited from the awaiting coroutine

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      auto next = h.promise().continuation;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  // Warden does not throw across its own code; an exception escaping a task is a bug.
  void unhandled_exception() noexcept { std::terminate(); }
};

template <typename T>
struct TaskPromise : PromiseBase {
  std::optional<T> value;
  void return_value(T v) { value.emplace(std::move(v)); }
  T Take() { return std::move(*value); }
};
template <>
struct TaskPromise<void> : PromiseBase {
  void return_void() {}
  void Take() {}
};

}  // namespace coro_detail

// A coroutine that starts when awaited and hands its caller a T. Move-only; destroying it
// destroys its frame.
template <typename T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : coro_detail::TaskPromise<T> {
    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
  };

  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  template <typename P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
    h_.promise().continuation = caller;
    h_.promise().scope = caller.promise().scope;
    return h_;
  }
  T await_resume() { return h_.promise().Take(); }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

// Owns detached tasks. REQUIRES: used on the loop thread its coroutines run on.
class CoroScope {
 public:
  CoroScope() : state_(std::make_shared<coro_detail::ScopeState>()) {}
  CoroScope(const CoroScope&) = delete;
  CoroScope& operator=(const CoroScope&) = delete;
  // Destroys the frames still suspended; their answers that arrive later are dropped.
  ~CoroScope() {
    auto state = state_;
    state->cancelled = true;
    state->DestroyAll();
  }

  // Runs `task` now, up to its first suspension; the scope owns it until it ends. A cancelled
  // scope starts nothing.
  void Spawn(Task<void> task) {
    if (state_->cancelled) return;
    Detached d = RunDetached(std::move(task));
    d.handle.promise().scope = state_;
    state_->roots.insert(d.handle.address());
    coro_detail::ResumeIn(d.handle, state_);
  }

  // Ends every task of the scope (see the file comment). `this` may be destroyed by it: an
  // ended frame may hold the last reference to the scope's owner.
  void Cancel() {
    auto state = state_;
    if (state->cancelled) return;
    state->cancelled = true;
    if (state->running == 0) state->DestroyAll();
  }

  bool cancelled() const { return state_->cancelled; }
  // Detached tasks not yet ended.
  size_t size() const { return state_->roots.size(); }

 private:
  struct Detached {
    struct promise_type : coro_detail::PromiseBase {
      Detached get_return_object() {
        return {std::coroutine_handle<promise_type>::from_promise(*this)};
      }
      std::suspend_never final_suspend() noexcept { return {}; }
      void return_void() {}
      ~promise_type() {
        if (scope) scope->roots.erase(std::coroutine_handle<promise_type>::from_promise(*this).address());
      }
    };
    std::coroutine_handle<promise_type> handle;
  };
  static Detached RunDetached(Task<void> task) { co_await task; }

  std::shared_ptr<coro_detail::ScopeState> state_;
};

// Awaits the one answer of an operation that takes a callback: `start` is called with the
// callback when the coroutine suspends. With a loop and a timeout, `on_timeout()` is the answer
// if none came within `timeout_micros` (the operation's own answer is then ignored). The
// callback may be called from inside `start`, and at most its first call counts.
template <typename T>
class [[nodiscard]] Answer {
 public:
  using Start = std::function<void(std::function<void(T)>)>;

  explicit Answer(Start start) : start_(std::move(start)) {}
  Answer(EventLoop& loop, int64_t timeout_micros, std::function<T()> on_timeout, Start start)
      : start_(std::move(start)),
        loop_(&loop),
        timeout_micros_(timeout_micros),
        on_timeout_(std::move(on_timeout)) {}
  Answer(Answer&&) = default;
  ~Answer() {
    if (!slot_) return;
    slot_->gone = true;
    slot_->resumer.handle = {};
    slot_->CancelTimer();
  }

  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) {
    slot_ = std::make_shared<Slot>();
    slot_->resumer.scope = h.promise().scope;
    slot_->loop = loop_;
    auto slot = slot_;
    if (loop_) {
      slot->timer = loop_->RunAfter(timeout_micros_, [slot, f = on_timeout_] {
        slot->timer = 0;
        Deliver(slot, f());
      });
    }
    slot->starting = true;
    start_([slot](T v) { Deliver(slot, std::move(v)); });
    slot->starting = false;
    if (slot->value) return false;  // answered inside start: go on without suspending
    slot->resumer.handle = h;
    return true;
  }
  T await_resume() { return std::move(*slot_->value); }

 private:
  struct Slot {
    coro_detail::Resumer resumer;
    std::optional<T> value;
    EventLoop* loop = nullptr;
    TimerId timer = 0;
    bool starting = false;
    bool gone = false;  // the awaiter (and its frame) no longer exist

    void CancelTimer() {
      if (timer != 0 && loop) loop->Cancel(timer);
      timer = 0;
    }
  };
  static void Deliver(const std::shared_ptr<Slot>& slot, T v) {
    if (slot->gone || slot->value) return;
    slot->value.emplace(std::move(v));
    slot->CancelTimer();
    if (!slot->starting) slot->resumer.Resume();
  }

  Start start_;
  EventLoop* loop_ = nullptr;
  int64_t timeout_micros_ = 0;
  std::function<T()> on_timeout_;
  std::shared_ptr<Slot> slot_;
};

// Resumes after `micros` of the loop's time (at once for micros <= 0, still through the loop).
inline Answer<bool> Sleep(EventLoop& loop, int64_t micros) {
  return Answer<bool>(loop, micros, [] { return true; }, [](std::function<void(bool)>) {});
}

// Resumes from a task posted to the loop: after what is already posted, in a later turn.
inline Answer<bool> Yield(EventLoop& loop) {
  return Answer<bool>([&loop](std::function<void(bool)> resume) {
    loop.Post([resume = std::move(resume)] { resume(true); });
  });
}

// Runs `tasks` side by side in `scope` and resumes once every one has ended (at once if there
// are none). If the scope is cancelled, the tasks and the waiter end with it.
inline Task<void> WhenAll(CoroScope& scope, std::vector<Task<void>> tasks) {
  if (tasks.empty()) co_return;
  auto left = std::make_shared<size_t>(tasks.size());
  co_await Answer<bool>([&](std::function<void(bool)> all_done) {
    for (auto& t : tasks) {
      scope.Spawn([](Task<void> t, std::shared_ptr<size_t> left,
                     std::function<void(bool)> all_done) -> Task<void> {
        co_await t;
        if (--*left == 0) all_done(true);
      }(std::move(t), left, all_done));
    }
  });
}

// Counted slots per key (say, evacuations per destination host), taken in the order asked.
// A lease gives its slot back when it is reset or destroyed — also when its coroutine's frame
// is destroyed by a cancel. Handing a freed slot to the next waiter goes through the loop.
// REQUIRES: used on the loop's thread; outlives every lease and waiter.
class KeyedSlots {
  using Waiter = coro_detail::Resumer;

 public:
  KeyedSlots(EventLoop& loop, int limit)
      : loop_(loop), limit_(limit), alive_(std::make_shared<bool>(true)) {}
  ~KeyedSlots() { *alive_ = false; }
  KeyedSlots(const KeyedSlots&) = delete;
  KeyedSlots& operator=(const KeyedSlots&) = delete;

  class [[nodiscard]] Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : slots_(std::exchange(o.slots_, nullptr)), key_(std::move(o.key_)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        reset();
        slots_ = std::exchange(o.slots_, nullptr);
        key_ = std::move(o.key_);
      }
      return *this;
    }
    ~Lease() { reset(); }
    void reset() {
      if (slots_) std::exchange(slots_, nullptr)->Release(key_);
    }

   private:
    friend class KeyedSlots;
    Lease(KeyedSlots* slots, std::string key) : slots_(slots), key_(std::move(key)) {}
    KeyedSlots* slots_ = nullptr;
    std::string key_;
  };

  class [[nodiscard]] Acquirer {
   public:
    Acquirer(KeyedSlots& slots, std::string key) : slots_(slots), key_(std::move(key)) {}
    ~Acquirer() {
      if (waiter_) waiter_->handle = {};
    }
    bool await_ready() {
      int& used = slots_.used_[key_];
      if (used >= slots_.limit(key_)) return false;
      ++used;
      return true;
    }
    template <typename P>
    void await_suspend(std::coroutine_handle<P> h) {
      waiter_ = std::make_shared<Waiter>(Waiter{h, h.promise().scope});
      slots_.waiters_[key_].push_back(waiter_);
    }
    Lease await_resume() { return Lease(&slots_, key_); }

   private:
    KeyedSlots& slots_;
    std::string key_;
    std::shared_ptr<Waiter> waiter_;
  };

  Acquirer Acquire(std::string key) { return Acquirer(*this, std::move(key)); }

  int used(const std::string& key) const {
    auto it = used_.find(key);
    return it == used_.end() ? 0 : it->second;
  }

  // The bound of one key (the constructor's for keys never set). A higher one lets waiters
  // in now; a lower one takes no lease back: new ones wait until enough are given back.
  void SetLimit(const std::string& key, int limit) {
    limits_[key] = std::max(1, limit);
    for (int free = limits_[key] - used(key); free > 0 && waiters_.contains(key); --free) {
      ++used_[key];
      loop_.Post([this, alive = std::weak_ptr<bool>(alive_), key] {
        if (auto a = alive.lock(); a && *a) Grant(key);
      });
    }
  }
  int limit(const std::string& key) const {
    auto it = limits_.find(key);
    return it == limits_.end() ? limit_ : it->second;
  }

 private:
  // Nobody waiting, or more leases out than the bound now allows: the slot is given back at
  // once. Otherwise it goes to the next waiter through the loop.
  void Release(const std::string& key) {
    if (!waiters_.contains(key) || used(key) > limit(key)) {
      if (--used_[key] == 0) used_.erase(key);
      return;
    }
    loop_.Post([this, alive = std::weak_ptr<bool>(alive_), key] {
      if (auto a = alive.lock(); a && *a) Grant(key);
    });
  }
  // The freed slot goes to the first waiter still alive, else back to the count.
  void Grant(const std::string& key) {
    auto it = waiters_.find(key);
    while (it != waiters_.end() && !it->second.empty()) {
      auto w = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) waiters_.erase(it);
      if (w->Live()) return w->Resume();
      it = waiters_.find(key);
    }
    if (--used_[key] == 0) used_.erase(key);
  }

  EventLoop& loop_;
  const int limit_;
  std::map<std::string, int> limits_;  // set by SetLimit
  std::map<std::string, int> used_;
  std::map<std::string, std::deque<std::shared_ptr<Waiter>>> waiters_;
  std::shared_ptr<bool> alive_;  // posted grants check it: the slots may go first
};

}  // namespace warden
