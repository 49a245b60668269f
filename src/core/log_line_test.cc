#include "core/log_line.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(LogLine, LogfmtQuotesOnlyWhatNeedsIt) {
  std::string line = FormatLogLine(
      LogFormat::kLogfmt, 0, "info", "request",
      {{"route", "/v1/segments/{id}"}, {"user", "a b"}, {"empty", ""}, {"q", "say \"hi\""}});
  EXPECT_EQ(line,
            "ts=1970-01-01T00:00:00.000000Z level=info msg=request route=/v1/segments/{id} "
            "user=\"a b\" empty=\"\" q=\"say \\\"hi\\\"\"");
}

TEST(LogLine, JsonIsValidJsonWithEscapes) {
  std::string line =
      FormatLogLine(LogFormat::kJson, 0, "error", "cannot \"open\"\n", {{"path", "C:\\x"}});
  EXPECT_EQ(line,
            "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"error\",\"msg\":\"cannot "
            "\\\"open\\\"\\n\",\"path\":\"C:\\\\x\"}");
}

}  // namespace
}  // namespace warden
