#include "core/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace warden {
namespace {

TEST(SimulatedEventLoop, TimersRunInDueOrderAndMoveTheClock) {
  SimulatedEventLoop loop;
  std::vector<std::pair<int, MonoMicros>> ran;
  const MonoMicros t0 = loop.clock().Monotonic();
  loop.RunAfter(3'000'000, [&] { ran.push_back({3, loop.clock().Monotonic() - t0}); });
  loop.RunAfter(1'000'000, [&] { ran.push_back({1, loop.clock().Monotonic() - t0}); });
  loop.RunAfter(1'000'000, [&] { ran.push_back({2, loop.clock().Monotonic() - t0}); });
  loop.Post([&] { ran.push_back({0, loop.clock().Monotonic() - t0}); });
  loop.RunFor(3'600'000'000);  // an hour, instantly
  ASSERT_EQ(ran.size(), 4u);
  EXPECT_EQ(ran[0], std::make_pair(0, MonoMicros(0)));
  EXPECT_EQ(ran[1], std::make_pair(1, MonoMicros(1'000'000)));
  EXPECT_EQ(ran[2], std::make_pair(2, MonoMicros(1'000'000)));
  EXPECT_EQ(ran[3], std::make_pair(3, MonoMicros(3'000'000)));
  EXPECT_EQ(loop.clock().Monotonic() - t0, 3'600'000'000);
}

TEST(SimulatedEventLoop, CancelledTimerNeverRuns) {
  SimulatedEventLoop loop;
  bool ran = false;
  TimerId id = loop.RunAfter(10, [&] { ran = true; });
  loop.Cancel(id);
  loop.RunFor(100);
  EXPECT_FALSE(ran);
}

TEST(SimulatedEventLoop, RunUntilStopsWhenDoneAndAtTheLimit) {
  SimulatedEventLoop loop;
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    loop.RunAfter(1'000'000, tick);
  };
  loop.Post(tick);
  EXPECT_TRUE(loop.RunUntil([&] { return ticks == 5; }, loop.clock().Monotonic() + 100'000'000));
  EXPECT_EQ(ticks, 5);
  EXPECT_FALSE(loop.RunUntil([] { return false; }, loop.clock().Monotonic() + 2'500'000));
  EXPECT_EQ(ticks, 7);
}

TEST(SimulatedEventLoop, TimeStandsStillWhileAnExternalOperationIsOutstanding) {
  SimulatedEventLoop loop;
  const MonoMicros t0 = loop.clock().Monotonic();
  MonoMicros answered_at = -1;
  bool timer_ran = false;
  loop.RunAfter(1, [&] { timer_ran = true; });
  auto done = BindToLoop<int>(loop, [&](int v) {
    EXPECT_EQ(v, 42);
    EXPECT_FALSE(timer_ran);  // the external's answer came first, at the same simulated time
    answered_at = loop.clock().Monotonic();
  });
  std::thread worker([done] {
    RealClock().SleepFor(20'000);
    done(42);
  });
  loop.RunFor(10);
  worker.join();
  EXPECT_EQ(answered_at, t0);
  EXPECT_TRUE(timer_ran);
}

TEST(ThreadEventLoop, RunsPostsAndTimersOnItsThread) {
  RealClock clock;
  ThreadEventLoop loop(clock);
  std::promise<std::thread::id> posted;
  loop.Post([&] { posted.set_value(std::this_thread::get_id()); });
  auto id = posted.get_future().get();
  EXPECT_NE(id, std::this_thread::get_id());
  std::promise<void> fired;
  const MonoMicros start = clock.Monotonic();
  loop.RunAfter(20'000, [&] { fired.set_value(); });
  fired.get_future().get();
  EXPECT_GE(clock.Monotonic() - start, 20'000);
  std::atomic<bool> cancelled_ran = false;
  TimerId t = loop.RunAfter(10'000, [&] { cancelled_ran = true; });
  loop.Cancel(t);
  int seen = 0;
  loop.RunSync([&] { seen = 1; });
  EXPECT_EQ(seen, 1);
  RealClock().SleepFor(30'000);
  EXPECT_FALSE(cancelled_ran);
  loop.Stop();
  loop.Post([] {});  // after Stop: dropped, not a crash
}

}  // namespace
}  // namespace warden
