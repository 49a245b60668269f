// The client commands: `warden segment|host|notification|vmove list|show|create|update|delete`.
//
// Each command translates flags into one or two API calls and prints the answer as a table
// (default) or JSON (-f json). Server errors are printed with the server's message and make
// the command exit non-zero.
#pragma once

#include <memory>

namespace CLI {
class App;
}

namespace warden::cli {

class ClientCommands {
 public:
  // Registers the subcommands on app.
  explicit ClientCommands(CLI::App& app);
  ~ClientCommands();
  // Runs whichever client subcommand was parsed; returns the exit code.
  int Run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace warden::cli
