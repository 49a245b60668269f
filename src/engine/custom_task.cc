#include "engine/custom_task.h"

#include <pthread.h>

#include <csignal>

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/time.h"

namespace warden::engine {
namespace {

constexpr size_t kMaxOutput = 4096;

// Runs `command` under /bin/sh with `input` on stdin; blocking. The child's deadline is on the
// real clock: this adapter runs real processes, whatever clock the engine runs on.
Result<std::string> Exec(const std::string& command, const std::string& input, int64_t timeout_us) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Internal("pipe failed");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]);
    return Internal("pipe failed");
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return Internal("fork failed");
  }
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  // Small documents fit the pipe buffer; a command that does not read stdin must not block us.
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  std::string output;
  const RealClock clock;
  const MonoMicros deadline = clock.Monotonic() + timeout_us;
  bool timed_out = false;
  bool out_open = true;
  while (out_open) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
    const int nfds = in[1] >= 0 ? 2 : 1;
    const int64_t left_ms = (deadline - clock.Monotonic()) / 1000;
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, nfds, int(left_ms)) < 0 && errno != EINTR) break;
    if (nfds == 2 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in[1], input.data() + written, input.size() - written);
      if (n > 0) written += size_t(n);
      if (n < 0 && errno != EAGAIN) written = input.size();
      if (written >= input.size()) {
        close(in[1]);
        in[1] = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[1024];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) {
        out_open = false;
      } else if (output.size() < kMaxOutput) {
        output.append(buf, std::min(size_t(n), kMaxOutput - output.size()));
      }
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  if (timed_out) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return MakeError(ErrorCode::kDeadlineExceeded,
                     "command did not finish within " + std::to_string(timeout_us / 1'000'000) + " s");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return output;
  std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                      : "killed by signal " + std::to_string(WTERMSIG(status));
  return MakeError(ErrorCode::kAborted, "command failed (" + why + ")" + (output.empty() ? "" : ": " + output));
}

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<std::string*>(user);
  if (s->size() < kMaxOutput) s->append(data, std::min(size * n, kMaxOutput - s->size()));
  return size * n;
}

Result<std::string> Post(const std::string& url, const std::string& body, int64_t timeout_us) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Internal("curl_easy_init failed");
  std::string response;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(timeout_us / 1000));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return MakeError(ErrorCode::kDeadlineExceeded, "POST " + url + " timed out");
  }
  if (rc != CURLE_OK) return Unavailable("POST " + url + ": " + curl_easy_strerror(rc));
  if (status < 200 || status >= 300) {
    return MakeError(status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kAborted,
                     "POST " + url + " answered " + std::to_string(status) +
                         (response.empty() ? "" : ": " + response));
  }
  return response;
}

}  // namespace

std::string CustomTaskInput(const Notification& n) {
  nlohmann::json j = {{"notification_uuid", n.uuid},
                      {"type", std::string(ToString(n.type))},
                      {"source_host_uuid", n.source_host_uuid},
                      {"failover_segment_uuid", n.segment_uuid},
                      {"generated_time", FormatIsoTime(n.generated_time)},
                      {"status", std::string(ToString(n.status))},
                      {"payload", nlohmann::json::parse(n.payload_json, nullptr, false)}};
  return j.dump();
}

void RunCustomTask(const CustomTask& task, const Notification& notification,
                   std::function<void(Result<std::string>)> done) {
  std::thread([task, input = CustomTaskInput(notification), done = std::move(done)] {
    // A command that exits without reading all of its input must not kill Warden with
    // SIGPIPE: blocked in this thread, the write fails with EPIPE instead (and the pending
    // signal goes away with the thread).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    if (task.kind == CustomTask::Kind::kExec) {
      done(Exec(task.command, input, task.timeout_micros));
    } else {
      done(Post(task.url, input, task.timeout_micros));
    }
  }).detach();
}

}  // namespace warden::engine
