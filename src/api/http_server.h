// An HTTP/1.1 server (Boost.Beast) that reads requests on a small I/O thread pool and runs
// the handler on a separate worker pool, so blocking work (the store's fsync) never stalls
// the network loop.
//
// Limits keep slow or hostile clients from exhausting it: header and body size (431/413),
// a deadline for reading each request (slow-loris), an idle timeout for kept-alive
// connections, and a cap on open connections (beyond it, new ones get 503 and are closed).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/http.h"
#include "core/error.h"

namespace warden::api {

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; see HttpServer::port()
  int io_threads = 1;
  int worker_threads = 16;
  size_t max_body_bytes = 114688;  // Masakari's osapi_max_request_body_size
  size_t max_header_bytes = 16384;
  int max_connections = 1024;
  int request_timeout_ms = 30000;  // to read one whole request once it has started
  int idle_timeout_ms = 60000;     // a kept-alive connection with no request
  int stop_grace_ms = 5000;        // Stop() waits this long for open requests to be answered
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // The bound port (the real one when options.port was 0).
  virtual uint16_t port() const = 0;
  // Graceful stop: stops accepting and reading new requests, closes idle connections, waits
  // for the requests in flight — first those on workers, then whatever `drain` completes
  // (e.g. the store's queued writes, whose answers are still sent) — and closes each
  // connection once its answer is written, waiting at most stop_grace_ms. Idempotent.
  virtual void Stop(const std::function<void()>& drain = {}) = 0;
};

// Binds and starts serving. `handler` must outlive the server.
Result<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options,
                                                    HttpHandler& handler);

}  // namespace warden::api
