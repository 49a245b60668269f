#include "core/daemon.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace warden {
namespace {

TEST(Daemon, PortFileIsWrittenWholeAndReplaced) {
  const std::string dir = testing::TempDir() + "daemon-test-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/port";
  ASSERT_TRUE(WritePortFile(path, 8080));
  ASSERT_TRUE(WritePortFile(path, 15868));
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "15868\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove_all(dir);
}

TEST(Daemon, AnUnwritablePortFileIsAnErrorNamingIt) {
  auto r = WritePortFile("/nonexistent-warden-dir/port", 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("port file /nonexistent-warden-dir/port:"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("No such file"), std::string::npos);
}

TEST(Daemon, SignalNames) {
  EXPECT_EQ(SignalName(SIGINT), "SIGINT");
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(SIGHUP), "signal " + std::to_string(SIGHUP));
}

TEST(Daemon, TheStopSignalIsTakenByTheWaiter) {
  const sigset_t signals = BlockStopSignals();
  // Sent to this thread, where it is blocked: it stays pending instead of ending the test.
  ASSERT_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
  EXPECT_EQ(WaitForStopSignal(signals), SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
}

}  // namespace
}  // namespace warden
