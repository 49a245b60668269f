// Unit tests of the fencing drivers' pure parts and of fencing levels, on a simulated loop.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/event_loop.h"
#include "core/subprocess.h"
#include "core/test_temp_dir.h"
#include "drivers/faulty.h"
#include "drivers/fencing/credentials.h"
#include "drivers/fencing/fence_levels.h"
#include "drivers/fencing/ipmi_fencer.h"

namespace warden::drivers {
namespace {

constexpr int64_t kSecond = 1'000'000;

// --- credentials ------------------------------------------------------------------------------

std::filesystem::path TempFile(const std::string& name, const std::string& text) {
  auto p = ProcessTempDir("warden-fencing") / name;
  std::ofstream(p) << text;
  return p;
}

TEST(BmcCredentialsTest, FromFileAndEnvironment) {
  auto p = TempFile("creds", "# BMC of compute1\nusername = admin\npassword = s3cret pw\n");
  auto c = LoadBmcCredentials("file:" + p.string());
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->username, "admin");
  EXPECT_EQ(c->password, "s3cret pw");
  std::filesystem::remove(p);

  std::map<std::string, std::string> env = {{"BMC1_USERNAME", "root"}, {"BMC1_PASSWORD", "pw"}};
  auto getenv = [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto e = LoadBmcCredentials("env:BMC1", getenv);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->username, "root");
  EXPECT_EQ(e->password, "pw");
}

TEST(BmcCredentialsTest, ErrorsNameTheProblemAndNeverThePassword) {
  auto missing = LoadBmcCredentials("file:/nonexistent/warden/creds");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/nonexistent/warden/creds"), std::string::npos);
  auto p = TempFile("bad", "username = admin\nhunter2\n");
  auto bad = LoadBmcCredentials("file:" + p.string());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message().find("hunter2"), std::string::npos);
  std::filesystem::remove(p);
  auto no_pw = LoadBmcCredentials("env:NOPE_X", [](const char*) -> const char* { return nullptr; });
  ASSERT_FALSE(no_pw);
  EXPECT_NE(no_pw.error().message().find("NOPE_X_USERNAME"), std::string::npos);
  // A password written where the reference belongs is not echoed.
  auto inline_secret = LoadBmcCredentials("hunter2");
  ASSERT_FALSE(inline_secret);
  EXPECT_EQ(inline_secret.error().message().find("hunter2"), std::string::npos);
}

// --- ipmitool command line --------------------------------------------------------------------

TEST(IpmitoolTest, PasswordTravelsInTheEnvironmentNeverInArgv) {
  IpmiOptions o;
  o.address = "10.0.0.11";
  o.port = 6230;
  o.credentials = {"admin", "s3cret-pw"};
  o.cipher_suite = "17";
  for (IpmiCommand c : {IpmiCommand::kPowerOff, IpmiCommand::kPowerStatus}) {
    auto argv = IpmitoolArgv(o, c);
    std::string joined;
    for (const auto& a : argv) joined += a + " ";
    EXPECT_EQ(joined.find("s3cret-pw"), std::string::npos) << joined;
    EXPECT_EQ(std::count(argv.begin(), argv.end(), "-P"), 0);
    EXPECT_EQ(std::count(argv.begin(), argv.end(), "-E"), 1);
    EXPECT_NE(joined.find("-I lanplus -H 10.0.0.11 -p 6230 -U admin"), std::string::npos) << joined;
    EXPECT_NE(joined.find("-C 17"), std::string::npos);
    EXPECT_NE(joined.find(c == IpmiCommand::kPowerOff ? "chassis power off" : "chassis power status"),
              std::string::npos);
  }
  auto env = IpmitoolEnv(o);
  EXPECT_EQ(std::count(env.begin(), env.end(), "IPMI_PASSWORD=s3cret-pw"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "LC_ALL=C"), 1);
  EXPECT_EQ(env.size(), 3u);  // nothing else of Warden's environment
}

TEST(IpmitoolTest, ParsesPowerStatusAndFailures) {
  EXPECT_EQ(*ParseIpmiPowerStatus("Chassis Power is off\n"), PowerState::kOff);
  EXPECT_EQ(*ParseIpmiPowerStatus("Chassis Power is on\n"), PowerState::kOn);
  EXPECT_FALSE(ParseIpmiPowerStatus("Unable to Get Channel Cipher Suites\n"));
  EXPECT_TRUE(InterpretIpmiRun(ProcessResult{0, "Chassis Power Control: Down/Off\n"}, "x"));
  auto session = InterpretIpmiRun(
      ProcessResult{1, "Unable to Get Channel Cipher Suites\nError: Unable to establish IPMI v2 / "
                       "RMCP+ session\n"},
      "ipmi bmc1");
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(session.error().message().find("Unable to establish IPMI v2"), std::string::npos);
  auto refused = InterpretIpmiRun(ProcessResult{1, "> RAKP 2 HMAC is invalid\nError: ...\n"}, "x");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  auto killed = InterpretIpmiRun(
      Result<ProcessResult>(MakeError(ErrorCode::kDeadlineExceeded, "ipmitool did not finish")),
      "ipmi bmc1");
  EXPECT_EQ(killed.error().code(), ErrorCode::kDeadlineExceeded);
}

TEST(RunProcessTest, CapturesOutputExitStatusAndKillsAtTheDeadline) {
  auto ok = RunProcess({"sh", "-c", "echo out; echo err >&2; echo $SECRET; exit 3"},
                       {"PATH=/usr/bin:/bin", "SECRET=only-this"}, 5 * kSecond);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->exit_status, 3);
  EXPECT_EQ(ok->output, "out\nerr\nonly-this\n");
  auto slow = RunProcess({"sh", "-c", "sleep 30"}, {"PATH=/usr/bin:/bin"}, 300'000);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code(), ErrorCode::kDeadlineExceeded);
  auto missing = RunProcess({"no-such-program-warden"}, {"PATH=/usr/bin:/bin"}, kSecond);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

// --- fencing levels -----------------------------------------------------------------------------

// A BMC in memory: power off works (or is refused), and the host then reads off (or stays on).
class FakeBmc final : public Fencer {
 public:
  FakeBmc(EventLoop& loop, std::set<std::string> hosts) : loop_(loop), hosts_(std::move(hosts)) {}
  bool Covers(const std::string& host) const override { return hosts_.contains(host); }
  void PowerOff(const std::string& host, Callback<void> done) override {
    ++power_offs;
    loop_.Post([this, done] {
      if (refuse) return done(Unavailable("BMC unreachable"));
      if (!stays_on) off = true;
      done(Result<void>{});
    });
  }
  void GetPowerState(const std::string&, Callback<PowerState> done) override {
    ++reads;
    loop_.Post([this, done] { done(off ? PowerState::kOff : PowerState::kOn); });
  }
  int power_offs = 0, reads = 0;
  bool refuse = false, stays_on = false, off = false;

 private:
  EventLoop& loop_;
  std::set<std::string> hosts_;
};

class FenceLevelsTest : public ::testing::Test {
 protected:
  // Two levels for compute1 (bmc1 at 1, pdu at 2); compute2 only on bmc2.
  void Build() {
    auto bmc1 = std::make_unique<FakeBmc>(loop_, std::set<std::string>{"compute1"});
    auto pdu = std::make_unique<FakeBmc>(loop_, std::set<std::string>{"compute1"});
    auto bmc2 = std::make_unique<FakeBmc>(loop_, std::set<std::string>{"compute2"});
    bmc1_ = bmc1.get(), pdu_ = pdu.get(), bmc2_ = bmc2.get();
    std::vector<FenceDevice> devices;
    // Given out of order: levels sort them.
    devices.push_back({.name = "pdu", .level = 2, .confirm_timeout_micros = 10 * kSecond,
                       .fencer = std::move(pdu)});
    devices.push_back({.name = "bmc1", .level = 1, .confirm_timeout_micros = 10 * kSecond,
                       .fencer = std::move(bmc1)});
    devices.push_back({.name = "bmc2", .level = 1, .fencer = std::move(bmc2)});
    FenceLevelsOptions o;
    o.log = [this](std::string_view level, std::string_view msg, const auto& fields) {
      std::string line = std::string(level) + " " + std::string(msg);
      for (const auto& [k, v] : fields) line += " " + k + "=" + v;
      log_.push_back(line);
    };
    fencer_ = MakeFenceLevels(loop_, std::move(devices), o);
  }

  // PowerOff then poll like the engine: until Off, an error that says it cannot confirm, or
  // `limit` of simulated time.
  Result<void> Fence(const std::string& host, int64_t limit = 120 * kSecond) {
    std::optional<Result<void>> off;
    fencer_->PowerOff(host, [&](Result<void> r) { off = r; });
    EXPECT_FALSE(off) << "answered inside the call";
    loop_.RunUntil([&] { return off.has_value(); }, loop_.clock().Monotonic() + limit);
    if (!off || !*off) return off ? *off : Result<void>(MakeError(ErrorCode::kDeadlineExceeded, "no answer"));
    const MonoMicros end = loop_.clock().Monotonic() + limit;
    while (loop_.clock().Monotonic() < end) {
      std::optional<Result<PowerState>> s;
      fencer_->GetPowerState(host, [&](Result<PowerState> r) { s = r; });
      loop_.RunUntil([&] { return s.has_value(); }, end);
      if (s && *s && **s == PowerState::kOff) return {};
      if (s && !*s && s->error().code() == ErrorCode::kFailedPrecondition) {
        return std::unexpected(s->error());
      }
      loop_.RunFor(kSecond);
    }
    return MakeError(ErrorCode::kDeadlineExceeded, "not confirmed");
  }

  SimulatedEventLoop loop_;
  std::unique_ptr<Fencer> fencer_;
  FakeBmc *bmc1_ = nullptr, *pdu_ = nullptr, *bmc2_ = nullptr;
  std::vector<std::string> log_;
};

TEST_F(FenceLevelsTest, FirstLevelThatConfirmsEndsTheFence) {
  Build();
  EXPECT_TRUE(fencer_->Covers("compute1"));
  EXPECT_TRUE(fencer_->Covers("compute2"));
  EXPECT_FALSE(fencer_->Covers("compute3"));
  ASSERT_TRUE(Fence("compute1"));
  EXPECT_EQ(bmc1_->power_offs, 1);
  EXPECT_EQ(pdu_->power_offs, 0);  // level 2 is never needed
  EXPECT_EQ(bmc2_->power_offs, 0);
}

TEST_F(FenceLevelsTest, LevelOneRefusesLevelTwoConfirms) {
  Build();
  bmc1_->refuse = true;
  ASSERT_TRUE(Fence("compute1"));
  EXPECT_EQ(bmc1_->power_offs, 1);
  EXPECT_EQ(pdu_->power_offs, 1);
  EXPECT_TRUE(pdu_->off);
}

TEST_F(FenceLevelsTest, LevelOneCannotConfirmLevelTwoConfirms) {
  Build();
  bmc1_->stays_on = true;  // accepts the power off, but the host never reads off
  const MonoMicros start = loop_.clock().Monotonic();
  ASSERT_TRUE(Fence("compute1"));
  EXPECT_GE(loop_.clock().Monotonic() - start, 10 * kSecond);  // bmc1's confirm timeout
  EXPECT_EQ(pdu_->power_offs, 1);
  EXPECT_GT(bmc1_->reads, 5);
}

TEST_F(FenceLevelsTest, EveryLevelFailingIsAnErrorNamingEachLevel) {
  Build();
  bmc1_->refuse = true;
  pdu_->stays_on = true;
  auto r = Fence("compute1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("level 1 (bmc1): power off failed: BMC unreachable"),
            std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("level 2 (pdu): power off not confirmed within 10 s"),
            std::string::npos)
      << r.error().message();
  bool alarm = false;
  for (const auto& l : log_) alarm |= l.find("ALARM") != std::string::npos;
  EXPECT_TRUE(alarm);
}

TEST_F(FenceLevelsTest, EveryLevelRefusingFailsThePowerOffItself) {
  Build();
  bmc1_->refuse = pdu_->refuse = true;
  std::optional<Result<void>> off;
  fencer_->PowerOff("compute1", [&](Result<void> r) { off = r; });
  loop_.RunUntil([&] { return off.has_value(); }, loop_.clock().Monotonic() + 60 * kSecond);
  ASSERT_TRUE(off);
  ASSERT_FALSE(*off);
  EXPECT_NE(off->error().message().find("every fencing level failed"), std::string::npos);
  // The next fence starts again from level 1.
  bmc1_->refuse = false;
  ASSERT_TRUE(Fence("compute1"));
  EXPECT_EQ(bmc1_->power_offs, 2);
}

TEST_F(FenceLevelsTest, AHungDeviceEndsItsLevelAtItsBudget) {
  // A BMC that never answers its power off: level 2 takes over after power_off_timeout (60 s).
  FakeBmc inner(loop_, {"compute1"});
  auto faulty = std::make_unique<Faulty<Fencer>>(inner, loop_);
  faulty->faults().Set("PowerOff", {.kind = Fault::Kind::kHang, .times = -1});
  std::vector<FenceDevice> devices;
  devices.push_back({.name = "hung", .level = 1, .fencer = std::move(faulty)});
  auto pdu = std::make_unique<FakeBmc>(loop_, std::set<std::string>{"compute1"});
  FakeBmc* p = pdu.get();
  devices.push_back({.name = "pdu", .level = 2, .fencer = std::move(pdu)});
  fencer_ = MakeFenceLevels(loop_, std::move(devices), {});
  ASSERT_TRUE(Fence("compute1", 300 * kSecond));
  EXPECT_TRUE(p->off);
}

TEST_F(FenceLevelsTest, APowerOffDuringARunJoinsIt) {
  Build();
  bmc1_->stays_on = true;
  std::optional<Result<void>> first, second;
  fencer_->PowerOff("compute1", [&](Result<void> r) { first = r; });
  fencer_->PowerOff("compute1", [&](Result<void> r) { second = r; });
  loop_.RunUntil([&] { return first && second; }, loop_.clock().Monotonic() + 5 * kSecond);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(*first && *second);
  EXPECT_EQ(bmc1_->power_offs, 1);
  // While level 1 tries to confirm, the state read is never Off.
  std::optional<Result<PowerState>> s;
  fencer_->GetPowerState("compute1", [&](Result<PowerState> r) { s = r; });
  loop_.RunReady();
  ASSERT_TRUE(s && *s);
  EXPECT_NE(**s, PowerState::kOff);
}

TEST_F(FenceLevelsTest, UncoveredHostIsRefused) {
  Build();
  std::optional<Result<void>> off;
  fencer_->PowerOff("compute9", [&](Result<void> r) { off = r; });
  loop_.RunReady();
  ASSERT_TRUE(off);
  EXPECT_FALSE(*off);
}

TEST(BmcRetry, AFenceDeviceTriesThreeTimesOneThenTwoSecondsApart) {
  // The default behind [fence_device:NAME] retries = 2, with nothing random in it: the
  // worst-case fence time derived from it (and checked against fence_timeout) holds exactly.
  const RetryPolicy& bmc = internal::kBmcRetry;
  std::mt19937_64 rng(7);
  EXPECT_EQ(bmc.attempts, 3);
  EXPECT_EQ(bmc.jitter, 0);
  EXPECT_EQ(bmc.DelayBefore(2, rng), 1'000'000);
  EXPECT_EQ(bmc.DelayBefore(3, rng), 2'000'000);
}

}  // namespace
}  // namespace warden::drivers
