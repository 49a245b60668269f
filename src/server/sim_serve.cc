#include "server/sim_serve.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "api/http_server.h"
#include "core/clock.h"
#include "core/daemon.h"
#include "core/event_loop.h"
#include "core/strings.h"
#include "sim/sim_config.h"
#include "sim/sim_openstack.h"

namespace warden::server {
namespace {

// [sim] of the file; other sections (a whole warden.conf) are left to `warden server`.
Result<sim::SimConfig> LoadSimConfig(const std::string& path) {
  sim::SimConfig c;
  if (path.empty()) return c;
  std::ifstream f(path);
  if (!f) return InvalidArgument("cannot read config file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto lines = ReadIniLines(ss.str(), path);
  if (!lines) return std::unexpected(lines.error());
  for (const IniLine& line : *lines) {
    if (line.is_section || line.section != "sim") continue;
    const auto& keys = sim::SimConfigKeys();
    auto k = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.name == line.key; });
    if (k == keys.end()) return InvalidArgument(line.where + "unknown key [sim] " + line.key);
    if (std::string e = k->set(c, line.value); !e.empty()) {
      return InvalidArgument(line.where + "[sim] " + line.key + ": " + e);
    }
  }
  return c;
}

}  // namespace

int RunSimServe(const SimServeFlags& flags) {
  auto config = LoadSimConfig(flags.config_path);
  if (!config) {
    std::fprintf(stderr, "warden sim: configuration error: %s\n",
                 config.error().message().c_str());
    return 2;
  }
  auto options = sim::MakeSimOptions(*config);
  if (!options) {
    std::fprintf(stderr, "warden sim: configuration error: %s\n",
                 options.error().message().c_str());
    return 2;
  }
  sigset_t signals = BlockStopSignals();
  static const RealClock clock;
  ThreadEventLoop loop(clock);
  sim::SimCloud cloud(loop, *options);
  loop.RunSync([&] { sim::PopulateSim(*config, cloud); });
  sim::SimOpenStack edge(loop, cloud,
                         {.password = config->password,
                          .rate_limit = config->rate_limit,
                          .retry_after_seconds = config->retry_after,
                          .placement = config->placement});
  api::HttpServerOptions http;
  http.address = flags.address;
  http.port = flags.port;
  http.io_threads = 2;
  http.max_body_bytes = 1 << 20;
  http.max_connections = 4096;
  auto server = api::StartHttpServer(http, edge);
  if (!server) {
    std::fprintf(stderr, "warden sim: cannot listen on %s:%u: %s\n", flags.address.c_str(),
                 unsigned(flags.port), server.error().message().c_str());
    return 1;
  }
  const uint16_t port = (*server)->port();
  // Before serving: the catalog names this address.
  loop.RunSync([&] { edge.set_base("http://" + flags.address + ":" + std::to_string(port)); });
  if (!flags.port_file.empty()) {
    if (auto w = WritePortFile(flags.port_file, port); !w) {
      std::fprintf(stderr, "warden sim: --port-file: %s\n", w.error().message().c_str());
      (*server)->Stop();
      loop.Stop();
      return 1;
    }
  }
  std::fprintf(stderr,
               "warden sim: %lld hosts, %lld instances; Keystone at "
               "http://%s:%u/identity/v3 (any user, password from [sim] password); "
               "stats at /sim/stats\n",
               static_cast<long long>(config->hosts),
               static_cast<long long>(config->instances), flags.address.c_str(),
               unsigned(port));
  const int sig = WaitForStopSignal(signals);
  std::fprintf(stderr, "warden sim: stopping (%s)\n", SignalName(sig).c_str());
  (*server)->Stop();
  loop.Stop();
  return 0;
}

}  // namespace warden::server
