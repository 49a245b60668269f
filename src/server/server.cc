#include "server/server.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/async.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "api/auth.h"
#include "api/http_server.h"
#include "api/masakari_api.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/log_line.h"
#include "ha/ha_service.h"
#include "server/config.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::server {
namespace {

// stderr with a large buffer, flushed every second, on warnings and at exit: one request log
// line per request must not cost a write(2) per request.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BufferedStderrSink() { std::setvbuf(stderr, nullptr, _IOFBF, 1 << 16); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fwrite(formatted.data(), 1, formatted.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

void SetUpLogging(const Config& config) {
  // Asynchronous, dropping the oldest lines if the queue fills: a stalled log pipe (journald,
  // a container log driver) must never stall the network thread that logs each request.
  spdlog::init_thread_pool(8192, 1);
  auto logger = std::make_shared<spdlog::async_logger>(
      "warden", std::make_shared<BufferedStderrSink>(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest);
  // Lines arrive formatted (core/log_line.h), in logfmt or JSON.
  logger->set_pattern("%v");
  SetLogFormat(config.log_format == "json" ? LogFormat::kJson : LogFormat::kLogfmt);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::set_level(
      spdlog::level::from_str(config.log_level == "warning" ? "warn" : config.log_level));
  spdlog::flush_every(std::chrono::seconds(1));
}

// An application log line in the configured format.
void LogEvent(const char* level, std::string_view msg,
              std::initializer_list<LogField> fields = {}) {
  std::string line = FormatLogLine(CurrentLogFormat(), RealClock().Now(), level, msg, fields);
  if (std::string_view(level) == "error") {
    spdlog::error("{}", line);
  } else if (std::string_view(level) == "warning") {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace

int RunServer(const ServerFlags& flags) {
  auto config = LoadConfig(flags.config_path);
  if (!config) {
    std::fprintf(stderr, "warden: configuration error: %s\n", config.error().message().c_str());
    return 2;
  }
  std::unique_ptr<api::Authenticator> auth;
  if (config->auth_strategy == "noauth") {
    auth = api::MakeNoAuthAuthenticator();
  } else {
    auto a = api::MakeTokenAuthenticator(config->token_file);
    if (!a) {
      std::fprintf(stderr, "warden: configuration error: [api] token_file: %s\n",
                   a.error().message().c_str());
      return 2;
    }
    auth = std::move(*a);
  }
  if (flags.check_config) {
    for (const auto& line : DescribeConfig(*config)) std::printf("%s\n", line.c_str());
    std::printf("configuration OK\n");
    return 0;
  }

  // Block the stop signals before any thread starts (spdlog's flusher included), so every
  // thread inherits the mask; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SetUpLogging(*config);
  // Fewer malloc arenas and no trimming of small free tails: with 16 workers each building
  // responses, glibc otherwise spends its time in madvise(2) returning pages it needs again.
  mallopt(M_ARENA_MAX, 4);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);

  std::filesystem::path db(config->sqlite_path);
  if (db.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(db.parent_path(), ec);
  }
  auto store = store::OpenSqliteStore({.path = config->sqlite_path});
  if (!store) {
    LogEvent("error", "cannot open the store", {{"error", store.error().ToString()}});
    spdlog::shutdown();
    return 1;
  }
  // Each connection is a descriptor, and so are the database files: make sure the limit
  // allows [api] max_connections, raising the soft limit up to the hard one if needed.
  int64_t max_connections = config->max_connections;
  if (rlimit nofile{}; getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    const rlim_t wanted = rlim_t(max_connections) + 64;
    if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < wanted) {
      nofile.rlim_cur = std::min(wanted, nofile.rlim_max);
      setrlimit(RLIMIT_NOFILE, &nofile);
      getrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < wanted) {
      max_connections = std::max<int64_t>(1, int64_t(nofile.rlim_cur) - 64);
      LogEvent("warning", "open-file limit below [api] max_connections; lowering it",
               {{"max_connections", std::to_string(max_connections)},
                {"nofile", std::to_string(nofile.rlim_cur)}});
    }
  }
  RealClock clock;
  ha::HaService service(
      **store, clock,
      {.duplicate_window_seconds = config->duplicate_notification_detection_interval});
  api::ApiMetrics metrics;
  api::ApiOptions api_options;
  api_options.max_limit = config->osapi_max_limit;
  api_options.response_cache_entries = size_t(config->response_cache_entries);
  api_options.access_log = !config->access_log            ? api::AccessLogFormat::kOff
                           : config->log_format == "json" ? api::AccessLogFormat::kJson
                                                          : api::AccessLogFormat::kLogfmt;
  api::MasakariApi handler(service, **store, *auth, clock, metrics, api_options);
  auto server = api::StartHttpServer({.address = config->listen_host,
                                      .port = config->listen_port,
                                      .io_threads = int(config->io_threads),
                                      .worker_threads = int(config->workers),
                                      .max_body_bytes = size_t(config->max_body_bytes),
                                      .max_header_bytes = size_t(config->max_header_bytes),
                                      .max_connections = int(max_connections),
                                      .request_timeout_ms = int(config->request_timeout * 1000),
                                      .idle_timeout_ms = int(config->idle_timeout * 1000)},
                                     handler);
  if (!server) {
    LogEvent("error", "cannot start the API", {{"error", server.error().ToString()}});
    spdlog::shutdown();
    return 1;
  }
  const std::string host = config->listen_host.find(':') != std::string::npos
                               ? "[" + config->listen_host + "]"
                               : config->listen_host;
  const std::string url = "http://" + host + ":" + std::to_string((*server)->port());
  LogEvent("info", "warden listening",
           {{"url", url}, {"auth", config->auth_strategy}, {"store", config->connection}});
  spdlog::default_logger()->flush();
  if (!flags.port_file.empty()) {
    std::string tmp = flags.port_file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::filesystem::rename(tmp, flags.port_file);
  }

  int sig = 0;
  sigwait(&signals, &sig);
  LogEvent("info", "stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  // Closing the store completes the writes still queued; their answers are still sent,
  // because the network loop runs until Stop() returns.
  (*server)->Stop([&] { store->reset(); });
  server->reset();
  LogEvent("info", "stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace warden::server
