// Bounds the dashboard's password sign-ins (POST /signin): each is a password guess passed to
// Keystone, so Warden must not become a relay for guessing passwords or for locking accounts
// out. At most `per_minute` attempts per client address in any 60 s, and `at_once` under way
// altogether.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "core/clock.h"

namespace warden::api {

class SignInGate {
 public:
  SignInGate(int per_minute, int at_once) : per_minute_(per_minute), at_once_(at_once) {}

  // 0: the attempt may go on, and Leave() must follow it. Otherwise the seconds to wait
  // (at least 1) before this address may try again.
  int64_t Enter(const std::string& address, MonoMicros now) {
    std::lock_guard lock(mu_);
    if (tries_.size() > 10'000) Forget(now);
    std::deque<MonoMicros>& t = tries_[address];
    while (!t.empty() && now - t.front() >= kWindow) t.pop_front();
    if (int64_t(t.size()) >= per_minute_) return std::max<int64_t>(1, (t.front() + kWindow - now) / 1'000'000 + 1);
    if (running_ >= at_once_) return 1;
    t.push_back(now);
    ++running_;
    return 0;
  }
  void Leave() {
    std::lock_guard lock(mu_);
    --running_;
  }

  // "203.0.113.7" of "203.0.113.7:41234", "::1" of "[::1]:41234".
  static std::string AddressOf(const std::string& peer) {
    if (!peer.empty() && peer.front() == '[') return peer.substr(1, peer.find(']') - 1);
    const size_t colon = peer.rfind(':');
    return colon == std::string::npos ? peer : peer.substr(0, colon);
  }

 private:
  static constexpr MonoMicros kWindow = 60'000'000;

  void Forget(MonoMicros now) {  // REQUIRES: mu_ held
    std::erase_if(tries_, [&](const auto& kv) {
      return kv.second.empty() || now - kv.second.back() >= kWindow;
    });
  }

  const int per_minute_;
  const int at_once_;
  std::mutex mu_;
  std::map<std::string, std::deque<MonoMicros>> tries_;  // GUARDED_BY(mu_)
  int running_ = 0;                                      // GUARDED_BY(mu_)
};

}  // namespace warden::api
