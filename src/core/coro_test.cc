#include "core/coro.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace warden {
namespace {

constexpr int64_t kSecond = 1'000'000;

// Sets a flag when destroyed: tells whether a frame's locals were destroyed.
struct Witness {
  bool* destroyed;
  ~Witness() { *destroyed = true; }
};

Task<int> AddAfter(EventLoop& loop, int a, int b, int64_t micros) {
  co_await Sleep(loop, micros);
  co_return a + b;
}

Task<std::vector<int64_t>> Steps(EventLoop& loop) {
  std::vector<int64_t> at;
  at.push_back(loop.clock().Monotonic());
  int x = co_await AddAfter(loop, 1, 2, 5 * kSecond);
  at.push_back(loop.clock().Monotonic());
  int y = co_await AddAfter(loop, x, 10, 2 * kSecond);
  at.push_back(loop.clock().Monotonic());
  at.push_back(y);
  co_return at;
}

TEST(CoroTest, TasksRunInOrderOnSimulatedTime) {
  SimulatedEventLoop loop;
  CoroScope scope;
  std::vector<int64_t> out;
  scope.Spawn([](EventLoop& loop, std::vector<int64_t>* out) -> Task<void> {
    *out = co_await Steps(loop);
  }(loop, &out));
  EXPECT_EQ(scope.size(), 1u);
  loop.RunUntil([&] { return !out.empty(); }, 60 * kSecond);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 5 * kSecond);
  EXPECT_EQ(out[2], 7 * kSecond);
  EXPECT_EQ(out[3], 13);
  EXPECT_EQ(scope.size(), 0u);  // ended tasks leave the scope
}

TEST(CoroTest, AnAnswerResumesWithItsValueAndLaterCallsAreIgnored) {
  SimulatedEventLoop loop;
  CoroScope scope;
  std::function<void(Result<int>)> cb;
  std::vector<int> got;
  scope.Spawn([](std::function<void(Result<int>)>* cb, std::vector<int>* got) -> Task<void> {
    Result<int> r = co_await Answer<Result<int>>([cb](auto c) { *cb = c; });
    got->push_back(r.value());
  }(&cb, &got));
  ASSERT_TRUE(cb);
  EXPECT_TRUE(got.empty());
  cb(41);
  cb(42);  // a second answer does not resume anything
  EXPECT_EQ(got, std::vector<int>{41});
}

TEST(CoroTest, AnAnswerGivenInsideStartDoesNotSuspend) {
  CoroScope scope;
  int got = 0;
  scope.Spawn([](int* got) -> Task<void> {
    *got = co_await Answer<int>([](auto c) { c(7); });
  }(&got));
  EXPECT_EQ(got, 7);
  EXPECT_EQ(scope.size(), 0u);
}

TEST(CoroTest, ATimeoutAnswersWhenTheOperationDoesNotAndItsLateAnswerIsDropped) {
  SimulatedEventLoop loop;
  CoroScope scope;
  std::function<void(Result<int>)> cb;
  std::optional<Result<int>> got;
  int64_t at = -1;
  scope.Spawn([](EventLoop& loop, std::function<void(Result<int>)>* cb,
                 std::optional<Result<int>>* got, int64_t* at) -> Task<void> {
    Result<int> r = co_await Answer<Result<int>>(
        loop, 30 * kSecond,
        [] { return Result<int>(MakeError(ErrorCode::kDeadlineExceeded, "no answer")); },
        [cb](auto c) { *cb = c; });
    *at = loop.clock().Monotonic();
    got->emplace(std::move(r));
  }(loop, &cb, &got, &at));
  loop.RunUntil([&] { return got.has_value(); }, 100 * kSecond);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->has_value());
  EXPECT_EQ(got->error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(at, 30 * kSecond);
  cb(5);  // the operation answers at last: nothing happens
  EXPECT_FALSE(got->has_value());
}

TEST(CoroTest, AnAnswerBeforeTheDeadlineCancelsTheTimer) {
  SimulatedEventLoop loop;
  CoroScope scope;
  std::optional<int> got;
  scope.Spawn([](EventLoop& loop, std::optional<int>* got) -> Task<void> {
    int v = co_await Answer<int>(loop, 30 * kSecond, [] { return -1; },
                                 [&loop](auto c) { loop.RunAfter(kSecond, [c] { c(3); }); });
    *got = v;
  }(loop, &got));
  loop.RunUntil([] { return false; }, 100 * kSecond);
  EXPECT_EQ(got, 3);
  // Nothing was left to run after the answer: the timeout timer went with it.
  EXPECT_EQ(loop.clock().Monotonic(), kSecond);
}

TEST(CoroTest, CancelDestroysSuspendedFramesAndTheirAnswersAreDropped) {
  SimulatedEventLoop loop;
  std::function<void(int)> cb;
  bool destroyed = false, resumed = false;
  {
    CoroScope scope;
    scope.Spawn([](std::function<void(int)>* cb, bool* destroyed, bool* resumed) -> Task<void> {
      Witness w{destroyed};
      co_await Answer<int>([cb](auto c) { *cb = c; });
      *resumed = true;
    }(&cb, &destroyed, &resumed));
    EXPECT_FALSE(destroyed);
    scope.Cancel();
    EXPECT_TRUE(destroyed);
    EXPECT_TRUE(scope.cancelled());
    EXPECT_EQ(scope.size(), 0u);
    // A cancelled scope starts nothing more.
    bool started = false;
    scope.Spawn([](bool* started) -> Task<void> {
      *started = true;
      co_return;
    }(&started));
    EXPECT_FALSE(started);
  }
  cb(1);  // after the frame and the scope are gone
  EXPECT_FALSE(resumed);
}

TEST(CoroTest, CancelFromInsideATaskEndsItAtItsNextSuspension) {
  SimulatedEventLoop loop;
  CoroScope scope;
  std::vector<std::string> trace;
  bool destroyed = false;
  scope.Spawn([](EventLoop& loop, CoroScope* scope, std::vector<std::string>* trace,
                 bool* destroyed) -> Task<void> {
    Witness w{destroyed};
    trace->push_back("before cancel");
    scope->Cancel();
    trace->push_back("after cancel");  // the running code goes on to its next suspension
    co_await Sleep(loop, kSecond);
    trace->push_back("after sleep");
  }(loop, &scope, &trace, &destroyed));
  EXPECT_TRUE(destroyed);
  loop.RunFor(5 * kSecond);
  EXPECT_EQ(trace, (std::vector<std::string>{"before cancel", "after cancel"}));
}

TEST(CoroTest, DestroyingTheScopeDestroysNestedFrames) {
  SimulatedEventLoop loop;
  bool outer = false, inner = false;
  {
    CoroScope scope;
    scope.Spawn([](EventLoop& loop, bool* outer, bool* inner) -> Task<void> {
      Witness w{outer};
      co_await [](EventLoop& loop, bool* inner) -> Task<void> {
        Witness w{inner};
        co_await Sleep(loop, 10 * kSecond);
      }(loop, inner);
    }(loop, &outer, &inner));
    loop.RunFor(kSecond);
    EXPECT_FALSE(outer);
    EXPECT_FALSE(inner);
  }
  EXPECT_TRUE(outer);
  EXPECT_TRUE(inner);
  loop.RunFor(20 * kSecond);  // the sleep's timer went with its frame
}

Task<void> Hold(EventLoop& loop, KeyedSlots& slots, std::string key, int64_t micros,
                std::vector<std::string>* trace, std::string name) {
  KeyedSlots::Lease lease = co_await slots.Acquire(key);
  trace->push_back(name + "@" + std::to_string(loop.clock().Monotonic() / kSecond));
  co_await Sleep(loop, micros);
}

TEST(CoroTest, KeyedSlotsBoundEachKeyAndServeInOrder) {
  SimulatedEventLoop loop;
  KeyedSlots slots(loop, 2);
  CoroScope scope;
  std::vector<std::string> trace;
  for (std::string name : {"a", "b", "c", "d"}) {
    scope.Spawn(Hold(loop, slots, "h1", 10 * kSecond, &trace, name));
  }
  scope.Spawn(Hold(loop, slots, "h2", 10 * kSecond, &trace, "x"));
  EXPECT_EQ(slots.used("h1"), 2);
  loop.RunUntil([&] { return scope.size() == 0; }, 100 * kSecond);
  EXPECT_EQ(trace, (std::vector<std::string>{"a@0", "b@0", "x@0", "c@10", "d@10"}));
  loop.RunReady();  // the last slots come back through the loop
  EXPECT_EQ(slots.used("h1"), 0);
  EXPECT_EQ(slots.used("h2"), 0);
}

// A key's bound changes while leases are out: a higher one lets waiters in at once, a lower
// one takes nothing back but admits no one until enough leases are given back.
TEST(CoroTest, KeyedSlotsLimitsPerKeyCanGrowAndShrink) {
  SimulatedEventLoop loop;
  KeyedSlots slots(loop, 4);
  slots.SetLimit("h", 1);
  EXPECT_EQ(slots.limit("h"), 1);
  EXPECT_EQ(slots.limit("other"), 4);
  CoroScope scope;
  std::vector<std::string> trace;
  for (std::string name : {"a", "b", "c", "d", "e"}) {
    scope.Spawn(Hold(loop, slots, "h", 10 * kSecond, &trace, name));
  }
  EXPECT_EQ(slots.used("h"), 1);
  loop.RunFor(kSecond);
  slots.SetLimit("h", 3);  // b and c start now
  loop.RunReady();
  EXPECT_EQ(slots.used("h"), 3);
  slots.SetLimit("h", 1);  // a ends at 10 s, b and c at 11 s: d waits for all of them
  loop.RunUntil([&] { return scope.size() == 0; }, 100 * kSecond);
  EXPECT_EQ(trace,
            (std::vector<std::string>{"a@0", "b@1", "c@1", "d@11", "e@21"}));
  loop.RunReady();
  EXPECT_EQ(slots.used("h"), 0);
  slots.SetLimit("h", 0);
  EXPECT_EQ(slots.limit("h"), 1);  // never below one
}

TEST(CoroTest, ACancelledHolderGivesItsSlotBackAndACancelledWaiterIsSkipped) {
  SimulatedEventLoop loop;
  KeyedSlots slots(loop, 1);
  std::vector<std::string> trace;
  CoroScope holder, waiter, last;
  holder.Spawn(Hold(loop, slots, "h", 100 * kSecond, &trace, "holder"));
  waiter.Spawn(Hold(loop, slots, "h", 10 * kSecond, &trace, "waiter"));
  last.Spawn(Hold(loop, slots, "h", 10 * kSecond, &trace, "last"));
  loop.RunFor(kSecond);
  waiter.Cancel();  // waits in the queue: must not be given the slot
  holder.Cancel();  // holds the slot: gives it back
  loop.RunFor(kSecond);
  EXPECT_EQ(trace, (std::vector<std::string>{"holder@0", "last@1"}));
  loop.RunFor(20 * kSecond);
  EXPECT_EQ(slots.used("h"), 0);
}

TEST(CoroTest, YieldResumesInALaterTurnAfterWhatWasPosted) {
  SimulatedEventLoop loop;
  CoroScope scope;
  std::vector<std::string> trace;
  loop.Post([&] { trace.push_back("posted before"); });
  scope.Spawn([](EventLoop& loop, std::vector<std::string>* trace) -> Task<void> {
    trace->push_back("before yield");
    co_await Yield(loop);
    trace->push_back("after yield");
  }(loop, &trace));
  EXPECT_EQ(trace, std::vector<std::string>{"before yield"});
  loop.RunReady();
  EXPECT_EQ(trace, (std::vector<std::string>{"before yield", "posted before", "after yield"}));
  EXPECT_EQ(loop.clock().Monotonic(), 0);
}

TEST(CoroTest, ASlotNobodyWaitsForIsFreeAtOnce) {
  SimulatedEventLoop loop;
  KeyedSlots slots(loop, 1);
  CoroScope scope;
  std::vector<std::string> trace;
  scope.Spawn(Hold(loop, slots, "h", kSecond, &trace, "only"));
  EXPECT_EQ(slots.used("h"), 1);
  loop.RunUntil([&] { return scope.size() == 0; }, 10 * kSecond);
  EXPECT_EQ(slots.used("h"), 0);  // no loop turn needed
}

// Counts its live copies.
struct Counted {
  static inline int live = 0;
  Counted() { ++live; }
  Counted(const Counted&) { ++live; }
  ~Counted() { --live; }
};

Task<int> CallIt(std::function<int()> fn) { co_return fn(); }

// g++ 12 destroys a closure converted to a std::function argument inside a co_await twice
// (coro.h's rules): a closure that owns something is named first, and then every copy is
// destroyed exactly once.
TEST(CoroTest, GccTwiceDestroyedClosure) {
  CoroScope scope;
  int got = 0;
  scope.Spawn([](int* got) -> Task<void> {
    Counted owned;
    std::function<int()> fn = [owned] { return 5; };
    *got = co_await CallIt(std::move(fn));
  }(&got));
  EXPECT_EQ(got, 5);
  EXPECT_EQ(Counted::live, 0);
}

}  // namespace
}  // namespace warden
