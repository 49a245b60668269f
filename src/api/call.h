// One API request in flight (Call), and what every handler may reach (ApiContext). The router
// (masakari_api.cc) fills a Call — route, principal, microversion, path parameters, parsed
// body — and hands it to the route's handler (handlers/*.cc).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/http.h"
#include "api/masakari_api.h"
#include "api/metrics.h"
#include "api/sign_in_gate.h"
#include "api/validation.h"
#include "core/clock.h"
#include "core/uuid.h"
#include "ha/ha_service.h"
#include "store/store.h"

namespace warden::api {

struct Call : std::enable_shared_from_this<Call> {
  Call(const HttpRequest& r, MonoMicros started)
      : request(r), request_id("req-" + NewUuid()), start(started) {}

  std::shared_ptr<const HttpRequest> owner;  // keeps `request` alive for deferred answers
  const HttpRequest& request;
  std::string request_id;
  MonoMicros start;
  HttpHandler::Responder respond;   // set when the call may be answered later
  bool deferred = false;            // the answer will come through `respond`
  std::string route = "unmatched";  // the route template, for logs and metrics
  bool is_api = false;              // under /v1: carries microversion headers
  ApiVersion version;
  std::optional<Principal> principal;
  std::vector<std::string> params;  // the route's {parameters}, in order
  nlohmann::json body;

  // Who asked, for the engine's logs.
  std::string Who() const { return principal ? principal->name : "unknown"; }
};

struct ApiContext {
  ha::HaService& service;
  store::Store& store;
  const Authenticator& auth;
  const Clock& clock;
  ApiMetrics& metrics;
  const ApiOptions& options;
  // Headers, metrics and the access log of an answered call; for answers that come later.
  std::function<HttpResponse(Call&, HttpResponse)> finish;
  // Bounds POST /signin (the server's; null: unbounded).
  SignInGate* sign_ins = nullptr;

  // The engine the action endpoints ask (retry, cancel, unfence), or why there is none.
  Result<ha::RecoveryControl*> Engine() const {
    if (options.recovery_control == nullptr) {
      return FailedPrecondition("No recovery engine runs here ([compute] driver = none).");
    }
    return options.recovery_control;
  }
};

}  // namespace warden::api
