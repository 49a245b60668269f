#include "server/demo.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli/commands.h"
#include "core/time.h"
#include "server/runtime.h"

namespace warden::server {
namespace {

constexpr const char* kFailedHost = "compute1";

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

std::string DemoConfig(const std::string& dir, int port) {
  return "# Written by `warden demo`; start the same server again with\n"
         "#   warden server --config " + dir + "/warden.conf\n"
         "[DEFAULT]\n"
         "log_format = logfmt\n"
         "[api]\n"
         "listen = 127.0.0.1:" + std::to_string(port) + "\n"
         "auth_strategy = noauth\n"
         "[database]\n"
         "connection = sqlite:///" + dir + "/warden.db\n"
         "[compute]\n"
         "driver = sim\n"
         "[host_failure]\n"
         "max_parallel_evacuations = 100\n"
         "max_parallel_evacuations_per_host = 2\n"
         "evacuation_timeout = 120\n"
         "api_retry = exponential:5:500ms:5s\n"
         "poll_interval = 0.5\n"
         "[sim]\n"
         "hosts = 8\n"
         "reserved_hosts = 1\n"
         "instances = 60\n"
         "api_latency = uniform:5ms:40ms\n"
         "evacuate_latency = uniform:3s:9s\n"
         "power_latency = fixed:1s\n"
         "bmc_latency = fixed:400ms\n";
}

int RunClient(const std::vector<std::string>& args) {
  CLI::App app{"warden"};
  cli::ClientCommands client(app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return client.Run();
}

}  // namespace

int RunDemo(const DemoFlags& flags) {
  std::error_code ec;
  const std::string dir = std::filesystem::absolute(flags.dir, ec).string();
  std::filesystem::create_directories(dir, ec);
  for (const char* f : {"warden.db", "warden.db-wal", "warden.db-shm", "warden.log"}) {
    std::filesystem::remove(dir + "/" + f, ec);
  }
  int port = flags.port;
  if (port != 0 && !PortFree(port)) {
    std::printf("demo: port %d is taken; using a free one\n", port);
    port = 0;
  }
  const std::string text = DemoConfig(dir, port);
  std::ofstream(dir + "/warden.conf") << text;
  auto config = ParseConfig(text, dir + "/warden.conf", {});
  if (!config) {
    std::fprintf(stderr, "demo: %s\n", config.error().message().c_str());
    return 2;
  }
  auto auth = MakeAuthenticator(*config);
  if (!auth) return 2;
  sigset_t signals = BlockStopSignals();
  SetUpLogging(*config, dir + "/warden.log");
  struct StopLoggingAtExit {
    ~StopLoggingAtExit() { StopLogging(); }
  } stop_logging;  // declared before the runtime, so it runs after the runtime has stopped

  std::map<std::string, std::string> host_uuids;
  RuntimeHooks hooks;
  hooks.before_listen = [&](Runtime& rt) {
    auto seg = rt.service->CreateSegment({.name = "demo-rack",
                                          .description = "8 compute hosts, one reserved",
                                          .recovery_method = RecoveryMethod::kAuto,
                                          .service_type = "COMPUTE"});
    if (!seg) return;
    for (int64_t h = 1; h <= config->sim.hosts; ++h) {
      const std::string name = config->sim.host_prefix + std::to_string(h);
      const bool reserved = h > config->sim.hosts - config->sim.reserved_hosts;
      auto host = rt.service->CreateHost(
          seg->uuid, {.name = name, .type = "COMPUTE", .control_attributes = "bmc=sim",
                      .reserved = reserved});
      if (host) host_uuids[name] = host->host.uuid;
    }
  };
  auto rt = StartRuntime(*config, std::move(*auth), hooks);
  if (!rt) {
    std::fprintf(stderr, "demo: cannot start: %s (see %s/warden.log)\n", rt.error().message().c_str(),
                 dir.c_str());
    return 1;
  }
  Runtime& r = **rt;
  int64_t on_failed = 0, protected_total = 0;
  r.loop->RunSync([&] {
    for (auto& [_, i] : r.sim->instances()) {
      if (i.info.host == kFailedHost) ++on_failed;
      if (i.info.metadata.contains("HA_Enabled")) ++protected_total;
    }
  });
  std::printf(
      "== Warden demo: server on %s (no auth, loopback only), data and log in %s\n"
      "   simulated cloud: %lld hosts (%s%lld reserved), %lld instances (%lld HA-enabled)\n\n",
      r.url.c_str(), dir.c_str(), static_cast<long long>(config->sim.hosts),
      (config->sim.host_prefix + std::to_string(config->sim.hosts) + " ").c_str(),
      static_cast<long long>(config->sim.reserved_hosts), static_cast<long long>(config->sim.instances),
      static_cast<long long>(protected_total));
  std::printf("-> %s loses power with %lld instances on it; one rebuild will fail once on its "
              "first destination.\n",
              kFailedHost, static_cast<long long>(on_failed));
  r.loop->RunSync([&] {
    r.sim->PowerLoss(kFailedHost);
    r.sim->FailNextEvacuations(1);
  });
  // What a host monitor sends. host_status UNKNOWN: Masakari would ignore it; Warden fences
  // the host through its BMC and goes on.
  auto n = r.service->CreateNotification(
      {.type = NotificationType::kComputeHost,
       .hostname = kFailedHost,
       .generated_time = r.clock.Now(),
       .payload_json = R"({"cluster_status":"OFFLINE","event":"STOPPED","host_status":"UNKNOWN"})"});
  if (!n) {
    std::fprintf(stderr, "demo: cannot notify: %s\n", n.error().message().c_str());
    return 1;
  }
  std::printf("-> a monitor reports it: notification %s (COMPUTE_HOST, STOPPED, host_status "
              "UNKNOWN)\n\n",
              n->uuid.c_str());
  std::fflush(stdout);
  const int watch = RunClient({"--url", r.url, "notification", "watch", n->uuid,
                               "--interval", "0.5", "--timeout", "600"});

  int64_t recovered = 0;
  std::vector<std::string> lost;
  r.loop->RunSync([&] {
    for (auto& [uuid, i] : r.sim->instances()) {
      if (!i.info.metadata.contains("HA_Enabled")) continue;
      const bool ok = i.info.vm_state == "active" && i.running_on == i.info.host &&
                      r.sim->hosts().at(i.info.host).powered;
      if (ok) {
        ++recovered;
      } else {
        lost.push_back(i.info.name + " (" + i.info.vm_state + " on " + i.info.host + ")");
      }
    }
  });
  std::printf("\n== %lld of %lld HA-enabled instances run on a healthy host; split brains: %lld; "
              "evacuations issued: %lld\n",
              static_cast<long long>(recovered), static_cast<long long>(protected_total),
              static_cast<long long>(r.sim->split_brains()),
              static_cast<long long>(r.sim->evacuations_accepted()));
  for (const auto& l : lost) std::printf("   not recovered: %s\n", l.c_str());
  const bool success = watch == 0 && lost.empty() && r.sim->split_brains() == 0;
  if (flags.once) {
    r.Stop();
    std::printf("demo: %s\n", success ? "every protected instance recovered" : "FAILED");
    return success ? 0 : 1;
  }
  std::printf(
      "\nThe server keeps running (Ctrl-C stops it). Look around:\n"
      "  the dashboard: %s/dashboard/#/notifications/%s\n"
      "  export WARDEN_URL=%s\n"
      "  build/warden notification list\n"
      "  build/warden notification show %s\n"
      "  build/warden vmove list\n"
      "  build/warden host list demo-rack\n"
      "  OS_AUTH_TYPE=none OS_ENDPOINT=%s/v1 openstack notification show %s\n"
      "  curl -s %s/v1/vmoves | python3 -m json.tool\n",
      r.url.c_str(), n->uuid.c_str(), r.url.c_str(), n->uuid.c_str(), r.url.c_str(),
      n->uuid.c_str(), r.url.c_str());
  std::fflush(stdout);
  WaitForStopSignal(signals);
  r.Stop();
  std::printf("demo: stopped\n");
  return success ? 0 : 1;
}

}  // namespace warden::server
