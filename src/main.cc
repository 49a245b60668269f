// warden: one binary, several roles — `warden server`, `warden agent`, `warden token`, and the
// client commands (`warden segment|host|notification|vmove ...`).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>

#include "agent/agent.h"
#include "api/auth.h"
#include "cli/commands.h"
#include "core/digest.h"
#include "server/db_command.h"
#include "server/demo.h"
#include "server/server.h"
#include "server/sim_serve.h"

int main(int argc, char** argv) {
  // A peer that goes away (a client, a custom task's command, ipmitool) is an error to handle
  // where it happens, never a reason for the process to die.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"Warden: instance HA for OpenStack, speaking the Masakari v1 API"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "warden 0.1.0");

  warden::server::ServerFlags server_flags;
  auto* server = app.add_subcommand("server", "Run the API server");
  server->add_option("--config", server_flags.config_path, "INI configuration file");
  server->add_flag("--check-config", server_flags.check_config,
                   "Validate the configuration, print the effective values and exit");
  server->add_option("--port-file", server_flags.port_file,
                     "Write the bound port to this file once listening (for port 0)");

  warden::server::DemoFlags demo_flags;
  auto* demo = app.add_subcommand(
      "demo", "Run the demo: a server with a simulated cloud, a host failure and its recovery");
  demo->add_flag("--once", demo_flags.once,
                 "Exit after the recovery: 0 only if every protected instance recovered");
  demo->add_option("--dir", demo_flags.dir, "Where the demo's database, config and log go");
  demo->add_option("--port", demo_flags.port, "Port to listen on (0: any free one)");

  warden::server::SimServeFlags sim_flags;
  auto* sim = app.add_subcommand("sim", "The simulated cloud");
  sim->require_subcommand(1);
  auto* sim_serve = sim->add_subcommand(
      "serve", "Serve the simulated cloud as Keystone, Nova and Placement over HTTP");
  sim_serve->add_option("--config", sim_flags.config_path, "INI file; its [sim] section is read");
  sim_serve->add_option("--port", sim_flags.port, "Port to listen on (0: any free one)");
  sim_serve->add_option("--port-file", sim_flags.port_file,
                        "Write the bound port to this file once listening");

  warden::agent::AgentFlags agent_flags;
  auto* agent = app.add_subcommand(
      "agent", "Run the host agent: restarts this host's processes when the server asks");
  agent->add_option("--config", agent_flags.config_path, "INI configuration file")->required();
  agent->add_flag("--check-config", agent_flags.check_config,
                  "Validate the configuration, print it and exit");
  agent->add_option("--port-file", agent_flags.port_file,
                    "Write the bound port to this file once listening (for port 0)");

  warden::server::DbFlags db_flags;
  auto* db = app.add_subcommand("db", "The database's schema");
  db->require_subcommand(1);
  auto* db_version = db->add_subcommand(
      "version", "Print the schema version of [database] connection and this warden's");
  auto* db_upgrade = db->add_subcommand(
      "upgrade", "Apply the migrations the database lacks (a server also does at start)");
  for (auto* cmd : {db_version, db_upgrade}) {
    cmd->add_option("--config", db_flags.config_path, "INI configuration file")->required();
  }

  auto* token = app.add_subcommand("token", "Manage API tokens");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "Create a token and print its file line");
  std::string token_name, token_role = "admin", token_file;
  token_create->add_option("--name", token_name, "Who the token is for")->required();
  token_create->add_option("--role", token_role, "admin or reader")
      ->check(CLI::IsMember({"admin", "reader"}));
  token_create->add_option("--file", token_file, "Also append the line to this token file");

  warden::cli::ClientCommands client(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any usage error exits 2 (CLI11's own codes are 100+).
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (server->parsed()) return warden::server::RunServer(server_flags);
  if (demo->parsed()) return warden::server::RunDemo(demo_flags);
  if (agent->parsed()) return warden::agent::RunAgent(agent_flags);
  if (sim_serve->parsed()) return warden::server::RunSimServe(sim_flags);
  if (db_version->parsed()) return warden::server::RunDbVersion(db_flags);
  if (db_upgrade->parsed()) return warden::server::RunDbUpgrade(db_flags);
  if (token_create->parsed()) {
    if (token_name.empty() || token_name.find_first_of(" \t\n") != std::string::npos) {
      std::fprintf(stderr, "warden: --name must be non-empty and without spaces\n");
      return 2;
    }
    auto made = warden::api::NewToken();
    if (!made) {
      std::fprintf(stderr, "warden: %s\n", made.error().message().c_str());
      return 1;
    }
    const std::string& t = *made;
    std::string line = warden::Sha256Hex(t) + " " + token_name + " " + token_role;
    if (!token_file.empty()) {
      std::ofstream f(token_file, std::ios::app);
      if (!f) {
        std::fprintf(stderr, "warden: cannot append to %s\n", token_file.c_str());
        return 1;
      }
      f << line << "\n";
    }
    std::printf("token: %s\nfile line: %s\n", t.c_str(), line.c_str());
    return 0;
  }
  return client.Run();
}
