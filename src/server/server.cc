#include "server/server.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "api/auth.h"
#include "api/http_server.h"
#include "api/keystone_auth.h"
#include "api/masakari_api.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/log_line.h"
#include "drivers/fencing/fence_levels.h"
#include "ha/ha_service.h"
#include "openstack/keystone.h"
#include "server/config.h"
#include "drivers/fencing/fencing_config.h"
#include "sim/sim_cloud.h"
#include "store/sqlite/sqlite_store.h"
#include "server/log_sink.h"
#include "server/runtime.h"

namespace warden::server {
namespace {

// The sink of the process's logger, set up once by SetUpLogging.
std::shared_ptr<BatchedFdSink> log_sink;

}  // namespace

void SetUpLogging(const Config& config, const std::string& log_file) {
  int fd = STDERR_FILENO;
  bool owns = false;
  if (!log_file.empty()) {
    fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
      std::fprintf(stderr, "warden: cannot open the log file %s: %s; logging to stderr\n",
                   log_file.c_str(), std::strerror(errno));
      fd = STDERR_FILENO;
    } else {
      owns = true;
    }
  }
  log_sink = std::make_shared<BatchedFdSink>(fd, owns, BatchedFdSink::Options{});
  auto logger = std::make_shared<spdlog::logger>("warden", log_sink);
  // Lines arrive formatted (core/log_line.h), in logfmt or JSON.
  logger->set_pattern("%v");
  SetLogFormat(config.log_format == "json" ? LogFormat::kJson : LogFormat::kLogfmt);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::set_level(
      spdlog::level::from_str(config.log_level == "warning" ? "warn" : config.log_level));
}

void DrainLog() {
  if (log_sink) log_sink->Drain(std::chrono::seconds(1));
}

void StopLogging() {
  // Lines logged after this go nowhere rather than to a logger that is gone.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("warden-stopped"));
  log_sink.reset();  // writes what is left
}

void EmitLine(std::string_view level, const std::string& line) {
  if (level == "error") {
    spdlog::error("{}", line);
  } else if (level == "warning") {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
}

void LogEvent(const char* level, std::string_view msg, std::initializer_list<LogField> fields) {
  EmitLine(level, FormatLogLine(CurrentLogFormat(), RealClock().Now(), level, msg, fields));
}

Runtime::~Runtime() { Stop(); }

void Runtime::Stop() {
  // The consumer first: what it has not acknowledged the broker redelivers, to this server
  // after a restart or to another replica. It stays readable for /metrics until the API stops.
  if (amqp) amqp->Stop();
  if (http == nullptr && loop == nullptr) {
    amqp_running = nullptr;
    amqp.reset();
    amqp_intake.reset();
    return;
  }
  // Closing the store completes the writes still queued; their answers are still sent,
  // because the network loop runs until Stop() returns. The engine's loop stops first so
  // that no recovery step starts while the store closes.
  auto close = [&] {
    if (loop) loop->Stop();
    engine.reset();
    // The drivers' threads finish their calls (answers to a stopped loop are dropped); the
    // agent client answers what it has not sent yet without sending it.
    restarter.reset();
    nova = nullptr;
    compute.reset();
    fencer.reset();
    keystone.reset();
    store.reset();
  };
  if (http) {
    http->Stop(close);
    http.reset();
  } else {
    close();
  }
  loop.reset();
  amqp_running = nullptr;
  amqp.reset();
  amqp_intake.reset();
}

namespace {

void EmitFields(std::string_view level, std::string_view msg,
                const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<LogField> f;
  for (const auto& [k, v] : fields) f.push_back({k, v});
  EmitLine(level, FormatLogLine(CurrentLogFormat(), RealClock().Now(), level, msg, f));
}

// The fencer the engine uses: the [fence_device:NAME] devices as fencing levels. With the sim,
// its simulated BMCs are the last level (and the only one when no device is configured); with
// Nova and no device, no host is covered and [host_failure] unfenced_hosts decides.
std::unique_ptr<drivers::Fencer> MakeFencer(const Config& config, EventLoop& loop,
                                            sim::SimCloud* sim) {
  const std::vector<drivers::FenceDeviceSettings>& settings = config.derived->fence_devices;
  if (settings.empty()) {
    if (sim != nullptr) return sim->MakeFencer();
    return drivers::MakeNoFencer();
  }
  std::vector<drivers::FenceDevice> devices;
  std::shared_ptr<WorkerPool> ipmitool_pool;  // shared by the IPMI devices
  int last_level = 0;
  for (const drivers::FenceDeviceSettings& d : settings) {
    drivers::FenceDevice device{.name = d.driver + " " + d.name,
                                .level = d.level,
                                .power_off_timeout_micros = d.power_off_timeout_micros,
                                .confirm_timeout_micros = d.confirm_timeout_micros};
    if (d.driver == "ipmi") {
      if (!ipmitool_pool) ipmitool_pool = std::make_shared<WorkerPool>(4);
      device.fencer = drivers::MakeIpmiFencer(loop, d.ipmi, ipmitool_pool);
    } else {
      device.fencer = drivers::MakeRedfishFencer(loop, d.redfish);
    }
    last_level = std::max(last_level, d.level);
    devices.push_back(std::move(device));
    LogEvent("info", "fence device",
             {{"device", d.name}, {"driver", d.driver}, {"level", std::to_string(d.level)}});
  }
  if (sim != nullptr) {
    devices.push_back({.name = "sim BMC", .level = last_level + 1, .fencer = sim->MakeFencer()});
  }
  drivers::FenceLevelsOptions options;
  options.poll_interval_micros = config.derived->engine.poll_interval_micros;
  options.log = EmitFields;
  return drivers::MakeFenceLevels(loop, std::move(devices), std::move(options));
}

void MetricText(std::string& out, const char* name, const char* type, const char* help,
                const std::string& value) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + value + "\n";
}

void Metric(std::string& out, const char* name, const char* type, const char* help, int64_t v) {
  MetricText(out, name, type, help, std::to_string(v));
}

void GaugeOf(std::string& out, const char* name, const char* help, double v) {
  char value[32];
  std::snprintf(value, sizeof value, "%.3f", v);
  MetricText(out, name, "gauge", help, value);
}

}  // namespace

std::string RenderRecoveryMetrics(const Runtime& rt) {
  std::string out;
  if (rt.engine) {
    const auto s = rt.engine->PublishedStats();
    Metric(out, "warden_recoveries_active", "gauge", "Notifications being recovered now.",
           s.active);
    Metric(out, "warden_recoveries_queued", "gauge",
           "Notifications waiting for an earlier one of their host.", s.queued);
    Metric(out, "warden_evacuations_issued_total", "counter", "Evacuation calls made.",
           s.evacuations_issued);
    Metric(out, "warden_evacuations_succeeded_total", "counter",
           "Instances confirmed active on their new host.", s.evacuations_succeeded);
    Metric(out, "warden_evacuations_failed_total", "counter", "VM moves given up.",
           s.evacuations_failed);
    Metric(out, "warden_storm_guard_holds_total", "counter",
           "Host failures held back by the storm guard.", s.storm_guard_holds);
    Metric(out, "warden_evacuation_news_total", "counter",
           "Nova rebuild events (AMQP) that had an evacuation's record read before its poll.",
           s.instance_news);
    Metric(out, "warden_engine_journal_commits_total", "counter",
           "Commits of the engine's recovery journal.", s.journal_commits);
  }
  if (rt.nova) {
    const auto n = rt.nova->stats();
    Metric(out, "warden_nova_operations_total", "counter", "Compute driver operations.",
           n.operations);
    Metric(out, "warden_nova_http_requests_total", "counter",
           "HTTP requests sent to Nova and Placement.", n.http_requests);
    Metric(out, "warden_nova_reauthentications_total", "counter",
           "Requests repeated with a new token after a 401.", n.reauthentications);
    Metric(out, "warden_nova_operations_expired_total", "counter",
           "Operations never sent: they waited longer than the engine waits for them.", n.expired);
    Metric(out, "warden_nova_throttled_total", "counter",
           "429 answers from Nova and Placement.", n.throttled);
    Metric(out, "warden_nova_requeued_total", "counter",
           "Operations sent again after a 429 or a 503 with Retry-After.", n.requeued);
    Metric(out, "warden_nova_pace_cuts_total", "counter",
           "Times the pace was cut (429, 5xx, timeouts, slow answers).", n.pace_cuts);
    Metric(out, "warden_nova_pace_window", "gauge",
           "Calls to Nova allowed in flight now (grows while answers are clean).", n.pace_window);
    GaugeOf(out, "warden_nova_pace_rate",
            "Calls to Nova allowed a second now; 0: not limited.", n.pace_rate);
  }
  if (rt.keystone) {
    Metric(out, "warden_keystone_tokens_issued_total", "counter",
           "Tokens Warden obtained from Keystone for its own calls.",
           rt.keystone->tokens_issued());
  }
  return out;
}

void MakeDatabaseDirectory(const Config& config) {
  if (std::filesystem::path db(config.database.sqlite_path); db.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(db.parent_path(), ec);
  }
}

Result<std::unique_ptr<Runtime>> StartRuntime(const Config& config,
                                              std::unique_ptr<api::Authenticator> auth,
                                              const RuntimeHooks& hooks) {
  if (!config.derived) return FailedPrecondition("the configuration was not checked (ParseConfig)");
  auto rt = std::make_unique<Runtime>();
  rt->config = config;
  rt->auth = std::move(auth);
  MakeDatabaseDirectory(config);
  // The payload index reaches over the duplicate window and ten minutes more, for
  // notifications generated a little before the newest but arriving after it.
  auto store = store::OpenSqliteStore(
      {.path = config.database.sqlite_path,
       .duplicate_horizon_seconds = config.engine.duplicate_notification_detection_interval + 600});
  if (!store) return Internal("cannot open the store: " + store.error().message());
  rt->store = std::move(*store);
  // Each connection is a descriptor, and so are the database files: make sure the limit
  // allows [api] max_connections, raising the soft limit up to the hard one if needed.
  int64_t max_connections = config.api.max_connections;
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

  for (const std::string& notice : config.notices) LogEvent("info", "configuration", {{"notice", notice}});
  // The recovery engine, on its own loop, with the configured cloud.
  if (config.compute_driver == "sim" || config.compute_driver == "nova") {
    engine::EngineOptions engine_options = config.derived->engine;
    rt->loop = std::make_unique<ThreadEventLoop>(rt->clock);
    if (config.compute_driver == "sim") {
      rt->sim = std::make_unique<sim::SimCloud>(*rt->loop, config.derived->sim);
      rt->loop->RunSync([&] { sim::PopulateSim(config.sim, *rt->sim); });
      rt->compute = rt->sim->MakeComputeDriver();
    } else {
      const std::optional<drivers::NovaSettings>& nova = config.derived->nova;
      rt->keystone = std::make_unique<openstack::KeystoneClient>(nova->keystone, rt->clock);
      auto compute = std::make_unique<drivers::NovaCompute>(*rt->loop, *rt->keystone, nova->nova);
      rt->nova = compute.get();
      rt->compute = std::move(compute);
    }
    rt->fencer = MakeFencer(config, *rt->loop, rt->sim.get());
    engine_options.log = EmitFields;
    if (config.derived->agent) {
      rt->restarter = drivers::MakeAgentRestarter(*rt->loop, *config.derived->agent);
    }
    rt->engine =
        std::make_unique<engine::RecoveryEngine>(*rt->loop, *rt->store, *rt->compute, *rt->fencer,
                                                 std::move(engine_options), rt->restarter.get());
  } else {
    LogEvent("warning",
             "no compute driver configured ([compute] driver = none): notifications are stored "
             "but nothing is recovered",
             {});
  }
  ha::HaOptions ha_options{
      .duplicate_window_seconds = config.engine.duplicate_notification_detection_interval,
      .status_aware_duplicates = config.engine.status_aware_duplicate_detection};
  if (rt->engine) {
    engine::RecoveryEngine* engine = rt->engine.get();
    ha_options.on_created = [engine](const Notification& n) { engine->NotificationCreated(n.uuid); };
  }
  rt->service = std::make_unique<ha::HaService>(*rt->store, rt->clock, ha_options);
  if (hooks.before_listen) hooks.before_listen(*rt);
  rt->metrics = std::make_unique<api::ApiMetrics>();
  api::ApiOptions api_options;
  api_options.max_limit = config.api.osapi_max_limit;
  api_options.response_cache_entries = size_t(config.api.response_cache_entries);
  api_options.recovery_control = rt->engine.get();
  if (rt->compute) {
    // Host names are checked against the cloud's compute services, on the engine's loop (the
    // drivers are not thread-safe).
    drivers::ComputeDriver* compute = rt->compute.get();
    EventLoop* loop = rt->loop.get();
    api_options.check_compute_host = [compute, loop](const std::string& name,
                                                     std::function<void(Result<void>)> done) {
      loop->Post([compute, name, done = std::move(done)] {
        compute->GetService(name, [done](Result<drivers::ComputeService> s) {
          done(s ? Result<void>{} : Result<void>(std::unexpected(s.error())));
        });
      });
    };
  }
  // The AMQP intake exists before the API so that /metrics can show it; it starts consuming
  // once everything else runs.
  std::optional<detect::AmqpSettings> amqp_settings;
  if (config.amqp.enabled) {
    amqp_settings = config.derived->amqp;
    amqp_settings->intake.log = amqp_settings->consumer.log = EmitFields;
    // Nova's rebuild events make the engine read an evacuation's record at once.
    engine::RecoveryEngine* engine = rt->engine.get();
    amqp_settings->intake.instance_news = [engine](const detect::InstanceNews& news) {
      engine->InstanceNews(news.instance_uuid);
    };
    rt->amqp_intake = std::make_unique<detect::AmqpIntake>(*rt->service, rt->clock,
                                                           amqp_settings->intake);
  }
  {
    Runtime* runtime = rt.get();
    api_options.extra_metrics = [runtime] {
      std::string out = RenderRecoveryMetrics(*runtime);
      if (const detect::AmqpConsumer* consumer = runtime->amqp_running.load()) {
        out += detect::RenderAmqpMetrics(runtime->amqp_intake->Stats(), consumer->Stats());
      }
      return out;
    };
  }
  api_options.access_log = !config.api.access_log            ? api::AccessLogFormat::kOff
                           : config.log_format == "json" ? api::AccessLogFormat::kJson
                                                         : api::AccessLogFormat::kLogfmt;
  rt->handler = std::make_unique<api::MasakariApi>(*rt->service, *rt->store, *rt->auth, rt->clock,
                                                   *rt->metrics, api_options);
  auto server = api::StartHttpServer({.address = config.api.listen_host,
                                      .port = config.api.listen_port,
                                      .io_threads = int(config.api.io_threads),
                                      .worker_threads = int(config.api.workers),
                                      .max_body_bytes = size_t(config.api.max_body_bytes),
                                      .max_header_bytes = size_t(config.api.max_header_bytes),
                                      .max_connections = int(max_connections),
                                      .request_timeout_ms = int(config.api.request_timeout * 1000),
                                      .idle_timeout_ms = int(config.api.idle_timeout * 1000)},
                                     *rt->handler);
  if (!server) return Internal("cannot start the API: " + server.error().message());
  rt->http = std::move(*server);
  const std::string host = config.api.listen_host.find(':') != std::string::npos
                               ? "[" + config.api.listen_host + "]"
                               : config.api.listen_host;
  rt->url = "http://" + host + ":" + std::to_string(rt->http->port());
  if (rt->engine) rt->engine->Start();
  if (amqp_settings) {
    rt->amqp = detect::StartRabbitConsumer(std::move(amqp_settings->consumer), *rt->amqp_intake,
                                           rt->clock);
    rt->amqp_running = rt->amqp.get();
  }
  LogEvent("info", "warden listening",
           {{"url", rt->url},
            {"auth", config.api.auth_strategy},
            {"store", config.database.connection},
            {"compute", config.compute_driver},
            {"amqp", config.amqp.enabled ? detect::RedactAmqpUrl(config.amqp.url) : "off"}});
  return rt;
}

int RunServer(const ServerFlags& flags) {
  auto config = LoadConfig(flags.config_path);
  if (!config) {
    std::fprintf(stderr, "warden: configuration error: %s\n", config.error().message().c_str());
    return 2;
  }
  auto auth = MakeAuthenticator(*config);
  if (!auth) {
    std::fprintf(stderr, "warden: configuration error: %s\n", auth.error().message().c_str());
    return 2;
  }
  if (flags.check_config) {
    for (const auto& line : DescribeConfig(*config)) std::printf("%s\n", line.c_str());
    for (const auto& notice : config->notices) std::printf("note: %s\n", notice.c_str());
    std::printf("configuration OK\n");
    return 0;
  }
  sigset_t signals = BlockStopSignals();
  SetUpLogging(*config, "");
  auto rt = StartRuntime(*config, std::move(*auth), {});
  if (!rt) {
    LogEvent("error", "cannot start", {{"error", rt.error().message()}});
    StopLogging();
    return 1;
  }
  DrainLog();
  if (!flags.port_file.empty()) {
    if (auto w = WritePortFile(flags.port_file, (*rt)->http->port()); !w) {
      LogEvent("error", "cannot start", {{"error", "--port-file: " + w.error().message()}});
      (*rt)->Stop();
      rt->reset();
      StopLogging();
      return 1;
    }
  }
  const int sig = WaitForStopSignal(signals);
  LogEvent("info", "stopping", {{"signal", SignalName(sig)}});
  (*rt)->Stop();
  rt->reset();
  LogEvent("info", "stopped");
  StopLogging();
  return 0;
}

namespace {

// Keystone validation: the Keystone client with Warden's own credentials from
// [keystone_authtoken], behind the API's caching authenticator.
Result<std::unique_ptr<api::Authenticator>> MakeKeystoneAuthenticator(const Config& c) {
  if (!c.derived || !c.derived->authtoken) {
    return FailedPrecondition("[keystone_authtoken] was not checked (ParseConfig)");
  }
  static const RealClock clock;
  auto client = std::make_shared<openstack::KeystoneClient>(*c.derived->authtoken, clock);
  api::TokenValidator validator =
      [client](const std::string& token) -> Result<api::ValidatedToken> {
    auto info = client->Validate(token);
    if (!info) return std::unexpected(info.error());
    return api::ValidatedToken{.user_id = info->user_id,
                               .user_name = info->user_name,
                               .project_id = info->project_id,
                               .roles = info->roles,
                               .expires_at = info->expires_at};
  };
  api::KeystoneAuthOptions options;
  options.www_authenticate_uri = c.api.authtoken_www_authenticate_uri;
  options.cache_seconds = c.api.authtoken_token_cache_time;
  options.negative_cache_seconds = c.api.invalid_token_cache_time;
  options.max_cached_tokens = size_t(c.api.token_cache_entries);
  options.wait_micros = c.api.authtoken_http_connect_timeout * 1'000'000;
  options.admin_roles = api::SplitRoleList(c.api.admin_roles);
  options.reader_roles = api::SplitRoleList(c.api.reader_roles);
  // The dashboard's sign-in: a person's password exchanged for their own token (Warden's
  // credentials are not involved).
  api::PasswordExchanger exchanger =
      [client](const api::PasswordSignIn& in) -> Result<api::IssuedToken> {
    auto t = client->Login({.username = in.username,
                            .password = in.password,
                            .user_domain_name = in.user_domain,
                            .project_name = in.project,
                            .project_domain_name = in.project_domain});
    if (!t) return std::unexpected(t.error());
    return api::IssuedToken{.token = t->token, .expires_at = t->expires_at};
  };
  return api::MakeKeystoneAuthenticator(std::move(validator), clock, std::move(options),
                                        std::move(exchanger));
}

}  // namespace

Result<std::unique_ptr<api::Authenticator>> MakeAuthenticator(const Config& config) {
  if (config.api.auth_strategy == "noauth") return api::MakeNoAuthAuthenticator();
  if (config.api.auth_strategy == "keystone") return MakeKeystoneAuthenticator(config);
  auto a = api::MakeTokenAuthenticator(config.api.token_file);
  if (!a) return InvalidArgument("[api] token_file: " + a.error().message());
  return std::move(*a);
}

}  // namespace warden::server
