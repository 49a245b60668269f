#include "core/subprocess.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

namespace warden {
namespace {

TEST(RunCommand, ReturnsTheOutputOfACommandThatSucceeds) {
  auto r = RunCommand("read line; echo got $line; echo err >&2", "hello\n", 5'000'000);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(*r, "got hello\nerr");
}

TEST(RunCommand, NamesTheExitStatusAndOutputOfAFailure) {
  auto r = RunCommand("echo broken; exit 3", "", 5'000'000);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kAborted);
  EXPECT_NE(r.error().message().find("exit status 3"), std::string::npos);
  EXPECT_NE(r.error().message().find("broken"), std::string::npos);
}

TEST(RunCommand, KillsTheWholeGroupAtTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  auto r = RunCommand("sleep 20 & sleep 20", "", 200'000);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// A restart command that leaves a daemon behind holding stdout is done when its shell exits.
TEST(RunCommand, ADaemonKeepingTheOutputOpenDoesNotHoldTheCommand) {
  const auto start = std::chrono::steady_clock::now();
  auto r = RunCommand("echo starting; sleep 3 & echo started", "", 10'000'000);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(*r, "starting\nstarted");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
}

// A descriptor the parent leaves open without close-on-exec (as Boost.Asio's sockets are)
// never reaches the command, or a daemon it starts.
TEST(RunCommand, PassesOnNoDescriptorButTheStandardOnes) {
  const int leaky = dup(2);  // no FD_CLOEXEC
  ASSERT_GE(leaky, 3);
  auto r =
      RunCommand("test -e /proc/$$/fd/" + std::to_string(leaky) + " && echo leaked || echo closed",
                 "", 5'000'000);
  close(leaky);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(*r, "closed");
}

TEST(RunCommand, NamesTheSignalThatKilledIt) {
  auto r = RunCommand("kill -TERM $$", "", 5'000'000);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("killed by signal 15"), std::string::npos)
      << r.error().message();
}

TEST(RunCommand, ACommandThatIgnoresLargeInputIsNotBlockedOnIt) {
  auto r = RunCommand("echo ignored", std::string(1 << 20, 'x'), 5'000'000);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(*r, "ignored");
}

}  // namespace
}  // namespace warden
