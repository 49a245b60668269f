// An HTTP/1.1 client over libcurl for the adapters that talk to other services (Keystone,
// Nova, Placement, Redfish BMCs). libcurl stays inside http_client.cc.
//
// HttpClient is blocking and keeps its connections open between calls (keep-alive), so it
// belongs to one thread at a time. HttpPool owns a fixed set of threads, each with its own
// HttpClient: the number of threads bounds the concurrent calls, and work submitted to it
// never runs on the caller's thread, so an event loop that submits never blocks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"

namespace warden::net {

struct TlsOptions {
  std::string ca_file;    // PEM bundle to verify servers with; empty: the system's
  bool insecure = false;  // skip verification of the server's certificate (tests only)
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t timeout_micros = 30'000'000;  // whole exchange, connect included
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case; last value wins
  std::string body;

  // The header's value, or "" (name in lower case).
  const std::string& Header(const std::string& name) const;
};

class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a success here; errors are the transport's: Unavailable when the
  // connection could not be made or broke, DeadlineExceeded when the timeout passed, and
  // ResourceExhausted for an answer over 64 MiB. `sent` (optional) tells whether the request
  // may have reached the server (false only when connecting failed), so callers know whether a
  // non-idempotent call can be repeated safely.
  Result<HttpResponse> Send(const HttpRequest& request, bool* sent = nullptr);

 private:
  TlsOptions tls_;
  void* curl_;  // CURL*, reused so connections are kept alive
};

class HttpPool {
 public:
  // REQUIRES: threads >= 1.
  HttpPool(int threads, TlsOptions tls);
  // Runs what is queued, then joins the threads.
  ~HttpPool();

  // Runs `work` on one of the pool's threads with that thread's client. Thread-safe.
  void Submit(std::function<void(HttpClient&)> work);

 private:
  void Run(int index);

  TlsOptions tls_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(HttpClient&)>> queue_;  // guarded by mu_
  bool stopping_ = false;                                // guarded by mu_
  std::vector<std::thread> threads_;
};

// Percent-encodes `s` for a URL query value or path segment.
std::string UrlEncode(std::string_view s);

}  // namespace warden::net
