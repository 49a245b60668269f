#include "api/keystone_auth.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <set>
#include <unordered_map>

#include "core/digest.h"

namespace warden::api {
namespace {

constexpr int64_t kSecond = 1'000'000;

// A map of bounded size that forgets the least recently used entry first. Not thread-safe.
template <typename V>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

  V* Find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  void Put(const std::string& key, V value) {
    if (V* v = Find(key)) {
      *v = std::move(value);
      return;
    }
    if (order_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
  }
  void Erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }
  size_t size() const { return order_.size(); }

 private:
  size_t capacity_;
  std::list<std::pair<std::string, V>> order_;  // most recently used first
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};

struct ValidEntry {
  Result<Principal> verdict;  // a principal, or PermissionDenied for a token without a role
  MonoMicros until;           // the cache time ends
  WallMicros expires_at;      // the token ends (0: unknown)
};

struct InvalidEntry {
  MonoMicros until;
};

bool SameRole(std::string_view a, std::string_view b) {
  // oslo.policy compares role names without regard to case.
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

bool AnyRole(const std::vector<std::string>& have, const std::vector<std::string>& wanted) {
  for (const auto& h : have) {
    for (const auto& w : wanted) {
      if (SameRole(h, w)) return true;
    }
  }
  return false;
}

std::string JoinRoles(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ", ") + r;
  return out.empty() ? "none" : out;
}

std::unexpected<Error> BadToken() {
  return MakeError(ErrorCode::kUnauthenticated,
                   "The request you have made requires authentication: the token is unknown, "
                   "revoked or expired.");
}

class KeystoneAuthenticator final : public Authenticator {
 public:
  KeystoneAuthenticator(TokenValidator validator, const Clock& clock, KeystoneAuthOptions options,
                        PasswordExchanger exchanger)
      : validator_(std::move(validator)),
        exchanger_(std::move(exchanger)),
        clock_(clock),
        options_(std::move(options)),
        state_(std::make_unique<State>(options_.max_cached_tokens)) {}

  std::vector<std::string> SignInMethods() const override {
    if (exchanger_) return {"password", "token"};
    return {"token"};
  }
  Result<IssuedToken> SignIn(const PasswordSignIn& in) const override {
    if (!exchanger_) return Authenticator::SignIn(in);
    return exchanger_(in);
  }

  Result<Principal> Authenticate(const HttpRequest& request) const override {
    auto token = PresentedToken(request);
    if (!token) return NoToken();
    if (token->size() > options_.max_token_bytes) return BadToken();
    const std::string key = Sha256Hex(*token);
    State& s = *state_;
    std::unique_lock lock(s.mu);
    // Answer from the cache, or become the one request that validates this token.
    while (true) {
      if (auto cached = FromCache(key)) return *cached;
      const bool busy = s.in_flight.contains(key) ||
                        s.running >= std::max(1, options_.max_concurrent_validations);
      if (!busy) break;
      // Each wake-up means a validation ended, so waiting restarts: progress was made.
      if (s.cv.wait_for(lock, std::chrono::microseconds(options_.wait_micros)) ==
          std::cv_status::timeout) {
        ++s.validations_failed;
        return Unavailable("Keystone is too slow: the token could not be validated in time.");
      }
    }
    s.in_flight.insert(key);
    ++s.running;
    lock.unlock();

    Result<ValidatedToken> answer = MakeError(ErrorCode::kInternal, "no answer");
    try {
      answer = validator_(*token);
    } catch (const std::exception& e) {
      answer = Internal(std::string("token validation failed: ") + e.what());
    }

    lock.lock();
    s.in_flight.erase(key);
    --s.running;
    s.cv.notify_all();
    const MonoMicros mono = clock_.Monotonic();
    if (answer) {
      if (answer->expires_at != 0 && answer->expires_at <= clock_.Now()) {
        ++s.validations_invalid;
        RememberInvalid(key, mono);
        return BadToken();
      }
      ++s.validations_valid;
      Result<Principal> verdict = MapRoles(*answer);
      if (options_.cache_seconds > 0) {
        s.valid.Put(key, ValidEntry{verdict, mono + options_.cache_seconds * kSecond,
                                    answer->expires_at});
      }
      return verdict;
    }
    const ErrorCode code = answer.error().code();
    if (code == ErrorCode::kNotFound || code == ErrorCode::kUnauthenticated) {
      ++s.validations_invalid;
      RememberInvalid(key, mono);
      return BadToken();
    }
    ++s.validations_failed;
    return Unavailable("The token could not be validated: Keystone is unavailable (" +
                       answer.error().message() + ").");
  }

  std::optional<Result<Principal>> AuthenticateWithoutBlocking(
      const HttpRequest& request) const override {
    auto token = PresentedToken(request);
    if (!token) return NoToken();
    if (token->size() > options_.max_token_bytes) return BadToken();
    const std::string key = Sha256Hex(*token);
    std::lock_guard lock(state_->mu);
    return FromCache(key);
  }

  std::string Challenge() const override {
    return "Keystone uri=\"" + options_.www_authenticate_uri + "\"";
  }

  AuthStats Stats() const override {
    std::lock_guard lock(state_->mu);
    const State& s = *state_;
    return AuthStats{.remote = true,
                     .validations_valid = s.validations_valid,
                     .validations_invalid = s.validations_invalid,
                     .validations_failed = s.validations_failed,
                     .cache_hits = s.cache_hits,
                     .negative_cache_hits = s.negative_cache_hits,
                     .cached_tokens = int64_t(s.valid.size()),
                     .cached_invalid_tokens = int64_t(s.invalid.size())};
  }

 private:
  struct State {
    explicit State(size_t capacity) : valid(capacity), invalid(capacity) {}
    std::mutex mu;
    std::condition_variable cv;  // a validation ended
    // Everything below is guarded by mu.
    LruMap<ValidEntry> valid;
    LruMap<InvalidEntry> invalid;
    std::set<std::string> in_flight;  // keys being validated
    int running = 0;
    int64_t validations_valid = 0;
    int64_t validations_invalid = 0;
    int64_t validations_failed = 0;
    int64_t cache_hits = 0;
    int64_t negative_cache_hits = 0;
  };

  static std::unexpected<Error> NoToken() {
    return MakeError(ErrorCode::kUnauthenticated,
                     "The request you have made requires authentication: send a Keystone token "
                     "in X-Auth-Token.");
  }

  // REQUIRES: state_->mu held.
  std::optional<Result<Principal>> FromCache(const std::string& key) const {
    State& s = *state_;
    const MonoMicros mono = clock_.Monotonic();
    if (ValidEntry* e = s.valid.Find(key)) {
      if (e->expires_at != 0 && e->expires_at <= clock_.Now()) {
        s.valid.Erase(key);
        RememberInvalid(key, mono);
        ++s.negative_cache_hits;
        return BadToken();
      }
      if (mono < e->until) {
        ++s.cache_hits;
        return e->verdict;
      }
      s.valid.Erase(key);
    }
    if (InvalidEntry* e = s.invalid.Find(key)) {
      if (mono < e->until) {
        ++s.negative_cache_hits;
        return BadToken();
      }
      s.invalid.Erase(key);
    }
    return std::nullopt;
  }

  // REQUIRES: state_->mu held.
  void RememberInvalid(const std::string& key, MonoMicros mono) const {
    if (options_.negative_cache_seconds <= 0) return;
    state_->invalid.Put(key, InvalidEntry{mono + options_.negative_cache_seconds * kSecond});
  }

  Result<Principal> MapRoles(const ValidatedToken& t) const {
    std::string name = !t.user_name.empty() ? t.user_name : t.user_id;
    if (AnyRole(t.roles, options_.admin_roles)) return Principal{name, Role::kAdmin};
    if (AnyRole(t.roles, options_.reader_roles)) return Principal{name, Role::kReader};
    return MakeError(ErrorCode::kPermissionDenied,
                     "Policy doesn't allow this request: the token's roles (" + JoinRoles(t.roles) +
                         ") include none of " + JoinRoles(options_.admin_roles) +
                         " (admin) or " + JoinRoles(options_.reader_roles) + " (reader).");
  }

  const TokenValidator validator_;
  const PasswordExchanger exchanger_;
  const Clock& clock_;
  const KeystoneAuthOptions options_;
  const std::unique_ptr<State> state_;
};

}  // namespace

std::vector<std::string> SplitRoleList(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

std::unique_ptr<Authenticator> MakeKeystoneAuthenticator(TokenValidator validator,
                                                         const Clock& clock,
                                                         KeystoneAuthOptions options,
                                                         PasswordExchanger exchanger) {
  return std::make_unique<KeystoneAuthenticator>(std::move(validator), clock, std::move(options),
                                                 std::move(exchanger));
}

}  // namespace warden::api
