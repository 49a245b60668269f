#include "core/daemon.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace warden {

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int WaitForStopSignal(const sigset_t& signals) {
  int sig = 0;
  // sigwait fails only for a set without a valid signal (not ours) or on EINTR.
  while (sigwait(&signals, &sig) == EINTR) {
  }
  return sig;
}

std::string SignalName(int sig) {
  if (sig == SIGINT) return "SIGINT";
  if (sig == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(sig);
}

Result<void> WritePortFile(const std::string& path, uint16_t port) {
  const std::string tmp = path + ".tmp";
  FILE* out = std::fopen(tmp.c_str(), "w");
  if (out == nullptr) {
    return InvalidArgument("cannot write the port file " + path + ": " + std::strerror(errno));
  }
  const bool written = std::fprintf(out, "%u\n", unsigned(port)) > 0;
  const int write_errno = errno;
  if (std::fclose(out) != 0 || !written) {
    const std::string why = std::strerror(written ? errno : write_errno);
    std::remove(tmp.c_str());
    return InvalidArgument("cannot write the port file " + path + ": " + why);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return InvalidArgument("cannot write the port file " + path + ": " + why);
  }
  return {};
}

}  // namespace warden
