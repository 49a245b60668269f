// The API's Prometheus metrics: requests by route, method and status, latency histograms,
// and notifications by status (counted from the store at scrape time).
//
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/auth.h"
#include "store/store.h"

namespace warden::api {

class ApiMetrics {
 public:
  ApiMetrics();
  ~ApiMetrics();

  // route is the template ("/v1/segments/{id}"), never the raw path, to bound cardinality.
  void ObserveRequest(std::string_view method, std::string_view route, int status, double seconds);
  // A GET answered from the response cache (hit) or computed (miss).
  void ObserveResponseCache(bool hit);

  // Prometheus text exposition of everything, with the given notification counts, the
  // store's commit counters and, for Keystone authentication, its validations and cache.
  std::string Render(const std::vector<std::pair<std::string, int64_t>>& notifications_by_status,
                     const store::Store::Stats& store, const AuthStats& auth = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace warden::api
