#include "core/time.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(IsoTime, FormatsLikeMasakari) {
  EXPECT_EQ(FormatIsoTime(0), "1970-01-01T00:00:00.000000");
  EXPECT_EQ(FormatIsoTime(1492795795'123456), "2017-04-21T17:29:55.123456");
}

TEST(IsoTime, ParsesTheFormsMasakariAccepts) {
  const WallMicros want = 1492795795'000000;
  EXPECT_EQ(ParseIsoTime("2017-04-21T17:29:55"), want);
  EXPECT_EQ(ParseIsoTime("2017-04-21 17:29:55"), want);
  EXPECT_EQ(ParseIsoTime("2017-04-21T17:29:55Z"), want);
  EXPECT_EQ(ParseIsoTime("2017-04-21T17:29:55.000000"), want);
  EXPECT_EQ(ParseIsoTime("2017-04-22T02:29:55+09:00"), want);
  EXPECT_EQ(ParseIsoTime("2017-04-22T02:29:55+0900"), want);
  EXPECT_EQ(ParseIsoTime("2017-04-21T12:29:55-05:00"), want);
  EXPECT_EQ(ParseIsoTime("2017-04-21T17:29:55.5"), want + 500000);
  EXPECT_EQ(ParseIsoTime("2017-04-21"), 1492732800'000000);
}

TEST(IsoTime, RoundTrips) {
  for (WallMicros t : {WallMicros{0}, WallMicros{1}, WallMicros{1700000000'999999},
                       WallMicros{951782400'000000} /* 2000-02-29 */}) {
    EXPECT_EQ(ParseIsoTime(FormatIsoTime(t)), t) << FormatIsoTime(t);
  }
}

TEST(IsoTime, RejectsGarbageAndOutOfRangeFields) {
  for (const char* bad : {"", "yesterday", "2017-13-01T00:00:00", "2017-02-30T00:00:00",
                          "2017-04-21T24:00:00", "2017-04-21T17:60:00", "2017-04-21T17:29:55+",
                          "2017-04-21T17:29:55 junk", "2017-4-21T17:29:55", "2017-04-21T17",
                          "2017-04-21T17:29:55.", "2017-04-21T17:29:55+24:00"}) {
    EXPECT_FALSE(ParseIsoTime(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace warden
