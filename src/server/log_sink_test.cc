#include "server/log_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

namespace warden::server {
namespace {

using namespace std::chrono_literals;

// A pipe the sink writes to; the test reads what arrived.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0); }
  ~Pipe() {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  // Everything readable within `wait`.
  std::string Read(std::chrono::milliseconds wait) {
    std::string out;
    char buf[65536];
    while (true) {
      pollfd p{.fd = fds[0], .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, int(wait.count())) <= 0) return out;
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, size_t(n));
      wait = 50ms;  // then take what follows at once
    }
  }
};

std::shared_ptr<spdlog::logger> LoggerOn(const std::shared_ptr<BatchedFdSink>& sink) {
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_pattern("%v");
  logger->flush_on(spdlog::level::warn);
  return logger;
}

TEST(BatchedFdSink, WritesLinesInOrderOnceDrained) {
  Pipe pipe;
  auto sink = std::make_shared<BatchedFdSink>(pipe.fds[1], false,
                                              BatchedFdSink::Options{.interval = 10s});
  auto logger = LoggerOn(sink);
  for (int i = 0; i < 100; ++i) logger->info("line {}", i);
  sink->Drain(5s);
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(pipe.Read(1s), expected);
}

TEST(BatchedFdSink, InfoWaitsForTheIntervalAWarningIsWrittenAtOnce) {
  Pipe pipe;
  auto sink = std::make_shared<BatchedFdSink>(pipe.fds[1], false,
                                              BatchedFdSink::Options{.interval = 60s});
  auto logger = LoggerOn(sink);
  logger->info("quiet");
  EXPECT_EQ(pipe.Read(200ms), "");  // no write (and no wake-up) per info line
  logger->warn("loud");
  EXPECT_EQ(pipe.Read(5s), "quiet\nloud\n");
}

TEST(BatchedFdSink, TheIntervalWritesInfoLines) {
  Pipe pipe;
  auto sink = std::make_shared<BatchedFdSink>(pipe.fds[1], false,
                                              BatchedFdSink::Options{.interval = 20ms});
  auto logger = LoggerOn(sink);
  logger->info("soon");
  EXPECT_EQ(pipe.Read(5s), "soon\n");
}

TEST(BatchedFdSink, AStalledOutputDropsAndCountsInsteadOfBlockingTheCaller) {
  Pipe pipe;
  // The smallest pipe the kernel allows, never read while logging: the writer blocks on it.
  ::fcntl(pipe.fds[1], F_SETPIPE_SZ, 4096);
  auto sink = std::make_shared<BatchedFdSink>(
      pipe.fds[1], false, BatchedFdSink::Options{.interval = 1ms, .max_buffered_bytes = 10000});
  auto logger = LoggerOn(sink);
  const std::string payload(90, 'x');
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20000; ++i) logger->info("{} {}", i, payload);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // the caller never waited
  EXPECT_GT(sink->dropped(), 15000u);
  // The output moves again: what was kept arrives, then a line counting the rest.
  std::string out;
  for (int i = 0; i < 50 && out.find("log lines dropped") == std::string::npos; ++i) {
    out += pipe.Read(100ms);
  }
  EXPECT_NE(out.find("0 " + payload + "\n"), std::string::npos);
  EXPECT_NE(out.find("log lines dropped"), std::string::npos);
  EXPECT_NE(out.find("count="), std::string::npos);
}

TEST(BatchedFdSink, WritesWhatIsLeftWhenDestroyed) {
  Pipe pipe;
  {
    auto sink = std::make_shared<BatchedFdSink>(pipe.fds[1], false,
                                                BatchedFdSink::Options{.interval = 60s});
    auto logger = LoggerOn(sink);
    logger->info("last words");
  }
  EXPECT_EQ(pipe.Read(1s), "last words\n");
}

}  // namespace
}  // namespace warden::server
