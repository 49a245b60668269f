// Operators' exec and http tasks: run on a thread of their own, retried on their schedule.
#include "engine/flows/custom_task.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/subprocess.h"
#include "core/time.h"
#include "engine/flows/flows.h"

namespace warden::engine {
namespace {

constexpr size_t kMaxOutput = 4096;

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
      done(RunCommand(task.command, input, task.timeout_micros));
    } else {
      done(Post(task.url, input, task.timeout_micros));
    }
  }).detach();
}

}  // namespace warden::engine

namespace warden::engine {

// Runs the operator's task on its own thread, tried again on its retry schedule; its output
// (or the reason of its last failure) is the task's message.
TaskAnswer RunCustom(TaskContext& ctx, std::shared_ptr<Recovery> rec, CustomTask task) {
  ctx.Progress(*rec, task.name, "running custom task " + task.name, 0.1);
  const Notification n = rec->n;
  for (int attempt = 1;; ++attempt) {
    Result<std::string> r = co_await Answer<Result<std::string>>(
        [&](std::function<void(Result<std::string>)> done) {
          RunCustomTask(task, n, BindToLoop<Result<std::string>>(ctx.loop(), std::move(done)));
        });
    if (r) co_return TaskResult{Outcome::kContinue, r->empty() ? "custom task succeeded" : *r};
    if (attempt >= task.retry.attempts) co_return std::unexpected(r.error());
    ctx.Progress(*rec, task.name,
                 "attempt " + std::to_string(attempt) + " failed: " + r.error().message(), 0.1);
    co_await ctx.Sleep(task.retry.DelayBefore(attempt + 1, ctx.rng()));
  }
}

}  // namespace warden::engine
