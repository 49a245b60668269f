#include "core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "core/clock.h"

extern char** environ;

namespace warden {
namespace {

constexpr size_t kMaxOutput = 64 << 10;
constexpr size_t kMaxCommandOutput = 4096;
constexpr int kPollMs = 20;

// The executable for argv[0]: a path as given, else the first match in PATH.
std::string Resolve(const std::string& program, const std::vector<std::string>& env) {
  if (program.find('/') != std::string::npos) return program;
  std::string path = "/usr/sbin:/usr/bin:/sbin:/bin";
  for (const std::string& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      const std::string candidate = dir + "/" + program;
      struct stat st {};
      if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    start = end + 1;
  }
  return "";
}

// write(2) to a pipe whose reader is gone fails with EPIPE instead of raising SIGPIPE, whatever
// the process does with the signal: it is blocked in this thread around the call, and a
// SIGPIPE it left pending is taken before the mask is restored.
ssize_t WriteWithoutSigpipe(int fd, const char* data, size_t size) {
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  const ssize_t n = write(fd, data, size);
  const int saved = errno;
  if (n < 0 && errno == EPIPE) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

}  // namespace

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env, int64_t timeout_micros,
                                 const std::string& input) {
  if (argv.empty()) return Internal("no program to run");
  const std::string program = Resolve(argv[0], env);
  if (program.empty() || access(program.c_str(), X_OK) != 0) {
    return NotFound("program " + argv[0] + " not found (is it installed?)");
  }
  // Everything the child needs is built before spawning: posix_spawn is safe in a process
  // with threads, fork followed by allocations is not.
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  int out[2];
  int in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0) return Internal("pipe failed");
  if (!input.empty() && pipe2(in, O_CLOEXEC) != 0) {
    close(out[0]), close(out[1]);
    return Internal("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  if (in[0] >= 0) {
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  // Nothing else of ours: Boost.Asio's sockets are not close-on-exec, and a daemon that kept
  // the agent's listening socket would keep its port taken after the agent restarts.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  // The server blocks SIGINT/SIGTERM in its threads and ignores SIGPIPE; the child starts
  // with nothing blocked and default dispositions.
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  if (in[0] >= 0) close(in[0]);
  if (rc != 0) {
    close(out[0]);
    if (in[1] >= 0) close(in[1]);
    return Internal("cannot start " + program + ": " + std::string(strerror(rc)));
  }
  // A child that does not read its stdin must not block us; nor output that stops coming.
  if (in[1] >= 0) fcntl(in[1], F_SETFL, O_NONBLOCK);
  fcntl(out[0], F_SETFL, O_NONBLOCK);

  ProcessResult result;
  // Reads what is there (at most 1 MiB a call: a grandchild writing without end must not
  // keep us here); true at the end of the output.
  auto drain = [&] {
    char buf[4096];
    ssize_t got = -1;
    for (size_t total = 0; total < (1 << 20); total += size_t(got)) {
      got = read(out[0], buf, sizeof buf);
      if (got <= 0) break;
      if (result.output.size() < kMaxOutput) {
        result.output.append(buf, std::min(size_t(got), kMaxOutput - result.output.size()));
      }
    }
    return got == 0;
  };
  const RealClock clock;
  const MonoMicros deadline = clock.Monotonic() + timeout_micros;
  size_t written = 0;
  int status = 0;
  bool exited = false, out_open = true;
  // Done when the child exits: whatever it started in the background (a daemon) may keep
  // the output open long after.
  bool lost = false;  // reaped by someone else (SIGCHLD ignored): no status to tell
  while (true) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;
      break;
    }
    if (w < 0 && errno == ECHILD) {
      lost = true;
      break;
    }
    const int64_t left_ms = (deadline - clock.Monotonic() + 999) / 1000;
    if (left_ms <= 0) break;
    pollfd fds[2];
    int nfds = 0;
    if (out_open) fds[nfds++] = {out[0], POLLIN, 0};
    const int in_index = in[1] >= 0 ? nfds : -1;
    if (in[1] >= 0) fds[nfds++] = {in[1], POLLOUT, 0};
    // Short waits while the output is open: the child's exit is noticed within kPollMs.
    const int wait_ms = int(std::min<int64_t>(left_ms, kPollMs));
    if (poll(fds, nfds, wait_ms) < 0 && errno != EINTR) break;
    if (in_index >= 0 && (fds[in_index].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = WriteWithoutSigpipe(in[1], input.data() + written, input.size() - written);
      if (n > 0) written += size_t(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = input.size();
      if (written >= input.size()) {
        close(in[1]);
        in[1] = -1;
      }
    }
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (drain()) out_open = false;
    }
  }
  if (out_open) drain();
  close(out[0]);
  if (in[1] >= 0) close(in[1]);
  if (lost) return Internal(argv[0] + ": its exit status was lost (reaped elsewhere)");
  if (!exited) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);  // should it have left its group
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return MakeError(ErrorCode::kDeadlineExceeded,
                     argv[0] + " did not finish within " +
                         std::to_string((timeout_micros + 999'999) / 1'000'000) + " s");
  }
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return result;
}

Result<std::string> RunCommand(const std::string& command, const std::string& input,
                               int64_t timeout_micros) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  auto r = RunProcess({"/bin/sh", "-c", command}, env, timeout_micros, input);
  if (!r) {
    if (r.error().code() == ErrorCode::kDeadlineExceeded) {
      return MakeError(
          ErrorCode::kDeadlineExceeded,
          "command did not finish within " + std::to_string(timeout_micros / 1'000'000) + " s");
    }
    return std::unexpected(r.error());
  }
  std::string output = std::move(r->output);
  if (output.size() > kMaxCommandOutput) output.resize(kMaxCommandOutput);
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  if (r->exit_status == 0) return output;
  const std::string why = r->exit_status >= 0 ? "exit status " + std::to_string(r->exit_status)
                                              : "killed by signal " + std::to_string(r->signal);
  return MakeError(ErrorCode::kAborted,
                   "command failed (" + why + ")" + (output.empty() ? "" : ": " + output));
}

struct WorkerPool::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;  // guarded by mu
  bool stopping = false;                    // guarded by mu
  std::vector<std::thread> threads;
};

WorkerPool::WorkerPool(int threads) : state_(std::make_shared<State>()) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    state_->threads.emplace_back([s = state_.get()] {
      while (true) {
        std::function<void()> work;
        {
          std::unique_lock lock(s->mu);
          s->cv.wait(lock, [s] { return s->stopping || !s->queue.empty(); });
          if (s->queue.empty()) return;
          work = std::move(s->queue.front());
          s->queue.pop_front();
        }
        work();
      }
    });
  }
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  for (auto& t : state_->threads) t.join();
}

void WorkerPool::Submit(std::function<void()> work) {
  {
    std::lock_guard lock(state_->mu);
    state_->queue.push_back(std::move(work));
  }
  state_->cv.notify_one();
}

}  // namespace warden
