#include "api/http_server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log_line.h"

namespace warden::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session;

// What the server and its sessions share. Sessions hold it by shared_ptr, so it outlives the
// server object if a late completion still holds a session.
struct Shared {
  Shared(HttpServerOptions o, HttpHandler& h, asio::thread_pool& w)
      : options(std::move(o)), handler(h), workers(w) {}
  HttpServerOptions options;
  HttpHandler& handler;
  asio::thread_pool& workers;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable all_closed;
  int connections = 0;                           // GUARDED_BY(mu)
  std::vector<std::weak_ptr<Session>> sessions;  // GUARDED_BY(mu); pruned as they expire

  void Closed() {
    std::lock_guard lock(mu);
    if (--connections == 0) all_closed.notify_all();
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_ptr_(std::move(shared)), shared_(*shared_ptr_) {
    beast::error_code ec;
    // Answers go out whole at once: no waiting for the peer's ACK of a large answer's last
    // segment (Nagle), which a delayed ACK on the client can hold back for tens of ms.
    stream_.socket().set_option(tcp::no_delay(true), ec);
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() { shared_.Closed(); }

  // During shutdown: a connection waiting for its next request is closed now; one in the
  // middle of a request is closed once its response is written. Runs on the session's strand.
  void CloseIfIdle() {
    if (!in_request_) Close();
  }

  void Start() { ReadHeader(/*first=*/true); }

  asio::any_io_executor executor() { return stream_.get_executor(); }

  // Answers with a canned error and closes: used for over-capacity connections.
  void Refuse(int status, std::string_view fault, std::string_view message) {
    SendErrorAndClose(status, fault, message);
  }

 private:
  void ReadHeader(bool first) {
    in_request_ = false;
    if (shared_.stopping) return Close();
    parser_.emplace();
    parser_->header_limit(uint32_t(shared_.options.max_header_bytes));
    parser_->body_limit(shared_.options.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(first ? shared_.options.request_timeout_ms
                                                          : shared_.options.idle_timeout_ms));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    in_request_ = true;
    // The request has started: the rest must arrive within the request deadline.
    stream_.expires_after(std::chrono::milliseconds(shared_.options.request_timeout_ms));
    auto& req = parser_->get();
    auto expect = req[http::field::expect];
    if (!expect.empty() && beast::iequals(expect, "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return SendErrorAndClose(413, "overLimit", "Request is too large.", /*drain=*/true);
    }
    if (ec == http::error::header_limit) {
      return SendErrorAndClose(431, "badRequest", "Request header fields too large.");
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return SendErrorAndClose(400, "badRequest", "Malformed HTTP request.");
    }
    Close();  // end of stream, timeout, reset
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    stream_.expires_never();
    auto& req = parser_->get();
    // Only the methods an HTTP API uses reach the handler: a made-up method must not become
    // a new label in logs and metrics.
    switch (req.method()) {
      case http::verb::get:
      case http::verb::head:
      case http::verb::post:
      case http::verb::put:
      case http::verb::delete_:
      case http::verb::patch:
      case http::verb::options:
        break;
      default:
        return SendErrorAndClose(405, "badMethod", "The request method is not allowed.");
    }
    auto request = std::make_shared<HttpRequest>();
    request->method = std::string(req.method_string());
    request->target = std::string(req.target());
    request->peer = peer_;
    if (!ParseTarget(request->target, *request)) {
      return SendErrorAndClose(400, "badRequest", "Malformed request target.");
    }
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
      request->headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request->body = std::move(req.body());
    keep_alive_ = req.keep_alive();
    const unsigned version = req.version();
    // Answers that need no blocking work are made here; the rest go to the worker pool.
    auto respond = [self = shared_from_this(), version](HttpHandler::ResponseMaker make) {
      asio::post(self->stream_.get_executor(),
                 [self, make = std::move(make), version] { self->Write(make(), version); });
    };
    if (shared_.handler.HandleWithoutBlocking(request, respond)) return;
    asio::post(shared_.workers, [self = shared_from_this(), request, version] {
      HttpResponse response = self->shared_.handler.Handle(*request);
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response), version]() mutable {
                   self->Write(std::move(response), version);
                 });
    });
  }

  void Write(HttpResponse response, unsigned version) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version);
    res->result(response.status);
    res->set(http::field::server, "warden");
    if (!response.content_type.empty()) res->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) res->set(k, v);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(shared_.options.request_timeout_ms));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !self->keep_alive_) return self->Close();
                        self->ReadHeader(/*first=*/false);
                      });
  }

  // With `drain`, the rest of what the client sends is read and dropped after the answer
  // (DrainAndClose): a client that writes its whole body before reading gets the answer.
  void SendErrorAndClose(int status, std::string_view fault, std::string_view message,
                         bool drain = false) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(status);
    res->set(http::field::server, "warden");
    res->set(http::field::content_type, "application/json");
    res->body() = FaultResponse(status, fault, message).body;
    res->keep_alive(false);
    res->prepare_payload();
    stream_.expires_after(std::chrono::seconds(5));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, drain](beast::error_code ec, size_t) {
                        if (drain && !ec) return self->DrainAndClose();
                        self->Close();
                      });
  }

  // A lingering close: the answer is out, so the sending side is shut, and what the client
  // still sends is read and dropped until it stops (or kMaxDrainBytes, or kDrainSeconds) before
  // the socket is closed. Closing with unread data would make the kernel reset the connection,
  // and a client still writing its body would see the reset instead of the answer.
  void DrainAndClose() {
    constexpr size_t kMaxDrainBytes = 64 << 20;
    constexpr int kDrainSeconds = 10;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(kDrainSeconds));
    drained_ = buffer_.size();
    buffer_.consume(buffer_.size());
    drain_buffer_.resize(64 << 10);
    ReadToDrain(kMaxDrainBytes);
  }
  void ReadToDrain(size_t max_bytes) {
    stream_.async_read_some(
        asio::buffer(drain_buffer_),
        [self = shared_from_this(), max_bytes](beast::error_code ec, size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ >= max_bytes) return self->stream_.close();
          self->ReadToDrain(max_bytes);
        });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  // Sessions may outlive the server object (a store completion can hold one after Stop()).
  std::shared_ptr<Shared> shared_ptr_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool in_request_ = false;  // a request has started and its response is not yet written
  std::vector<char> drain_buffer_;  // DrainAndClose's
  size_t drained_ = 0;
  std::string peer_;
};

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(const HttpServerOptions& options, HttpHandler& handler)
      : workers_(size_t(std::max(1, options.worker_threads))),
        shared_(std::make_shared<Shared>(options, handler, workers_)),
        acceptor_(ioc_) {}

  ~BeastHttpServer() override { Stop({}); }

  Result<void> Listen() {
    beast::error_code ec;
    auto address = asio::ip::make_address(shared_->options.address, ec);
    if (ec) return InvalidArgument("bad listen address '" + shared_->options.address + "'");
    tcp::endpoint endpoint(address, shared_->options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Unavailable("cannot listen on " + shared_->options.address + ":" +
                         std::to_string(shared_->options.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, shared_->options.io_threads); ++i) {
      io_threads_.emplace_back([this] { ioc_.run(); });
    }
    return {};
  }

  uint16_t port() const override { return port_; }

  void Stop(const std::function<void()>& drain) override {
    if (stopped_.exchange(true)) return;
    shared_->stopping = true;
    asio::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard lock(shared_->mu);
      for (auto& w : shared_->sessions) {
        if (auto s = w.lock()) open.push_back(std::move(s));
      }
    }
    for (auto& s : open) asio::post(s->executor(), [s] { s->CloseIfIdle(); });
    open.clear();
    workers_.join();     // requests on workers finish; their responses go to the network loop
    if (drain) drain();  // e.g. the store completes queued writes, whose answers are sent too
    {
      // Connections close as their last response is written; a client that never finishes
      // its request is not waited for beyond the grace period.
      std::unique_lock lock(shared_->mu);
      shared_->all_closed.wait_for(lock, std::chrono::milliseconds(shared_->options.stop_grace_ms),
                                   [&] { return shared_->connections == 0; });
    }
    keep_running_.reset();
    ioc_.stop();
    for (auto& t : io_threads_) t.join();
  }

  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec,
                                                           tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        // One line for the first failure and then one per 1000, so a persistent condition
        // (no descriptors) cannot flood the log.
        if (accept_failures_++ % 1000 == 0)
          spdlog::warn(
              "{}", FormatLogLine(
                        CurrentLogFormat(), RealClock().Now(), "warning", "accept failed",
                        {{"error", ec.message()}, {"failures", std::to_string(accept_failures_)}}));
      } else {
        int open;
        auto session = std::make_shared<Session>(std::move(socket), shared_);
        {
          std::lock_guard lock(shared_->mu);
          open = ++shared_->connections;
          std::erase_if(shared_->sessions, [](auto& w) { return w.expired(); });
          shared_->sessions.push_back(session);
        }
        if (open > shared_->options.max_connections) {
          session->Refuse(503, "serviceUnavailable", "Too many connections.");
        } else {
          session->Start();
        }
      }
      if (stopped_) return;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE ||
          ec == asio::error::no_buffer_space) {
        // Out of file descriptors: accepting again at once would spin. Wait, then retry.
        accept_backoff_.expires_after(std::chrono::milliseconds(100));
        accept_backoff_.async_wait([this](beast::error_code) {
          if (!stopped_) Accept();
        });
        return;
      }
      Accept();
    });
  }

  asio::io_context ioc_;
  asio::thread_pool workers_;
  std::shared_ptr<Shared> shared_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> io_threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  // Keeps the loop running while answers may still be posted to it (during Stop(), when
  // no accept and no read may be pending).
  asio::executor_work_guard<asio::io_context::executor_type> keep_running_{ioc_.get_executor()};
  asio::steady_timer accept_backoff_{ioc_};
  uint64_t accept_failures_ = 0;  // used on the network loop only
};

}  // namespace

Result<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options,
                                                    HttpHandler& handler) {
  auto server = std::make_unique<BeastHttpServer>(options, handler);
  if (auto r = server->Listen(); !r) return std::unexpected(r.error());
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace warden::api
