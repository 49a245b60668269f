#include "drivers/nova/pacer.h"

#include <gtest/gtest.h>

namespace warden::drivers {
namespace {

constexpr MonoMicros kMs = 1000;
constexpr MonoMicros kS = 1'000'000;

// Starts as many calls as the pacer allows at `now` with `in_flight` already running.
int StartAll(Pacer& p, int in_flight, MonoMicros now, int want = 1000) {
  int started = 0;
  MonoMicros again = 0;
  while (started < want && p.MayStart(in_flight + started, now, &again)) {
    p.Started(now);
    ++started;
  }
  return started;
}

TEST(PacerTest, WindowStartsSmallAndGrowsByOnePerCleanAnswerUpToTheCap) {
  Pacer p({.max_window = 20, .initial_window = 8});
  EXPECT_EQ(StartAll(p, 0, 0), 8);
  for (int i = 0; i < 8; ++i) p.Answered(CallOutcome::kClean, 0, 5 * kMs);
  EXPECT_EQ(p.window(), 16);  // doubled in one round trip
  for (int i = 0; i < 100; ++i) p.Answered(CallOutcome::kClean, 10 * kMs, 15 * kMs);
  EXPECT_EQ(p.window(), 20);  // the operator's cap
  EXPECT_EQ(p.rate(), 0);     // never limited without a 429
}

TEST(PacerTest, ServerErrorsAndTimeoutsHalveTheWindowOncePerBurst) {
  Pacer p({.max_window = 64, .initial_window = 32});
  StartAll(p, 0, 0);
  p.Answered(CallOutcome::kUnavailable, 0, 10 * kMs);
  EXPECT_EQ(p.window(), 16);
  // Other calls of the same burst (sent before the cut) do not cut again.
  for (int i = 0; i < 10; ++i) p.Answered(CallOutcome::kUnavailable, 0, 12 * kMs);
  EXPECT_EQ(p.window(), 16);
  // A call sent after the cut that times out cuts again.
  p.Answered(CallOutcome::kTimedOut, 20 * kMs, 30 * kMs);
  EXPECT_EQ(p.window(), 8);
  // After a cut, growth is additive: one per window of clean answers.
  for (int i = 0; i < 8; ++i) p.Answered(CallOutcome::kClean, 40 * kMs, 45 * kMs);
  EXPECT_EQ(p.window(), 8);  // 8 + 8 × 1/8 … just under 9 by rounding of the running sum
  for (int i = 0; i < 2; ++i) p.Answered(CallOutcome::kClean, 40 * kMs, 45 * kMs);
  EXPECT_EQ(p.window(), 9);
  EXPECT_EQ(p.Snapshot(50 * kMs).cuts, 2);
}

TEST(PacerTest, A429SetsTheRateBelowWhatTheCloudTook) {
  Pacer p({.max_window = 64, .initial_window = 64});
  // 80 calls started over the last second, 50 answered, then a 429 with Retry-After: 2.
  for (int i = 0; i < 80; ++i) {
    MonoMicros again = 0;
    ASSERT_TRUE(p.MayStart(0, i * 12 * kMs, &again));
    p.Started(i * 12 * kMs);
    if (i < 50) p.Answered(CallOutcome::kClean, i * 12 * kMs, i * 12 * kMs + 5 * kMs);
  }
  const MonoMicros t = 990 * kMs;
  p.Answered(CallOutcome::kThrottled, 980 * kMs, t, 2 * kS);
  EXPECT_DOUBLE_EQ(p.rate(), 40);  // four fifths of the 50 a second the cloud took
  EXPECT_EQ(p.Snapshot(t).throttled, 1);
  // Its Retry-After is for the call turned away (the driver holds that one): the others go
  // on, spaced at the rate, a burst of a tenth of a second's worth.
  MonoMicros again = 0;
  const int burst = StartAll(p, 0, t + 30 * kMs);
  EXPECT_GE(burst, 1);
  EXPECT_LE(burst, 4);
  EXPECT_FALSE(p.MayStart(0, t + 30 * kMs, &again));
  EXPECT_GT(again, t + 30 * kMs);
  EXPECT_LE(again, t + 30 * kMs + 26 * kMs);  // 1/40 s later
  // A second 429 from a call sent before the cut does not cut again, nor one sent after it
  // within the second (the cloud's limiter still counts the burst) ...
  p.Answered(CallOutcome::kThrottled, 985 * kMs, t + 40 * kMs);
  p.Answered(CallOutcome::kThrottled, t + 30 * kMs, t + 500 * kMs);
  EXPECT_DOUBLE_EQ(p.rate(), 40);
  EXPECT_EQ(p.Snapshot(t).cuts, 1);
  // ... one a second later does: four fifths of what the cloud took then (nothing: half the
  // rate), never above the rate.
  p.Answered(CallOutcome::kThrottled, t + 1100 * kMs, t + 1200 * kMs);
  EXPECT_EQ(p.Snapshot(t).cuts, 2);
  EXPECT_LT(p.rate(), 40);
}

TEST(PacerTest, A503WithRetryAfterHoldsEveryStart) {
  Pacer p({.max_window = 64, .initial_window = 8});
  p.Answered(CallOutcome::kUnavailable, 0, kS, 3 * kS);
  MonoMicros again = 0;
  EXPECT_FALSE(p.MayStart(0, 2 * kS, &again));
  EXPECT_EQ(again, 4 * kS);
  EXPECT_EQ(p.Snapshot(2 * kS).held_for_micros, 2 * kS);
  EXPECT_TRUE(p.MayStart(0, 4 * kS, &again));
  // A longer Retry-After is cut to the most the pacer holds.
  p.Answered(CallOutcome::kUnavailable, 5 * kS, 5 * kS, 3600 * kS);
  EXPECT_FALSE(p.MayStart(0, 6 * kS, &again));
  EXPECT_EQ(again, 65 * kS);
}

TEST(PacerTest, TheRateGrowsByATenthPerSecondOfCleanAnswersWithinTheCap) {
  Pacer p({.max_window = 64, .max_rate = 0, .initial_window = 8});
  for (int i = 0; i < 20; ++i) {
    p.Started(i * 50 * kMs);
    p.Answered(CallOutcome::kClean, i * 50 * kMs, i * 50 * kMs + kMs);
  }
  p.Answered(CallOutcome::kThrottled, 950 * kMs, 960 * kMs);
  const double cut = p.rate();
  EXPECT_DOUBLE_EQ(cut, 16);
  // 5 s of clean answers, one every 100 ms.
  for (int i = 1; i <= 50; ++i) {
    p.Answered(CallOutcome::kClean, 960 * kMs + i * 100 * kMs - 5 * kMs, 960 * kMs + i * 100 * kMs);
  }
  EXPECT_GT(p.rate(), cut * 1.5);  // ≈ 1.1^5 = 1.61 (compounded per answer)
  EXPECT_LT(p.rate(), cut * 1.7);

  Pacer capped({.max_window = 64, .max_rate = 10, .initial_window = 8});
  EXPECT_DOUBLE_EQ(capped.rate(), 10);
  for (int i = 1; i <= 50; ++i) capped.Answered(CallOutcome::kClean, i * 100 * kMs - 5, i * 100 * kMs);
  EXPECT_DOUBLE_EQ(capped.rate(), 10);  // never above the operator's cap
}

TEST(PacerTest, AnswersMuchSlowerThanUsualCutTheWindowAtMostOnceASecond) {
  Pacer p({.max_window = 64, .initial_window = 40});
  for (int i = 0; i < 50; ++i) p.Answered(CallOutcome::kClean, i * kMs, i * kMs + 20 * kMs);
  const int before = p.window();  // 40 + 50
  EXPECT_EQ(before, 64);
  // One slow page (2 s) among usual answers is no reason to cut.
  p.Answered(CallOutcome::kClean, 100 * kMs, 2100 * kMs);
  EXPECT_EQ(p.window(), 64);
  // Answers that stay at 2 s are: the cloud is queueing.
  MonoMicros t = 2200 * kMs;
  int answers = 0;
  while (p.window() == 64 && answers < 20) {
    p.Answered(CallOutcome::kClean, t - 2 * kS, t);
    t += 10 * kMs;
    ++answers;
  }
  EXPECT_LT(answers, 10);
  EXPECT_EQ(p.window(), int(64 * 0.8));
  // More of them within the second (or sent before the cut) do not cut again ...
  for (int i = 0; i < 5; ++i, t += 10 * kMs) p.Answered(CallOutcome::kClean, t - 2 * kS, t);
  EXPECT_EQ(p.window(), int(64 * 0.8));
  // ... a second later, those sent after the cut do, while answers keep getting slower.
  t += kS;
  p.Answered(CallOutcome::kClean, t - 500 * kMs, t + 3500 * kMs);
  EXPECT_NEAR(p.window(), 64 * 0.8 * 0.8, 1.0);
  // Latency that stays high becomes the usual: no cut for ever.
  t += 5 * kS;
  for (int i = 0; i < 300; ++i, t += 10 * kMs) p.Answered(CallOutcome::kClean, t - 2 * kS, t);
  const int settled = p.window();
  t += 2 * kS;
  for (int i = 0; i < 50; ++i, t += 100 * kMs) p.Answered(CallOutcome::kClean, t - 2 * kS, t);
  EXPECT_GT(p.window(), settled);
  // Refusals (4xx) say nothing of latency.
  Pacer q({.max_window = 64, .initial_window = 8});
  for (int i = 0; i < 5; ++i) q.Answered(CallOutcome::kClean, 0, 10 * kMs);
  for (int i = 0; i < 20; ++i) q.Answered(CallOutcome::kRefused, kS, 10 * kS);
  EXPECT_EQ(q.window(), 8 + 25);
}

TEST(PacerTest, RetryAfterIsSecondsOnly) {
  EXPECT_EQ(ParseRetryAfter("3"), 3 * kS);
  EXPECT_EQ(ParseRetryAfter("0"), 0);
  EXPECT_FALSE(ParseRetryAfter(""));
  EXPECT_FALSE(ParseRetryAfter("-1"));
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_EQ(ParseRetryAfter("99999999999999"), 86400 * kS);  // no overflow
}

}  // namespace
}  // namespace warden::drivers
