// Plain HTTP request and response values, and the handler interface the server calls.
//
// The transport (http_server.cc, Boost.Beast) parses into these and writes them out; handlers
// never see Beast, so they are tested by calling Handle() with no socket at all.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warden::api {

struct HttpRequest {
  std::string method;                                      // upper-case: GET, POST ...
  std::string target;                                      // as received: path and query
  std::string path;                                        // percent-decoded path without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string peer;  // remote address, for logs

  // The value of a header (name in lower case), or nullptr.
  const std::string* Header(std::string_view lower_name) const;
  // The last value of a query parameter (WebOb's MultiDict semantics), or nullopt.
  std::optional<std::string> Query(std::string_view name) const;
  // Every value of a repeated query parameter, in order.
  std::vector<std::string> QueryAll(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Whether the request's Content-Type is application/json (any parameters, any case). A body of
// another type is refused 415: browsers send text/plain and forms across origins without asking
// first, never application/json.
bool IsJsonContentType(const HttpRequest& r);

// An error answer in the OpenStack form every Warden endpoint uses:
// {"<fault>": {"code": <status>, "message": "<message>"}} (Masakari's faultName bodies).
HttpResponse FaultResponse(int status, std::string_view fault, std::string_view message);

// Splits a request target into its decoded path and query parameters. Returns false for a
// target that is not a valid origin-form (no leading '/', bad percent escapes).
bool ParseTarget(std::string_view target, HttpRequest& request);

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Must not throw. Called on a worker thread, possibly many at once.
  virtual HttpResponse Handle(const HttpRequest& request) = 0;

  // Produces the response; run on the connection's network thread.
  using ResponseMaker = std::function<HttpResponse()>;
  using Responder = std::function<void(ResponseMaker)>;

  // Called first, on the network thread. Returns true if it took the request: it calls
  // respond exactly once, now or later from another thread (for example once a write is
  // durable), with a function that makes the response on the network thread — so the thread
  // that completes the work (the store's writer) only hands over the result. Returns false
  // to have Handle() run on a worker instead. Must never block:
  // it may answer from memory, or validate and hand the work to a component with its own
  // thread, but never wait. Must not throw.
  virtual bool HandleWithoutBlocking(std::shared_ptr<const HttpRequest> request,
                                     Responder respond) {
    return false;
  }
};

}  // namespace warden::api
