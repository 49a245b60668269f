// The HTTP face of Warden: Masakari's v1 API, version documents, health, readiness and
// metrics, behind authentication, with one log line and one metrics observation per request.
//
// The .cc is the router: its route table lists every endpoint in one screen, with the policy
// target each one is checked against; it authenticates, negotiates the microversion, answers
// reads from the response cache and parses bodies. The handlers, one file per resource, are in
// api/handlers/; the shared pieces are answers.h (the one table from error codes to statuses
// and Masakari's fault names, JSON answers), query.h (paging and filters), microversion.h and
// response_cache.h.
//
// Thread-safe: Handle() runs on many worker threads at once.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/auth.h"
#include "api/http.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "ha/ha_service.h"
#include "ha/recovery_control.h"
#include "store/store.h"

namespace warden::api {

enum class AccessLogFormat { kLogfmt, kJson, kOff };

class ResponseCache;
class SignInGate;
struct ApiContext;
struct Call;

struct ApiOptions {
  int64_t max_limit = 1000;  // Masakari's osapi_max_limit: the default and the clamp of `limit`
  AccessLogFormat access_log = AccessLogFormat::kLogfmt;
  // Receives one formatted line per request; defaults to the "access" logger.
  std::function<void(const std::string&)> access_log_sink;
  // Successful GET responses are kept until the store's next commit, so that polling clients
  // (dashboards, monitors) are answered from memory on the network thread. 0 disables.
  size_t response_cache_entries = 256;
  size_t response_cache_bytes = 16 << 20;  // all entries together; one entry at most 1/8
  // Retries and cancels for POST /v1/notifications/{id}/action; null: answered 409.
  ha::RecoveryControl* recovery_control = nullptr;
  // Asks the configured cloud whether `name` is one of its compute services (Masakari asks
  // Nova the same) before a host is created or renamed; `done` gets NotFound when it is not,
  // and runs once, on any thread. Null (no compute driver): names are not checked.
  std::function<void(const std::string& name, std::function<void(Result<void>)> done)>
      check_compute_host;
  // More Prometheus text for /metrics from other modules (the AMQP intake's counters);
  // called on an API worker, so it must be quick and thread-safe. Null: none.
  std::function<std::string()> extra_metrics;
};

class MasakariApi final : public HttpHandler {
 public:
  MasakariApi(ha::HaService& service, store::Store& store, const Authenticator& auth,
              const Clock& clock, ApiMetrics& metrics, ApiOptions options);
  ~MasakariApi() override;

  HttpResponse Handle(const HttpRequest& request) override;
  bool HandleWithoutBlocking(std::shared_ptr<const HttpRequest> request,
                             Responder respond) override;

 private:
  // Answers the request; with inline_only, returns nullopt where the answer needs the store.
  std::optional<HttpResponse> Route(Call& call, bool inline_only);
  // Route, with an exception turned into a logged 500 (never nullopt unless inline_only).
  std::optional<HttpResponse> RouteGuarded(Call& call, bool inline_only);
  // Headers, metrics and the access log line of a finished call.
  HttpResponse Finish(Call& call, HttpResponse response) const;
  void Log(const Call& call, const HttpResponse& response, double seconds) const;

  store::Store& store_;
  const Authenticator& auth_;
  const Clock& clock_;
  ApiMetrics& metrics_;
  const ApiOptions options_;
  std::unique_ptr<ApiContext> context_;  // what the handlers reach
  std::unique_ptr<ResponseCache> cache_;
  std::unique_ptr<SignInGate> sign_ins_;
};

}  // namespace warden::api
