// The HTTP transport over real sockets: limits against slow or hostile clients, keep-alive,
// Expect: 100-continue.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "cli/http_client.h"

namespace warden::api {
namespace {

class EchoHandler : public HttpHandler {
 public:
  HttpResponse Handle(const HttpRequest& r) override {
    calls++;
    return HttpResponse{
        .status = 200,
        .body = "{\"path\":\"" + r.path + "\",\"size\":" + std::to_string(r.body.size()) + "}"};
  }
  std::atomic<int> calls{0};
};

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

// Reads until the peer closes or timeout_ms passes; returns what arrived.
std::string ReadAll(int fd, int timeout_ms, bool* closed = nullptr) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                       deadline - std::chrono::steady_clock::now())
                       .count());
    if (poll(&p, 1, std::max(left, 1)) <= 0) break;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (closed != nullptr) *closed = true;
      break;
    }
    out.append(buf, size_t(n));
  }
  return out;
}

// Reads one whole HTTP response (headers and a Content-Length body), or what came within
// timeout_ms.
std::string ReadResponse(int fd, int timeout_ms = 2000) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    size_t end = out.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t cl = out.find("Content-Length: ");
      size_t want = cl == std::string::npos || cl > end ? 0 : std::stoul(out.substr(cl + 16));
      if (out.size() >= end + 4 + want) return out;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

void WriteAll(int fd, const std::string& s) {
  ASSERT_EQ(write(fd, s.data(), s.size()), ssize_t(s.size()));
}

class HttpServerTest : public testing::Test {
 protected:
  void Start(HttpServerOptions options) {
    auto s = StartHttpServer(options, handler_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    server_ = std::move(*s);
  }
  std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  EchoHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesOnAnEphemeralPortWithKeepAlive) {
  Start({});
  ASSERT_NE(server_->port(), 0);
  int fd = Connect(server_->port());
  for (int i = 0; i < 3; ++i) {
    WriteAll(fd, "GET /x" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string got = ReadResponse(fd);
    EXPECT_NE(got.find("200 OK"), std::string::npos);
    EXPECT_NE(got.find("\"path\":\"/x" + std::to_string(i) + "\""), std::string::npos);
  }
  close(fd);
  EXPECT_EQ(handler_.calls.load(), 3);
}

TEST_F(HttpServerTest, OversizedBodyGets413WithoutReachingTheHandler) {
  Start({.max_body_bytes = 1024});
  auto r = cli::Send({.method = "POST", .url = Url("/big"), .body = std::string(5000, 'x')});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("overLimit"), std::string::npos);
  EXPECT_EQ(handler_.calls.load(), 0);
  auto ok = cli::Send({.method = "POST", .url = Url("/small"), .body = std::string(1000, 'x')});
  EXPECT_EQ(ok->status, 200);
}

// Regression (issue 17): a client that writes its whole oversized body before reading (as
// Python's http.client does) must read the 413, not a reset: the server drains what the client
// still sends after answering (a lingering close) instead of closing under it.
TEST_F(HttpServerTest, AClientStillSendingAnOversizedBodyReadsThe413) {
  Start({.max_body_bytes = 1024});
  const size_t body_bytes = 8 << 20;
  int fd = Connect(server_->port());
  const std::string head = "POST /big HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           "Content-Length: " + std::to_string(body_bytes) + "\r\n\r\n";
  WriteAll(fd, head);
  const std::string chunk(64 << 10, 'x');
  size_t sent = 0;
  bool write_failed = false;
  while (sent < body_bytes) {
    ssize_t n = send(fd, chunk.data(), std::min(chunk.size(), body_bytes - sent), MSG_NOSIGNAL);
    if (n <= 0) {
      write_failed = true;
      break;
    }
    sent += size_t(n);
  }
  EXPECT_FALSE(write_failed) << "the server cut the connection after " << sent << " bytes";
  std::string got = ReadAll(fd, 5000);
  close(fd);
  EXPECT_NE(got.find("413"), std::string::npos) << got.substr(0, 200);
  EXPECT_NE(got.find("overLimit"), std::string::npos) << got.substr(0, 200);
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, OversizedHeadersGet431) {
  Start({.max_header_bytes = 2048});
  auto r = cli::Send({.url = Url("/h"), .headers = {{"X-Junk", std::string(4000, 'j')}}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, GarbageGets400AndTheServerLivesOn) {
  Start({});
  int fd = Connect(server_->port());
  WriteAll(fd, "THIS IS NOT HTTP\r\n\r\n");
  std::string got = ReadAll(fd, 2000);
  EXPECT_NE(got.find("400"), std::string::npos) << got;
  close(fd);
  auto ok = cli::Send({.url = Url("/after")});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServerTest, MadeUpMethodsAreRefusedBeforeTheHandler) {
  Start({});
  int fd = Connect(server_->port());
  WriteAll(fd, "M00001AAAAAAAAAAAAAAAAAAAAAAAA / HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string got = ReadAll(fd, 2000);
  EXPECT_NE(got.find("405"), std::string::npos) << got;
  close(fd);
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, SlowClientIsCutOffAtTheRequestDeadline) {
  Start({.request_timeout_ms = 300, .idle_timeout_ms = 300});
  int fd = Connect(server_->port());
  WriteAll(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n");  // never finishes the header
  bool closed = false;
  auto start = std::chrono::steady_clock::now();
  ReadAll(fd, 3000, &closed);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_LT(waited, std::chrono::milliseconds(2500));
  close(fd);
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, IdleKeptAliveConnectionsAreClosed) {
  Start({.idle_timeout_ms = 200});
  int fd = Connect(server_->port());
  WriteAll(fd, "GET /once HTTP/1.1\r\nHost: t\r\n\r\n");
  bool closed = false;
  std::string got = ReadAll(fd, 3000, &closed);
  EXPECT_NE(got.find("200 OK"), std::string::npos);
  EXPECT_TRUE(closed);
  close(fd);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapGet503) {
  Start({.max_connections = 2});
  int a = Connect(server_->port());
  int b = Connect(server_->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int c = Connect(server_->port());
  bool closed = false;
  std::string got = ReadAll(c, 2000, &closed);
  EXPECT_NE(got.find("503"), std::string::npos) << got;
  EXPECT_TRUE(closed);
  close(a);
  close(b);
  close(c);
  // Once the others are gone, new connections are served again.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto ok = cli::Send({.url = Url("/again")});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServerTest, ExpectContinueIsAnswered) {
  Start({});
  int fd = Connect(server_->port());
  WriteAll(fd, "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string got = ReadResponse(fd, 1000);  // the interim "100 Continue" has no body
  EXPECT_NE(got.find("100 Continue"), std::string::npos) << got;
  WriteAll(fd, "hello");
  got = ReadResponse(fd, 1000);
  EXPECT_NE(got.find("\"size\":5"), std::string::npos) << got;
  close(fd);
}

// Answers /defer later, as the API does for notification creates (after the store commits).
class DeferringHandler : public HttpHandler {
 public:
  HttpResponse Handle(const HttpRequest&) override {
    return HttpResponse{.status = 200, .body = "{}"};
  }
  bool HandleWithoutBlocking(std::shared_ptr<const HttpRequest> r, Responder respond) override {
    if (r->path != "/defer") return false;
    std::lock_guard lock(mu);
    pending.push_back(std::move(respond));
    return true;
  }
  size_t Pending() {
    std::lock_guard lock(mu);
    return pending.size();
  }
  void AnswerAll() {
    std::lock_guard lock(mu);
    for (auto& p : pending) p([] { return HttpResponse{.status = 202, .body = "{\"done\":1}"}; });
    pending.clear();
  }
  std::mutex mu;
  std::vector<Responder> pending;
};

TEST(HttpServerStop, AnswersDeferredRequestsAndClosesIdleConnections) {
  DeferringHandler handler;
  auto server = StartHttpServer({}, handler);
  ASSERT_TRUE(server.has_value());
  uint16_t port = (*server)->port();
  // An idle kept-alive connection, after one request.
  int idle = Connect(port);
  WriteAll(idle, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(ReadResponse(idle).find("200 OK"), std::string::npos);
  // A request whose answer is pending when the stop begins.
  int waiting = Connect(port);
  WriteAll(waiting, "POST /defer HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  for (int i = 0; i < 200 && handler.Pending() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(handler.Pending(), 1u);
  auto start = std::chrono::steady_clock::now();
  (*server)->Stop([&] { handler.AnswerAll(); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  bool closed = false;
  std::string got = ReadAll(waiting, 2000, &closed);
  EXPECT_NE(got.find("202"), std::string::npos) << got;
  EXPECT_NE(got.find("{\"done\":1}"), std::string::npos) << got;
  closed = false;
  ReadAll(idle, 2000, &closed);
  EXPECT_TRUE(closed);
  close(idle);
  close(waiting);
  // New connections are refused once stopped.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_NE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
}

TEST_F(HttpServerTest, ListenErrorsAreReported) {
  Start({});
  auto clash = StartHttpServer({.port = server_->port()}, handler_);
  ASSERT_FALSE(clash.has_value());
  EXPECT_EQ(clash.error().code(), ErrorCode::kUnavailable);
  auto bad = StartHttpServer({.address = "not-an-ip"}, handler_);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace warden::api
