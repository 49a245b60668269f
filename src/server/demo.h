// `warden demo`: the main job on the embedded default. A server on SQLite with the sim cloud
// (a segment of 8 hosts, one reserved, 60 instances), a host failure injected, the recovery
// followed live, then the server left running with directions for looking around.
#pragma once

#include <string>

namespace warden::server {

struct DemoFlags {
  bool once = false;         // exit after the recovery: 0 only if every protected VM recovered
  std::string dir = ".demo"; // database, config and log (the database is recreated)
  int port = 15868;          // a free one if taken
};

int RunDemo(const DemoFlags& flags);

}  // namespace warden::server
