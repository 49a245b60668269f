// Bounds the dashboard's password sign-ins (POST /signin): each is a password guess passed to
// Keystone, so Warden must not become a relay for guessing passwords or for locking accounts
// out. At most `per_minute` attempts per client address in any 60 s, and `at_once` under way
// altogether.
//
// Thread-safe.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
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

  // Leaves the gate when it goes out of scope: for an attempt Enter() let in.
  class Pass {
   public:
    explicit Pass(SignInGate& gate) : gate_(gate) {}
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    ~Pass() { gate_.Leave(); }

   private:
    SignInGate& gate_;
  };

  // Who is counted: "203.0.113.7" of "203.0.113.7:41234"; for IPv6 the /64 network a host
  // hands out addresses from, "2001:db8:1:2::/64" of "[2001:db8:1:2::5]:41234". Behind a
  // reverse proxy every client has the proxy's address and shares its limit.
  static std::string AddressOf(const std::string& peer) {
    if (peer.empty() || peer.front() != '[') {
      const size_t colon = peer.rfind(':');
      return colon == std::string::npos ? peer : peer.substr(0, colon);
    }
    const std::string v6 = peer.substr(1, peer.find(']') - 1);
    in6_addr a{};
    if (inet_pton(AF_INET6, v6.c_str(), &a) != 1) return v6;
    std::memset(a.s6_addr + 8, 0, 8);
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, &a, text, sizeof text) == nullptr) return v6;
    return std::string(text) + "/64";
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
