#include "drivers/fencing/ipmi_fencer.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>

namespace warden::drivers {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// ipmitool's last non-empty line: its error message, with "Error: " dropped.
std::string LastLine(const std::string& output) {
  size_t end = output.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "no output";
  size_t start = output.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  std::string line = output.substr(start, end - start + 1);
  if (line.rfind("Error: ", 0) == 0) line = line.substr(7);
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

}  // namespace

std::vector<std::string> IpmitoolArgv(const IpmiOptions& o, IpmiCommand command) {
  // ipmitool's own per-message timeout and retry count, so that it gives up by itself well
  // before the deadline at which Warden kills it.
  const int64_t seconds = std::max<int64_t>(1, o.command_timeout_micros / 1'000'000);
  std::vector<std::string> argv = {o.ipmitool,
                                   "-I", o.interface,
                                   "-H", o.address,
                                   "-p", std::to_string(o.port),
                                   "-U", o.credentials.username,
                                   "-E",
                                   "-N", std::to_string(std::clamp<int64_t>(seconds / 4, 1, 10)),
                                   "-R", "1"};
  if (!o.cipher_suite.empty()) argv.insert(argv.end(), {"-C", o.cipher_suite});
  if (!o.privilege_level.empty()) argv.insert(argv.end(), {"-L", o.privilege_level});
  argv.insert(argv.end(), {"chassis", "power", command == IpmiCommand::kPowerOff ? "off" : "status"});
  return argv;
}

std::vector<std::string> IpmitoolEnv(const IpmiOptions& o) {
  const char* path = std::getenv("PATH");
  return {std::string("PATH=") + (path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin"),
          "LC_ALL=C", "IPMI_PASSWORD=" + o.credentials.password};
}

Result<PowerState> ParseIpmiPowerStatus(std::string_view output) {
  const std::string l = Lower(output);
  const size_t at = l.find("chassis power is ");
  if (at != std::string::npos) {
    const std::string_view rest = std::string_view(l).substr(at + 17);
    if (rest.rfind("off", 0) == 0) return PowerState::kOff;
    if (rest.rfind("on", 0) == 0) return PowerState::kOn;
  }
  return Internal("unexpected answer to chassis power status: " + LastLine(std::string(output)));
}

Result<void> InterpretIpmiRun(const Result<ProcessResult>& run, const std::string& what) {
  if (!run) return MakeError(run.error().code(), what + ": " + run.error().message());
  if (run->exit_status == 0) return {};
  const std::string line = LastLine(run->output);
  const std::string l = Lower(run->output);
  // A refused login is not transient: repeating it only locks the account on some BMCs.
  if (l.find("rakp 2 hmac is invalid") != std::string::npos ||
      l.find("invalid user name") != std::string::npos ||
      l.find("unauthorized name") != std::string::npos) {
    return MakeError(ErrorCode::kPermissionDenied, what + ": the BMC refused the credentials (" +
                                                       line + ")");
  }
  return Unavailable(what + " failed (exit status " + std::to_string(run->exit_status) +
                     "): " + line);
}

namespace {

class IpmiFencer final : public internal::BmcFencer {
 public:
  IpmiFencer(EventLoop& loop, IpmiOptions options, std::shared_ptr<WorkerPool> pool)
      : BmcFencer(loop, options.name, options.hosts, options.retry),
        pool_(std::move(pool)),
        impl_(std::make_shared<Impl>(loop, std::move(options), pool_.get())) {}
  ~IpmiFencer() override {
    impl_->stopping = true;
    pool_.reset();  // if last: runs (and skips) what is queued, then joins
  }

 protected:
  std::function<void(Callback<void>)> PowerOffOnce() override {
    return [impl = impl_](Callback<void> cb) {
      impl->Run(IpmiCommand::kPowerOff, [cb](Result<ProcessResult> r, const std::string& what) {
        cb(InterpretIpmiRun(r, what));
      });
    };
  }
  std::function<void(Callback<PowerState>)> PowerStateOnce() override {
    return [impl = impl_](Callback<PowerState> cb) {
      impl->Run(IpmiCommand::kPowerStatus,
                [cb](Result<ProcessResult> r, const std::string& what) -> void {
                  if (auto ok = InterpretIpmiRun(r, what); !ok) return cb(std::unexpected(ok.error()));
                  auto s = ParseIpmiPowerStatus(r->output);
                  if (!s) return cb(MakeError(s.error().code(), what + ": " + s.error().message()));
                  cb(*s);
                });
    };
  }

 private:
  struct Impl : std::enable_shared_from_this<Impl> {
    Impl(EventLoop& l, IpmiOptions opt, WorkerPool* p) : loop(l), o(std::move(opt)), pool(p) {}

    // Runs one ipmitool command on the pool; `then` runs on the loop. On the loop.
    void Run(IpmiCommand command,
             std::function<void(Result<ProcessResult>, const std::string&)> then) {
      const std::string what = "ipmi " + o.name + " (" + o.address + ":" + std::to_string(o.port) +
                               "): chassis power " +
                               (command == IpmiCommand::kPowerOff ? "off" : "status");
      if (stopping) {
        loop.Post([then, what] { then(Unavailable("fencer stopped"), what); });
        return;
      }
      auto finish = BindToLoop<Result<ProcessResult>>(
          loop, [then, what](Result<ProcessResult> r) { then(std::move(r), what); });
      auto argv = IpmitoolArgv(o, command);
      auto env = IpmitoolEnv(o);
      const int64_t timeout = o.command_timeout_micros;
      pool->Submit([argv = std::move(argv), env = std::move(env), timeout, finish,
                    self = shared_from_this()]() mutable {
        if (self->stopping.load()) return finish(Unavailable("fencer stopped"));
        finish(RunProcess(argv, env, timeout));
      });
    }

    EventLoop& loop;
    const IpmiOptions o;
    WorkerPool* pool;
    std::atomic<bool> stopping{false};
  };

  std::shared_ptr<WorkerPool> pool_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace

std::unique_ptr<Fencer> MakeIpmiFencer(EventLoop& loop, IpmiOptions options,
                                       std::shared_ptr<WorkerPool> pool) {
  return std::make_unique<IpmiFencer>(loop, std::move(options), std::move(pool));
}

}  // namespace warden::drivers
