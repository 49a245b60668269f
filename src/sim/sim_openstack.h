// The simulated cloud over HTTP: the subset of Keystone, Nova and Placement that the `nova`
// driver uses, answered from a SimCloud — so `warden sim serve` can stand in for a real cloud
// in benchmarks and end-to-end tests, with the sim's latencies and faults.
//
// Besides the SimCloud's own faults (latencies, a share of calls answered 503 or never), the
// front end adds the ones a protective cloud shows at its edge: 429 with Retry-After above a
// request rate, every call answered 503 for a while, Placement absent from the catalog. It
// counts every request it gets, by route, and the SimCloud counts every evacuation per
// instance; GET /sim/stats shows both — the judge of "each instance evacuated exactly once".
//
// /sim/... is the operator's (the test's) side: stats, instances, powering a host off,
// changing faults. It takes no token: the process is meant for loopback.
//
// Thread-safety: requests arrive on the HTTP server's threads and are answered on the loop,
// where everything else lives.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "api/http.h"
#include "core/event_loop.h"
#include "sim/sim_cloud.h"

namespace warden::sim {

struct SimEdgeOptions {
  std::string password = "secret";  // what Keystone accepts (any user name)
  double rate_limit = 0;             // Nova/Placement requests a second answered; above: 429
  int64_t retry_after_seconds = 1;   // on 429 and on the 503s of an outage
  bool placement = true;             // in the catalog and answering
};

class SimOpenStack final : public api::HttpHandler {
 public:
  // REQUIRES: loop and cloud outlive this; the cloud is used on the loop only.
  SimOpenStack(EventLoop& loop, SimCloud& cloud, SimEdgeOptions options);

  // The URL clients reach this at ("http://127.0.0.1:PORT"), for the catalog. Before serving.
  void set_base(std::string base) { base_ = std::move(base); }

  api::HttpResponse Handle(const api::HttpRequest& request) override;
  bool HandleWithoutBlocking(std::shared_ptr<const api::HttpRequest> request,
                             Responder respond) override;

 private:
  using Reply = std::function<void(api::HttpResponse)>;
  void Route(const api::HttpRequest& r, Reply reply);
  void Identity(const api::HttpRequest& r, Reply reply);
  void Compute(const api::HttpRequest& r, const std::string& path, Reply reply);
  void ServerAction(const std::string& uuid, const api::HttpRequest& r, Reply reply);
  void Placement(const api::HttpRequest& r, const std::string& path, Reply reply);
  void Admin(const api::HttpRequest& r, Reply reply);
  // 429 or 503 if the edge turns this request away (and counts it), else nullopt.
  std::optional<api::HttpResponse> TurnedAway();

  EventLoop& loop_;
  SimCloud& cloud_;
  SimEdgeOptions options_;
  std::string base_;
  // On the loop:
  std::deque<MonoMicros> recent_;      // answered Nova/Placement requests of the last second
  MonoMicros unavailable_until_ = 0;   // an outage: every Nova/Placement call answered 503
  std::map<std::string, int64_t> requests_;  // "GET /servers/{id}" → count
  int64_t tokens_issued_ = 0;
  int64_t too_many_ = 0;       // 429s
  int64_t unavailable_ = 0;    // 503s of an outage
  int64_t rejected_auth_ = 0;  // 401s
  std::map<std::string, bool> tokens_;  // issued tokens
};

}  // namespace warden::sim
