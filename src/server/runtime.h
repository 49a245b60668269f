// One running Warden server: store, recovery engine with its cloud, service, API. Built by
// StartRuntime from a validated Config; `warden server` and `warden demo` both use it.
//
// Stop() (or destruction) stops the AMQP consumer, the API (answering what is queued), the
// engine's loop, then closes the store. Not thread-safe: own it from one thread.
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>

#include "api/auth.h"
#include "api/http_server.h"
#include "api/masakari_api.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/daemon.h"
#include "core/event_loop.h"
#include "core/log_line.h"
#include "detect/amqp_consumer.h"
#include "detect/amqp_intake.h"
#include "drivers/compute.h"
#include "drivers/fencer.h"
#include "drivers/nova/nova_compute.h"
#include "engine/recovery_engine.h"
#include "ha/ha_service.h"
#include "openstack/keystone.h"
#include "server/config.h"
#include "sim/sim_cloud.h"
#include "store/store.h"

namespace warden::server {

struct Runtime {
  ~Runtime();
  void Stop();

  Config config;
  RealClock clock;
  std::unique_ptr<api::Authenticator> auth;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ThreadEventLoop> loop;  // the engine's (and the sim's) loop
  std::unique_ptr<sim::SimCloud> sim;     // with [compute] driver = sim
  std::unique_ptr<openstack::KeystoneClient> keystone;  // with [compute] driver = nova
  std::unique_ptr<drivers::ComputeDriver> compute;
  drivers::NovaCompute* nova = nullptr;  // compute, when it is Nova
  std::unique_ptr<drivers::Fencer> fencer;
  std::unique_ptr<drivers::ProcessRestarter> restarter;  // [process_failure] agent_url
  std::unique_ptr<engine::RecoveryEngine> engine;
  std::unique_ptr<ha::HaService> service;
  std::unique_ptr<api::ApiMetrics> metrics;
  std::unique_ptr<api::MasakariApi> handler;
  std::unique_ptr<api::HttpServer> http;
  std::unique_ptr<detect::AmqpIntake> amqp_intake;  // with [amqp] enabled
  std::unique_ptr<detect::AmqpConsumer> amqp;
  // `amqp` for /metrics on the API's workers: set once it runs, cleared after the API stops.
  std::atomic<const detect::AmqpConsumer*> amqp_running{nullptr};
  std::string url;  // http://host:port
};

struct RuntimeHooks {
  // Runs after the store, engine and service exist, before the API listens and the engine
  // starts (the demo registers its segment and hosts here).
  std::function<void(Runtime&)> before_listen;
};

Result<std::unique_ptr<Runtime>> StartRuntime(const Config& config,
                                              std::unique_ptr<api::Authenticator> auth,
                                              const RuntimeHooks& hooks);

// Prometheus text of the engine's, the Nova driver's and Keystone's counters. Thread-safe.
std::string RenderRecoveryMetrics(const Runtime& rt);

Result<std::unique_ptr<api::Authenticator>> MakeAuthenticator(const Config& config);

// Makes the SQLite database's directory if missing (SQLite makes the file, not its directory).
void MakeDatabaseDirectory(const Config& config);
// Logging to stderr, or to log_file if set (asynchronous, logfmt or JSON per config).
void SetUpLogging(const Config& config, const std::string& log_file);
// Waits (at most a second) until every line logged so far is written.
void DrainLog();
// Writes what is left and ends logging; the last call on the way out.
void StopLogging();
// Writes an already formatted line at `level` (info, warning, error).
void EmitLine(std::string_view level, const std::string& line);
void LogEvent(const char* level, std::string_view msg, std::initializer_list<LogField> fields = {});

}  // namespace warden::server
