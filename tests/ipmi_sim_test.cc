// The ipmi fencer against a real BMC simulator: OpenIPMI's ipmi_sim (Debian's `openipmi`) on
// 127.0.0.1 and a free UDP port, driven by the real `ipmitool`. The simulator's chassis power
// is a file the test reads; a "stuck" file makes it ignore power off (a host that stays on).
// Skipped when ipmi_sim or ipmitool is not installed (scripts/install-deps test).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "core/event_loop.h"
#include "core/subprocess.h"
#include "core/test_temp_dir.h"
#include "drivers/fencing/fence_levels.h"
#include "drivers/fencing/ipmi_fencer.h"

namespace warden {
namespace {

namespace fs = std::filesystem;
using drivers::PowerState;
constexpr int64_t kSecond = 1'000'000;
constexpr const char* kPassword = "s3cret-Pw!42";

bool Installed(const char* program) {
  return fs::exists(std::string("/usr/bin/") + program) ||
         fs::exists(std::string("/usr/sbin/") + program);
}

std::string Slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteExecutable(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  fs::permissions(p, fs::perms::owner_all);
}

// A UDP port on 127.0.0.1 that was free a moment ago (ipmi_sim cannot be asked for port 0).
int FreeUdpPort() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// One simulated BMC with user "admin" / kPassword, started and stopped by the test.
class IpmiSim {
 public:
  IpmiSim() {
    dir_ = ProcessTempDir("warden-ipmisim") / "bmc";
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "state");
    std::ofstream(dir_ / "power") << "1\n";
    // ipmi_sim's external chassis control: "<dev> get power" / "<dev> set power 0|1".
    WriteExecutable(dir_ / "chassis.sh", "#!/bin/sh\n"
                                         "dir=$(dirname \"$0\")\n"
                                         "op=$2; shift 2\n"
                                         "case $op in\n"
                                         "  get) for p in \"$@\"; do case $p in\n"
                                         "         power) echo \"power:$(cat \"$dir/power\")\";;\n"
                                         "         boot) echo \"boot:default\";;\n"
                                         "       esac; done ;;\n"
                                         "  set) while [ $# -ge 2 ]; do\n"
                                         "         if [ \"$1\" = power ] && [ ! -e \"$dir/stuck\" ]; then\n"
                                         "           echo \"$2\" > \"$dir/power\"; fi\n"
                                         "         shift 2; done ;;\n"
                                         "  *) exit 1 ;;\n"
                                         "esac\n");
    port_ = FreeUdpPort();
    std::ofstream(dir_ / "lan.conf")
        << "name \"warden-test\"\n"
        << "set_working_mc 0x20\n"
        << "  startlan 1\n"
        << "    addr 127.0.0.1 " << port_ << "\n"
        << "    priv_limit admin\n"
        << "    allowed_auths_callback none md2 md5 straight\n"
        << "    allowed_auths_user none md2 md5 straight\n"
        << "    allowed_auths_operator none md2 md5 straight\n"
        << "    allowed_auths_admin none md2 md5 straight\n"
        << "    guid a123456789abcdefa123456789abcdef\n"
        << "  endlan\n"
        << "  chassis_control \"" << (dir_ / "chassis.sh").string() << " 0x20\"\n"
        << "  user 2 true \"admin\" \"" << kPassword << "\" admin 10 none md2 md5 straight\n";
    std::ofstream(dir_ / "sim.emu") << "mc_setbmc 0x20\n"
                                    << "mc_add 0x20 0 no-device-sdrs 0x23 0x09 0x08 0x9f 0x1291 "
                                       "0xf02\n"
                                    << "mc_enable 0x20\n";
    pid_ = fork();
    if (pid_ == 0) {
      const std::string log = (dir_ / "sim.log").string();
      freopen(log.c_str(), "w", stdout);
      freopen(log.c_str(), "a", stderr);
      const std::string conf = (dir_ / "lan.conf").string(), emu = (dir_ / "sim.emu").string(),
                        state = (dir_ / "state").string();
      execlp("ipmi_sim", "ipmi_sim", "-c", conf.c_str(), "-f", emu.c_str(), "-s", state.c_str(),
             "-n", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~IpmiSim() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  // Waits until the simulator answers a power status (at most 10 s).
  bool WaitReady() {
    for (int i = 0; i < 50; ++i) {
      auto r = RunProcess(
          {"ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", std::to_string(port_), "-U",
           "admin", "-E", "-N", "1", "-R", "1", "chassis", "power", "status"},
          {"PATH=/usr/bin:/bin", std::string("IPMI_PASSWORD=") + kPassword}, 5 * kSecond);
      if (r && r->exit_status == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  int port() const { return port_; }
  const fs::path& dir() const { return dir_; }
  std::string power() const {
    std::string p = Slurp(dir_ / "power");
    return p.substr(0, p.find('\n'));
  }
  void Stuck() { std::ofstream(dir_ / "stuck") << "1\n"; }

 private:
  fs::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

class IpmiSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Installed("ipmi_sim") || !Installed("ipmitool")) {
      GTEST_SKIP() << "ipmi_sim (openipmi) or ipmitool is not installed";
    }
    sim_ = std::make_unique<IpmiSim>();
    ASSERT_TRUE(sim_->WaitReady()) << Slurp(sim_->dir() / "sim.log");
    // ipmitool through a wrapper that records the command line `ps` would show (its own
    // /proc/PID/cmdline) and whether the password arrived in the environment.
    wrapper_ = sim_->dir() / "ipmitool-wrapper";
    WriteExecutable(wrapper_, "#!/bin/sh\n"
                              "tr '\\0' ' ' < /proc/$$/cmdline >> \"$(dirname \"$0\")/argv.log\"\n"
                              "echo >> \"$(dirname \"$0\")/argv.log\"\n"
                              "[ -n \"$IPMI_PASSWORD\" ] && echo env-has-password >> "
                              "\"$(dirname \"$0\")/argv.log\"\n"
                              "exec ipmitool \"$@\"\n");
  }

  drivers::IpmiOptions Options(const std::string& password = kPassword) {
    drivers::IpmiOptions o;
    o.name = "bmc-compute1";
    o.hosts = {"compute1"};
    o.address = "127.0.0.1";
    o.port = sim_->port();
    o.credentials = {"admin", password};
    o.ipmitool = wrapper_.string();
    o.command_timeout_micros = 5 * kSecond;
    o.retry = {
        .attempts = 2, .delay_micros = kSecond, .max_delay_micros = 8 * kSecond, .jitter = 0};
    return o;
  }

  template <typename T>
  std::optional<Result<T>> Wait(std::function<void(drivers::Callback<T>)> call) {
    std::optional<Result<T>> out;
    call([&](Result<T> r) { out = std::move(r); });
    loop_.RunUntil([&] { return out.has_value(); }, loop_.clock().Monotonic() + 600 * kSecond);
    return out;
  }

  SimulatedEventLoop loop_;
  std::shared_ptr<WorkerPool> pool_ = std::make_shared<WorkerPool>(2);
  std::unique_ptr<IpmiSim> sim_;
  fs::path wrapper_;
};

TEST_F(IpmiSimTest, PowerOffIsIssuedAndConfirmedAndThePasswordIsNeverInArgv) {
  auto bmc = drivers::MakeIpmiFencer(loop_, Options(), pool_);
  EXPECT_TRUE(bmc->Covers("compute1"));
  EXPECT_FALSE(bmc->Covers("compute2"));
  auto before = Wait<PowerState>([&](auto cb) { bmc->GetPowerState("compute1", cb); });
  ASSERT_TRUE(before && *before) << (before && !*before ? before->error().ToString() : "");
  EXPECT_EQ(**before, PowerState::kOn);

  // Through fencing levels, as the engine sees it.
  std::vector<drivers::FenceDevice> devices;
  devices.push_back({.name = "ipmi bmc-compute1", .level = 1,
                     .confirm_timeout_micros = 20 * kSecond, .fencer = std::move(bmc)});
  auto fencer = drivers::MakeFenceLevels(loop_, std::move(devices), {});
  auto off = Wait<void>([&](auto cb) { fencer->PowerOff("compute1", cb); });
  ASSERT_TRUE(off && *off) << (off && !*off ? off->error().ToString() : "");
  std::optional<Result<PowerState>> state;
  for (int i = 0; i < 30 && !(state && *state && **state == PowerState::kOff); ++i) {
    loop_.RunFor(kSecond);
    state = Wait<PowerState>([&](auto cb) { fencer->GetPowerState("compute1", cb); });
  }
  ASSERT_TRUE(state && *state);
  EXPECT_EQ(**state, PowerState::kOff);
  EXPECT_EQ(sim_->power(), "0");  // the simulated chassis really was switched off

  const std::string argv = Slurp(sim_->dir() / "argv.log");
  EXPECT_NE(argv.find("chassis power off"), std::string::npos) << argv;
  EXPECT_NE(argv.find("chassis power status"), std::string::npos);
  EXPECT_NE(argv.find(" -E "), std::string::npos);
  EXPECT_EQ(argv.find(" -P "), std::string::npos);
  EXPECT_EQ(argv.find(kPassword), std::string::npos) << argv;
  EXPECT_NE(argv.find("env-has-password"), std::string::npos);
}

TEST_F(IpmiSimTest, WrongPasswordIsAnErrorAndNothingIsSwitched) {
  auto o = Options("not-the-password");
  o.retry.attempts = 1;
  auto bmc = drivers::MakeIpmiFencer(loop_, o, pool_);
  auto off = Wait<void>([&](auto cb) { bmc->PowerOff("compute1", cb); });
  ASSERT_TRUE(off);
  ASSERT_FALSE(*off);
  EXPECT_NE(off->error().message().find("ipmi bmc-compute1 (127.0.0.1:"), std::string::npos)
      << off->error().message();
  EXPECT_EQ(off->error().message().find("not-the-password"), std::string::npos);
  EXPECT_EQ(sim_->power(), "1");
}

TEST_F(IpmiSimTest, UnreachableBmcIsATimeoutError) {
  // A UDP socket that takes packets and never answers: a BMC that is down.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto o = Options();
  o.port = ntohs(a.sin_port);
  o.command_timeout_micros = 2 * kSecond;
  o.retry = {.attempts = 2, .delay_micros = kSecond, .max_delay_micros = 8 * kSecond, .jitter = 0};
  auto bmc = drivers::MakeIpmiFencer(loop_, o, pool_);
  const auto start = std::chrono::steady_clock::now();
  auto off = Wait<void>([&](auto cb) { bmc->PowerOff("compute1", cb); });
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_TRUE(off);
  ASSERT_FALSE(*off);
  EXPECT_TRUE(off->error().code() == ErrorCode::kDeadlineExceeded ||
              off->error().code() == ErrorCode::kUnavailable)
      << off->error().ToString();
  EXPECT_LT(took, std::chrono::seconds(15));  // two attempts of at most 2 s each, bounded
  EXPECT_EQ(sim_->power(), "1");
}

TEST_F(IpmiSimTest, HostThatStaysOnIsNeverConfirmed) {
  sim_->Stuck();
  std::vector<drivers::FenceDevice> devices;
  devices.push_back({.name = "ipmi bmc-compute1", .level = 1,
                     .confirm_timeout_micros = 3 * kSecond,
                     .fencer = drivers::MakeIpmiFencer(loop_, Options(), pool_)});
  auto fencer = drivers::MakeFenceLevels(loop_, std::move(devices), {});
  auto off = Wait<void>([&](auto cb) { fencer->PowerOff("compute1", cb); });
  ASSERT_TRUE(off && *off);  // accepted by the BMC ...
  std::optional<Result<PowerState>> state;
  for (int i = 0; i < 20; ++i) {
    loop_.RunFor(kSecond);
    state = Wait<PowerState>([&](auto cb) { fencer->GetPowerState("compute1", cb); });
    if (state && !*state) break;
  }
  // ... but never confirmed: the run ends with a reason the engine can show.
  ASSERT_TRUE(state);
  ASSERT_FALSE(*state);
  EXPECT_EQ(state->error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(state->error().message().find("not confirmed within 3 s (last reading: on)"),
            std::string::npos)
      << state->error().message();
  EXPECT_EQ(sim_->power(), "1");
}

}  // namespace
}  // namespace warden
