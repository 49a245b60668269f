#include "core/retry.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(RetryPolicy, ParsesAndBacksOffWithinItsCap) {
  auto p = ParseRetryPolicy("exponential:5:1s:8s");
  ASSERT_TRUE(p.has_value());
  p->jitter = 0;
  std::mt19937_64 rng(1);
  EXPECT_EQ(p->DelayBefore(2, rng), 1'000'000);
  EXPECT_EQ(p->DelayBefore(3, rng), 2'000'000);
  EXPECT_EQ(p->DelayBefore(4, rng), 4'000'000);
  EXPECT_EQ(p->DelayBefore(5, rng), 8'000'000);
  EXPECT_EQ(p->DelayBefore(9, rng), 8'000'000);
  auto fixed = ParseRetryPolicy("fixed:3:500ms");
  ASSERT_TRUE(fixed.has_value());
  fixed->jitter = 0.2;
  for (int i = 0; i < 100; ++i) {
    int64_t d = fixed->DelayBefore(3, rng);
    EXPECT_GE(d, 400'000);
    EXPECT_LE(d, 600'000);
  }
  EXPECT_FALSE(ParseRetryPolicy("exponential:0:1s:2s").has_value());
  EXPECT_FALSE(ParseRetryPolicy("exponential:3:5s:2s").has_value());
  EXPECT_FALSE(ParseRetryPolicy("linear:3:1s").has_value());
  EXPECT_FALSE(ParseRetryPolicy("fixed:3:soon").has_value());
}

}  // namespace
}  // namespace warden
