#include "api/keystone_auth.h"
#include "api/sign_in_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace warden::api {
namespace {

constexpr int64_t kSec = 1'000'000;

HttpRequest WithToken(const std::string& token) {
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/v1/segments";
  if (!token.empty()) r.headers.emplace_back("x-auth-token", token);
  return r;
}

// A Keystone that knows a fixed set of tokens and counts how often it is asked.
class FakeKeystone {
 public:
  explicit FakeKeystone(const Clock& clock) : clock_(clock) {}

  void Add(const std::string& token, std::vector<std::string> roles,
           WallMicros expires_at = 0) {
    std::lock_guard lock(mu_);
    tokens_[token] = ValidatedToken{.user_id = "id-" + token,
                                    .user_name = "user-" + token,
                                    .project_id = "p",
                                    .roles = std::move(roles),
                                    .expires_at = expires_at};
  }
  void SetDown(bool down) { down_ = down; }
  int calls() const { return calls_.load(); }

  TokenValidator Validator() {
    return [this](const std::string& token) -> Result<ValidatedToken> {
      ++calls_;
      if (down_) return Unavailable("connection refused");
      std::lock_guard lock(mu_);
      auto it = tokens_.find(token);
      if (it == tokens_.end()) {
        return MakeError(ErrorCode::kUnauthenticated, "The token is unknown.");
      }
      return it->second;
    };
  }

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, ValidatedToken> tokens_;
  std::atomic<bool> down_{false};
  std::atomic<int> calls_{0};
};

class KeystoneAuthTest : public ::testing::Test {
 protected:
  std::unique_ptr<Authenticator> Make(KeystoneAuthOptions options = {}) {
    options.www_authenticate_uri = "http://keystone.example:5000/v3";
    return MakeKeystoneAuthenticator(keystone_.Validator(), clock_, options);
  }

  SimulatedClock clock_;
  FakeKeystone keystone_{clock_};
};

TEST(SignInGateTest, CountsPerAddressWithinAMinuteAndAtOnce) {
  EXPECT_EQ(SignInGate::AddressOf("203.0.113.7:41234"), "203.0.113.7");
  EXPECT_EQ(SignInGate::AddressOf("[2001:db8:1:2::5]:41234"), "2001:db8:1:2::/64");
  EXPECT_EQ(SignInGate::AddressOf("[2001:db8:1:2:ffff::9]:1"), "2001:db8:1:2::/64");
  EXPECT_EQ(SignInGate::AddressOf("[::1]:8"), "::/64");

  SignInGate gate(3, 2);
  constexpr MonoMicros kS = 1'000'000;
  EXPECT_EQ(gate.Enter("a", 0), 0);
  EXPECT_EQ(gate.Enter("a", 10 * kS), 0);
  EXPECT_EQ(gate.Enter("b", 10 * kS), 1);  // two under way: everyone waits a moment
  gate.Leave();
  { SignInGate::Pass pass(gate); }  // a pass leaves when it ends
  EXPECT_EQ(gate.Enter("a", 20 * kS), 0);
  gate.Leave();
  EXPECT_EQ(gate.Enter("a", 30 * kS), 31);  // three in the last minute: until the first is old
  EXPECT_EQ(gate.Enter("b", 30 * kS), 0);   // another address is not held back
  gate.Leave();
  EXPECT_EQ(gate.Enter("a", 60 * kS), 0);   // the first attempt left the window
  gate.Leave();
}

TEST_F(KeystoneAuthTest, PasswordsAreExchangedOnlyWithAnExchanger) {
  auto tokens_only = Make();
  EXPECT_EQ(tokens_only->SignInMethods(), (std::vector<std::string>{"token"}));
  EXPECT_EQ(tokens_only->SignIn({.username = "u", .password = "p", .project = "x"}).error().code(),
            ErrorCode::kFailedPrecondition);

  std::vector<std::string> asked;
  KeystoneAuthOptions options;
  auto with = MakeKeystoneAuthenticator(
      keystone_.Validator(), clock_, options,
      [&](const PasswordSignIn& in) -> Result<IssuedToken> {
        asked.push_back(in.username + "@" + in.user_domain + "/" + in.project + "@" +
                        in.project_domain);
        if (in.password != "right") {
          return MakeError(ErrorCode::kUnauthenticated,
                           "Keystone refused the user name, password or project.");
        }
        return IssuedToken{.token = "tok-" + in.username, .expires_at = 42};
      });
  EXPECT_EQ(with->SignInMethods(), (std::vector<std::string>{"password", "token"}));
  auto ok = with->SignIn({.username = "ops", .password = "right", .project = "demo"});
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->token, "tok-ops");
  auto no = with->SignIn({.username = "ops", .password = "wrong", .project = "demo"});
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(asked, (std::vector<std::string>{"ops@Default/demo@Default", "ops@Default/demo@Default"}));
  EXPECT_EQ(keystone_.calls(), 0);  // signing in validates nothing
}

TEST_F(KeystoneAuthTest, NoTokenIsUnauthenticatedWithAKeystoneChallenge) {
  auto auth = Make();
  auto r = auth->Authenticate(WithToken(""));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(auth->Challenge(), "Keystone uri=\"http://keystone.example:5000/v3\"");
  EXPECT_EQ(keystone_.calls(), 0);
}

TEST_F(KeystoneAuthTest, RolesMapToAdminReaderOrNothing) {
  keystone_.Add("a", {"member", "Admin"});  // role names compare without case
  keystone_.Add("r", {"reader"});
  keystone_.Add("m", {"member"});
  auto auth = Make();
  auto admin = auth->Authenticate(WithToken("a"));
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->role, Role::kAdmin);
  EXPECT_EQ(admin->name, "user-a");
  auto reader = auth->Authenticate(WithToken("r"));
  ASSERT_TRUE(reader.has_value());
  EXPECT_EQ(reader->role, Role::kReader);
  auto nobody = auth->Authenticate(WithToken("m"));
  ASSERT_FALSE(nobody.has_value());
  EXPECT_EQ(nobody.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(nobody.error().message().find("member"), std::string::npos);
}

TEST_F(KeystoneAuthTest, ConfiguredRoleLists) {
  keystone_.Add("m", {"member"});
  keystone_.Add("o", {"ha-operator"});
  KeystoneAuthOptions o;
  o.admin_roles = SplitRoleList(" admin, ha-operator ");
  o.reader_roles = SplitRoleList("reader,member,");
  auto auth = Make(o);
  EXPECT_EQ(auth->Authenticate(WithToken("m"))->role, Role::kReader);
  EXPECT_EQ(auth->Authenticate(WithToken("o"))->role, Role::kAdmin);
  EXPECT_EQ(SplitRoleList(" , ,"), std::vector<std::string>{});
}

TEST_F(KeystoneAuthTest, BearerTokensAreValidatedToo) {
  keystone_.Add("a", {"admin"});
  auto auth = Make();
  HttpRequest r;
  r.headers.emplace_back("authorization", "Bearer a");
  EXPECT_EQ(auth->Authenticate(r)->role, Role::kAdmin);
}

TEST_F(KeystoneAuthTest, AValidTokenIsValidatedOncePerCachePeriod) {
  keystone_.Add("a", {"admin"});
  KeystoneAuthOptions o;
  o.cache_seconds = 300;
  auto auth = Make(o);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  EXPECT_EQ(keystone_.calls(), 1);
  clock_.Advance(299 * kSec);
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  EXPECT_EQ(keystone_.calls(), 1);
  clock_.Advance(2 * kSec);
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  EXPECT_EQ(keystone_.calls(), 2);
  AuthStats s = auth->Stats();
  EXPECT_TRUE(s.remote);
  EXPECT_EQ(s.validations_valid, 2);
  EXPECT_EQ(s.cache_hits, 50);
  EXPECT_EQ(s.cached_tokens, 1);
}

TEST_F(KeystoneAuthTest, NeverCachedPastTheTokensExpiry) {
  keystone_.Add("a", {"admin"}, clock_.Now() + 60 * kSec);
  auto auth = Make();
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  clock_.Advance(59 * kSec);
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  EXPECT_EQ(keystone_.calls(), 1);
  clock_.Advance(2 * kSec);
  auto r = auth->Authenticate(WithToken("a"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(keystone_.calls(), 1) << "an expired token needs no question to Keystone";
}

TEST_F(KeystoneAuthTest, AnAlreadyExpiredAnswerIsRefused) {
  keystone_.Add("old", {"admin"}, clock_.Now() - kSec);
  auto auth = Make();
  auto r = auth->Authenticate(WithToken("old"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
}

TEST_F(KeystoneAuthTest, BadTokensAreNegativelyCachedBriefly) {
  KeystoneAuthOptions o;
  o.negative_cache_seconds = 10;
  auto auth = Make(o);
  for (int i = 0; i < 20; ++i) {
    auto r = auth->Authenticate(WithToken("bogus"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  }
  EXPECT_EQ(keystone_.calls(), 1);
  clock_.Advance(11 * kSec);
  keystone_.Add("bogus", {"admin"});  // e.g. Keystone's database was restored
  EXPECT_TRUE(auth->Authenticate(WithToken("bogus")).has_value());
  EXPECT_EQ(keystone_.calls(), 2);
  EXPECT_EQ(auth->Stats().negative_cache_hits, 19);
}

TEST_F(KeystoneAuthTest, KeystoneDownIsUnavailableAndNotCached) {
  keystone_.Add("a", {"admin"});
  keystone_.Add("b", {"admin"});
  auto auth = Make();
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  keystone_.SetDown(true);
  // Cached tokens still work while Keystone is down ...
  EXPECT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  // ... new ones get 503, every time (never 401, never let in).
  for (int i = 0; i < 3; ++i) {
    auto r = auth->Authenticate(WithToken("b"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  }
  EXPECT_EQ(keystone_.calls(), 4);
  keystone_.SetDown(false);
  EXPECT_TRUE(auth->Authenticate(WithToken("b")).has_value());
  EXPECT_EQ(auth->Stats().validations_failed, 3);
}

TEST_F(KeystoneAuthTest, AThrowingValidatorIsUnavailable) {
  auto auth = MakeKeystoneAuthenticator(
      [](const std::string&) -> Result<ValidatedToken> { throw std::runtime_error("boom"); },
      clock_, {});
  auto r = auth->Authenticate(WithToken("x"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
}

TEST_F(KeystoneAuthTest, HugeTokensAreRefusedWithoutAsking) {
  auto auth = Make();
  auto r = auth->Authenticate(WithToken(std::string(9000, 'g')));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(keystone_.calls(), 0);
}

TEST_F(KeystoneAuthTest, CachesAreBoundedAndBadTokensCannotEvictGoodOnes) {
  KeystoneAuthOptions o;
  o.max_cached_tokens = 2;
  auto auth = Make(o);
  keystone_.Add("a", {"admin"});
  keystone_.Add("b", {"admin"});
  keystone_.Add("c", {"admin"});
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  ASSERT_TRUE(auth->Authenticate(WithToken("b")).has_value());
  for (int i = 0; i < 100; ++i) auth->Authenticate(WithToken("junk" + std::to_string(i)));
  EXPECT_EQ(auth->Stats().cached_invalid_tokens, 2);
  EXPECT_EQ(auth->Stats().cached_tokens, 2);
  const int before = keystone_.calls();
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  ASSERT_TRUE(auth->Authenticate(WithToken("b")).has_value());
  EXPECT_EQ(keystone_.calls(), before);
  // A third valid token evicts the least recently used one (a).
  ASSERT_TRUE(auth->Authenticate(WithToken("c")).has_value());
  ASSERT_TRUE(auth->Authenticate(WithToken("b")).has_value());
  EXPECT_EQ(keystone_.calls(), before + 1);
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  EXPECT_EQ(keystone_.calls(), before + 2);
}

TEST_F(KeystoneAuthTest, WithoutBlockingAnswersOnlyFromTheCache) {
  keystone_.Add("a", {"reader"});
  auto auth = Make();
  EXPECT_FALSE(auth->AuthenticateWithoutBlocking(WithToken("a")).has_value());
  auto none = auth->AuthenticateWithoutBlocking(WithToken(""));
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(keystone_.calls(), 0);
  ASSERT_TRUE(auth->Authenticate(WithToken("a")).has_value());
  auto cached = auth->AuthenticateWithoutBlocking(WithToken("a"));
  ASSERT_TRUE(cached.has_value() && cached->has_value());
  EXPECT_EQ((*cached)->role, Role::kReader);
  EXPECT_EQ(keystone_.calls(), 1);
}

// A validator that blocks until released, to hold validations in flight.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST_F(KeystoneAuthTest, ConcurrentRequestsWithOneNewTokenValidateItOnce) {
  Gate gate;
  std::atomic<int> calls{0};
  auto auth = MakeKeystoneAuthenticator(
      [&](const std::string&) -> Result<ValidatedToken> {
        ++calls;
        gate.Pass();
        return ValidatedToken{.user_name = "u", .roles = {"admin"}};
      },
      clock_, {});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (auth->Authenticate(WithToken("same"))) ++ok;
    });
  }
  while (calls.load() == 0) std::this_thread::yield();
  gate.Open();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(KeystoneAuthTest, ConcurrentValidationsAreBounded) {
  Gate gate;
  std::atomic<int> running{0}, most{0}, calls{0};
  KeystoneAuthOptions o;
  o.max_concurrent_validations = 2;
  auto auth = MakeKeystoneAuthenticator(
      [&](const std::string&) -> Result<ValidatedToken> {
        ++calls;
        int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        gate.Pass();
        --running;
        return ValidatedToken{.user_name = "u", .roles = {"reader"}};
      },
      clock_, o);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] { auth->Authenticate(WithToken("t" + std::to_string(i))); });
  }
  while (calls.load() < 2) std::this_thread::yield();
  RealClock().SleepFor(50'000);
  EXPECT_EQ(calls.load(), 2) << "the others wait for a slot";
  gate.Open();
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 6);
  EXPECT_LE(most.load(), 2);
}

TEST_F(KeystoneAuthTest, WaitingTooLongForASlotIsUnavailable) {
  Gate gate;
  std::atomic<int> calls{0};
  KeystoneAuthOptions o;
  o.max_concurrent_validations = 1;
  o.wait_micros = 20'000;
  auto auth = MakeKeystoneAuthenticator(
      [&](const std::string&) -> Result<ValidatedToken> {
        ++calls;
        gate.Pass();
        return ValidatedToken{.user_name = "u", .roles = {"reader"}};
      },
      clock_, o);
  std::thread first([&] { auth->Authenticate(WithToken("first")); });
  while (calls.load() == 0) std::this_thread::yield();
  auto r = auth->Authenticate(WithToken("second"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  gate.Open();
  first.join();
}

}  // namespace
}  // namespace warden::api
