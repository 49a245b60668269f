#include "drivers/fencing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace warden::drivers {
namespace {

constexpr size_t kMaxOutput = 64 << 10;

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

}  // namespace

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env, int64_t timeout_micros) {
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
  if (pipe2(out, O_CLOEXEC) != 0) return Internal("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  // The server blocks SIGINT/SIGTERM in its threads; the child starts with nothing blocked and
  // default dispositions.
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return Internal("cannot start " + program + ": " + std::string(strerror(rc)));
  }

  ProcessResult result;
  const RealClock clock;
  const MonoMicros deadline = clock.Monotonic() + timeout_micros;
  bool timed_out = false;
  while (true) {
    const int64_t left_ms = (deadline - clock.Monotonic() + 999) / 1000;
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd{out[0], POLLIN, 0};
    const int n = poll(&fd, 1, int(std::min<int64_t>(left_ms, 1 << 30)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    char buf[4096];
    const ssize_t got = read(out[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child (and whatever it started) closed its output
    if (result.output.size() < kMaxOutput) {
      result.output.append(buf, std::min(size_t(got), kMaxOutput - result.output.size()));
    }
  }
  close(out[0]);
  if (timed_out) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return MakeError(ErrorCode::kDeadlineExceeded,
                     argv[0] + " did not finish within " +
                         std::to_string((timeout_micros + 999'999) / 1'000'000) + " s");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
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

}  // namespace warden::drivers
