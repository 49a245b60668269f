#include "server/log_sink.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/clock.h"
#include "core/log_line.h"

namespace warden::server {

BatchedFdSink::BatchedFdSink(int fd, bool owns_fd, Options options)
    : fd_(fd), owns_fd_(owns_fd), options_(options) {
  writer_ = std::thread([this] { Run(); });
}

BatchedFdSink::~BatchedFdSink() {
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  writer_.join();
  if (owns_fd_) ::close(fd_);
}

void BatchedFdSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  appended_++;
  if (buffer_.size() + formatted.size() > options_.max_buffered_bytes) {
    dropped_pending_++;
    dropped_total_++;
  } else {
    buffer_.append(formatted.data(), formatted.size());
  }
  if (msg.level >= spdlog::level::warn) Wake();
}

void BatchedFdSink::flush_() { Wake(); }

void BatchedFdSink::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    wake_ = true;
  }
  wake_cv_.notify_one();
}

void BatchedFdSink::Drain(std::chrono::milliseconds timeout) {
  uint64_t target;
  {
    std::lock_guard lock(mutex_);
    target = appended_;
  }
  Wake();
  std::unique_lock lock(wake_mu_);
  written_cv_.wait_for(lock, timeout, [&] { return written_ >= target; });
}

void BatchedFdSink::Run() {
  std::string outgoing;  // swapped with buffer_, so both keep their capacity
  bool stop = false;
  while (true) {
    {
      std::unique_lock lock(wake_mu_);
      // Once stopping, the lines logged meanwhile are written before the thread ends.
      if (!stop) {
        wake_cv_.wait_for(lock, options_.interval, [&] { return wake_ || stopping_; });
      }
      wake_ = false;
      stop = stop || stopping_;
    }
    uint64_t upto, dropped;
    {
      std::lock_guard lock(mutex_);
      outgoing.swap(buffer_);
      upto = appended_;
      dropped = dropped_pending_;
      dropped_pending_ = 0;
    }
    if (dropped > 0) {
      const std::string count = std::to_string(dropped);
      outgoing += FormatLogLine(CurrentLogFormat(), RealClock().Now(), "warning",
                                "log lines dropped",
                                {{"count", count}, {"reason", "the log output did not keep up"}});
      outgoing += '\n';
    }
    const bool idle = outgoing.empty();
    if (!idle && !WriteAll(outgoing)) {
      // Given up on (a closed or failing output): counted, as lines dropped for a full buffer.
      dropped_total_ += uint64_t(std::count(outgoing.begin(), outgoing.end(), '\n'));
    }
    outgoing.clear();
    {
      std::lock_guard lock(wake_mu_);
      written_ = upto;
    }
    written_cv_.notify_all();
    if (stop && idle) return;
  }
}

bool BatchedFdSink::WriteAll(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
    if (n > 0) {
      off += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A non-blocking output that is full: wait for it a while, then give the rest up.
      pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
      if (::poll(&p, 1, 1000) <= 0) return false;
    } else {
      return false;  // a closed or failing output: nothing to report it to
    }
  }
  return true;
}

}  // namespace warden::server
