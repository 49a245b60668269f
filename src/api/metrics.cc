#include "api/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <unordered_map>

namespace warden::api {

struct ApiMetrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("warden_http_requests_total")
          .Help("HTTP requests answered, by route template, method and status.")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram()
          .Name("warden_http_request_duration_seconds")
          .Help(
              "Time from a request's arrival at the handler to its response, by route and status.")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& response_cache =
      prometheus::BuildCounter()
          .Name("warden_api_response_cache_total")
          .Help("GET answers from the response cache (hit) or computed (miss).")
          .Register(registry);
  prometheus::Counter& cache_hits = response_cache.Add({{"result", "hit"}});
  prometheus::Counter& cache_misses = response_cache.Add({{"result", "miss"}});
  prometheus::Family<prometheus::Gauge>& notifications =
      prometheus::BuildGauge()
          .Name("warden_notifications")
          .Help("Stored notifications by status.")
          .Register(registry);

  prometheus::Family<prometheus::Gauge>& store_commits =
      prometheus::BuildGauge()
          .Name("warden_store_commits_total")
          .Help("Durable commits (fsyncs) of the store since start.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& store_transactions =
      prometheus::BuildGauge()
          .Name("warden_store_transactions_total")
          .Help("Write transactions committed since start; over commits, the group-commit batch.")
          .Register(registry);

  prometheus::Family<prometheus::Gauge>& store_checkpoints =
      prometheus::BuildGauge()
          .Name("warden_store_checkpoints_total")
          .Help("Background WAL checkpoints run since start.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& store_checkpoint_failures =
      prometheus::BuildGauge()
          .Name("warden_store_checkpoint_failures_total")
          .Help("Background WAL checkpoints that failed; while they do, the WAL keeps growing.")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& store_foreign_writes =
      prometheus::BuildGauge()
          .Name("warden_store_foreign_writes_total")
          .Help(
              "Commits found made by another connection to the database (another process on "
              "the same file); each makes the duplicate check start over from SQL.")
          .Register(registry);

  prometheus::Family<prometheus::Gauge>& token_validations =
      prometheus::BuildGauge()
          .Name("warden_keystone_token_validations_total")
          .Help("Tokens validated with Keystone since start, by result (valid, invalid, failed).")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& token_cache_hits =
      prometheus::BuildGauge()
          .Name("warden_keystone_token_cache_hits_total")
          .Help("Requests whose token was answered from the cache, by kind (valid, invalid).")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& token_cache_entries =
      prometheus::BuildGauge()
          .Name("warden_keystone_token_cache_entries")
          .Help("Tokens in the cache now, by kind (valid, invalid).")
          .Register(registry);

  // Family::Add takes a lock and hashes labels; cache the children per key.
  std::mutex mu;
  std::unordered_map<std::string, std::pair<prometheus::Counter*, prometheus::Histogram*>> cache;
};

ApiMetrics::ApiMetrics() : impl_(std::make_unique<Impl>()) {}
ApiMetrics::~ApiMetrics() = default;

void ApiMetrics::ObserveResponseCache(bool hit) {
  (hit ? impl_->cache_hits : impl_->cache_misses).Increment();
}

void ApiMetrics::ObserveRequest(std::string_view raw_method, std::string_view route, int status,
                                double seconds) {
  // Labels come from fixed sets only: the transport admits a few methods, and routes are
  // templates, so a client cannot create series at will.
  std::string_view method = "OTHER";
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    if (raw_method == known) method = known;
  }
  std::string key = std::string(method) + ' ' + std::string(route) + ' ' + std::to_string(status);
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->cache.find(key);
    if (it == impl_->cache.end()) {
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
      auto& c = impl_->requests.Add({{"method", std::string(method)},
                                     {"route", std::string(route)},
                                     {"status", std::to_string(status)}});
      auto& h = impl_->latency.Add({{"method", std::string(method)},
                                    {"route", std::string(route)},
                                    {"status", std::to_string(status)}},
                                   kBuckets);
      it = impl_->cache.emplace(key, std::make_pair(&c, &h)).first;
    }
    counter = it->second.first;
    histogram = it->second.second;
  }
  counter->Increment();
  histogram->Observe(seconds);
}

std::string ApiMetrics::Render(
    const std::vector<std::pair<std::string, int64_t>>& notifications_by_status,
    const store::Store::Stats& store, const AuthStats& auth) {
  impl_->store_commits.Add({}).Set(double(store.commits));
  impl_->store_transactions.Add({}).Set(double(store.transactions));
  impl_->store_checkpoints.Add({}).Set(double(store.checkpoints));
  impl_->store_checkpoint_failures.Add({}).Set(double(store.checkpoint_failures));
  impl_->store_foreign_writes.Add({}).Set(double(store.foreign_writes));
  for (const auto& [status, count] : notifications_by_status) {
    impl_->notifications.Add({{"status", status}}).Set(double(count));
  }
  if (auth.remote) {
    impl_->token_validations.Add({{"result", "valid"}}).Set(double(auth.validations_valid));
    impl_->token_validations.Add({{"result", "invalid"}}).Set(double(auth.validations_invalid));
    impl_->token_validations.Add({{"result", "failed"}}).Set(double(auth.validations_failed));
    impl_->token_cache_hits.Add({{"kind", "valid"}}).Set(double(auth.cache_hits));
    impl_->token_cache_hits.Add({{"kind", "invalid"}}).Set(double(auth.negative_cache_hits));
    impl_->token_cache_entries.Add({{"kind", "valid"}}).Set(double(auth.cached_tokens));
    impl_->token_cache_entries.Add({{"kind", "invalid"}}).Set(double(auth.cached_invalid_tokens));
  }
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry.Collect());
}

}  // namespace warden::api
