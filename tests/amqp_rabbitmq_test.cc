// The AMQP intake against a real RabbitMQ: Debian's rabbitmq-server, started by this test as
// a plain process group on 127.0.0.1 (its own epmd, ports, HOME and data in a temp dir), and
// killed by it. Messages are published with rabbitmq-c.
//
// Run as one process (one broker for all cases); about 15 s, most of it two broker boots.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/test_temp_dir.h"
#include "detect/amqp_consumer.h"
#include "detect/amqp_intake.h"
#include "ha/ha_service.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::detect {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

bool PortFree(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Three consecutive free ports below the ephemeral range (32768 and up on Linux).
uint16_t FreePortTriple() {
  std::mt19937 rng(uint32_t(getpid()) ^ uint32_t(std::random_device()()));
  for (int i = 0; i < 200; ++i) {
    uint16_t p = uint16_t(20000 + rng() % 12000);
    if (PortFree(p) && PortFree(p + 1) && PortFree(p + 2)) return p;
  }
  return 0;
}

// A broker of our own. Boot() may be called again after Kill(): same node, ports and data.
class RabbitBroker {
 public:
  RabbitBroker() {
    char tmpl[] = "/tmp/warden-rabbit-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    port_ = FreePortTriple();
    fs::create_directories(dir_ / "home");
    std::ofstream(dir_ / "enabled_plugins") << "[].\n";
    std::ofstream(dir_ / "rabbitmq.conf") << "listeners.tcp.default = 127.0.0.1:" << port_ << "\n"
                                          << "loopback_users.guest = false\n"
                                          << "vm_memory_high_watermark.relative = 0.2\n"
                                          << "disk_free_limit.absolute = 50MB\n";
  }
  ~RabbitBroker() {
    Kill();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  uint16_t port() const { return port_; }

  // Starts the broker and waits until it accepts a login. Returns false on failure.
  bool Boot() {
    std::string sbin;
    for (const auto& e : fs::directory_iterator("/usr/lib/rabbitmq/lib", ec_)) {
      if (fs::exists(e.path() / "sbin/rabbitmq-server")) sbin = (e.path() / "sbin").string();
    }
    if (sbin.empty()) {
      ADD_FAILURE() << "rabbitmq-server is not installed (scripts/install-deps test)";
      return false;
    }
    const std::string d = dir_.string();
    const std::string epmd_port = std::to_string(port_ + 2);
    std::vector<std::string> env = {
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=" + d + "/home",
        "RABBITMQ_NODENAME=warden-test-" + std::to_string(port_) + "@localhost",
        "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
        "RABBITMQ_NODE_PORT=" + std::to_string(port_),
        "RABBITMQ_DIST_PORT=" + std::to_string(port_ + 1),
        "ERL_EPMD_ADDRESS=127.0.0.1",
        "ERL_EPMD_PORT=" + epmd_port,
        "RABBITMQ_MNESIA_BASE=" + d + "/mnesia",
        "RABBITMQ_LOG_BASE=" + d + "/log",
        "RABBITMQ_CONFIG_FILE=" + d + "/rabbitmq.conf",
        "RABBITMQ_ENABLED_PLUGINS_FILE=" + d + "/enabled_plugins",
        "RABBITMQ_PID_FILE=" + d + "/rabbitmq.pid",
        "RABBITMQ_SERVER_ERL_ARGS=+S 1:1 +A 4",
    };
    // Our own epmd in the same process group (Erlang would otherwise start a daemon that
    // leaves the group and outlives the test).
    const std::string script =
        "epmd -port " + epmd_port + " -address 127.0.0.1 & exec " + sbin + "/rabbitmq-server";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int out = ::open((d + "/server.out").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(out, 1);
      ::dup2(out, 2);
      std::vector<char*> envp;
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
      ::execve("/bin/sh", const_cast<char**>(argv), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also here, so that Kill() works even if the child has not run yet
    const bool up = WaitUntil([&] { return CanLogIn(); }, 45s);
    if (!up) {
      std::ifstream log(d + "/server.out");
      std::stringstream ss;
      ss << log.rdbuf();
      ADD_FAILURE() << "rabbitmq-server did not come up on port " << port_ << ":\n" << ss.str();
    }
    return up;
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    // The broker's port must be closed before a new one is booted.
    WaitUntil([&] { return PortFree(port_); }, 10s);
  }

  // Runs fn on a fresh connection and channel 1; false if the broker cannot be reached.
  bool WithChannel(const std::function<void(amqp_connection_state_t)>& fn) const {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(conn);
    timeval tv{2, 0};
    bool ok = amqp_socket_open_noblock(socket, "127.0.0.1", port_, &tv) == AMQP_STATUS_OK;
    if (ok) {
      amqp_set_rpc_timeout(conn, &tv);
      ok = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")
               .reply_type == AMQP_RESPONSE_NORMAL;
    }
    if (ok) {
      amqp_channel_open(conn, 1);
      ok = amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL;
    }
    if (ok) fn(conn);
    if (ok) amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return ok;
  }

  bool CanLogIn() const {
    return WithChannel([](amqp_connection_state_t) {});
  }

  void Publish(const std::string& exchange, const std::string& routing_key, const std::string& body,
               const std::string& message_id) const {
    bool sent = false;
    ASSERT_TRUE(WithChannel([&](amqp_connection_state_t conn) {
      amqp_basic_properties_t props{};
      props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
      props.content_type = amqp_cstring_bytes("application/json");
      props.delivery_mode = 2;
      if (!message_id.empty()) {
        props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        props.message_id = amqp_cstring_bytes(message_id.c_str());
      }
      // Publisher confirms, so that the message is routed before this returns.
      amqp_confirm_select(conn, 1);
      sent = amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL &&
             amqp_basic_publish(conn, 1, amqp_cstring_bytes(exchange.c_str()),
                                amqp_cstring_bytes(routing_key.c_str()), 1, 0, &props,
                                amqp_cstring_bytes(body.c_str())) == AMQP_STATUS_OK;
      amqp_frame_t frame;
      timeval tv{5, 0};
      sent = sent && amqp_simple_wait_frame_noblock(conn, &frame, &tv) == AMQP_STATUS_OK &&
             frame.frame_type == AMQP_FRAME_METHOD &&
             frame.payload.method.id == AMQP_BASIC_ACK_METHOD;
    }));
    ASSERT_TRUE(sent) << "publish to " << exchange << "/" << routing_key << " not confirmed";
  }

  // Ready (unacknowledged excluded) messages in a queue, or -1.
  int64_t Depth(const std::string& queue) const {
    int64_t n = -1;
    WithChannel([&](amqp_connection_state_t conn) {
      auto* ok = amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0,
                                    amqp_empty_table);
      if (ok != nullptr) n = ok->message_count;
    });
    return n;
  }

  // Takes one message from a queue; its body, or "" if none.
  std::string Take(const std::string& queue) const {
    std::string body;
    WithChannel([&](amqp_connection_state_t conn) {
      amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(queue.c_str()), 1);
      if (r.reply_type != AMQP_RESPONSE_NORMAL || r.reply.id != AMQP_BASIC_GET_OK_METHOD) return;
      amqp_message_t m;
      if (amqp_read_message(conn, 1, &m, 0).reply_type != AMQP_RESPONSE_NORMAL) return;
      body.assign(static_cast<char*>(m.body.bytes), m.body.len);
      amqp_destroy_message(&m);
    });
    return body;
  }

 private:
  fs::path dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::error_code ec_;
};

// Wraps the real intake: records what it saw, and can "crash" after storing, before the ack.
class RecordingHandler final : public AmqpMessageHandler {
 public:
  explicit RecordingHandler(AmqpMessageHandler& inner) : inner_(inner) {}
  std::atomic<bool> crash_next_after_store = false;
  std::atomic<int> crashes = 0;
  std::atomic<int> redelivered = 0;
  std::atomic<int> handled = 0;

  AmqpHandling Handle(const AmqpMessage& m) override {
    if (m.redelivered) ++redelivered;
    AmqpHandling h = inner_.Handle(m);
    if (crash_next_after_store.exchange(false)) {
      ++crashes;
      throw std::runtime_error("simulated crash before the ack");
    }
    ++handled;
    return h;
  }

 private:
  AmqpMessageHandler& inner_;
};

class AmqpRabbitTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new RabbitBroker();
    booted_ = broker_->Boot();
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(booted_);
    name_ = testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = ProcessTempDir("warden-amqp-it");
    fs::create_directories(dir_);
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(dir_ / (name_ + ".db" + suffix));
    auto s = store::OpenSqliteStore({.path = (dir_ / (name_ + ".db")).string()});
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(*s);
    // No duplicate window: only the message's identity may stop a second notification.
    service_ = std::make_unique<ha::HaService>(*store_, clock_,
                                               ha::HaOptions{.duplicate_window_seconds = 0});
    auto seg = service_->CreateSegment(
        {.name = "seg", .recovery_method = RecoveryMethod::kAuto, .service_type = "COMPUTE"});
    ASSERT_TRUE(seg.has_value());
    for (const char* h : {"compute1", "compute2"}) {
      auto host =
          service_->CreateHost(seg->uuid, {.name = h, .type = "COMPUTE", .control_attributes = ""});
      ASSERT_TRUE(host.has_value());
      host_uuid_[h] = host->host.uuid;
    }
    intake_ = std::make_unique<AmqpIntake>(
        *service_, clock_, AmqpIntakeOptions{.rules = DefaultAmqpRules(60'000'000)});
    recorder_ = std::make_unique<RecordingHandler>(*intake_);
  }

  void TearDown() override {
    consumer_.reset();
    recorder_.reset();
    intake_.reset();
    service_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Queue() const { return "warden." + name_; }
  std::string DeadQueue() const { return "warden.dead." + name_; }
  std::string RoutingKey() const { return name_ + ".error"; }

  AmqpConsumerOptions Options(int64_t reconnect_initial_micros = 100'000) const {
    AmqpConsumerOptions o;
    o.url = *ParseAmqpUrl("amqp://guest:guest@127.0.0.1:" + std::to_string(broker_->port()) + "/");
    o.queue = Queue();
    o.bindings = {{"nova", RoutingKey()}};
    o.dead_letter_exchange = "warden.dlx." + name_;
    o.dead_letter_queue = DeadQueue();
    o.heartbeat_seconds = 10;
    o.connect_timeout_micros = 2'000'000;
    o.reconnect_backoff_initial_micros = reconnect_initial_micros;
    o.reconnect_backoff_max_micros = 1'000'000;
    o.poll_interval_micros = 50'000;
    o.log = [](std::string_view level, std::string_view msg, const auto& fields) {
      std::string line = "  [consumer] " + std::string(level) + " " + std::string(msg);
      for (const auto& [k, v] : fields) line += " " + k + "=" + v;
      std::fprintf(stderr, "%s\n", line.c_str());
    };
    return o;
  }

  std::unique_ptr<AmqpConsumer> StartConsumer(AmqpMessageHandler& handler,
                                              AmqpConsumerOptions options) {
    auto c = StartRabbitConsumer(std::move(options), handler, clock_);
    EXPECT_TRUE(WaitUntil([&] { return c->Stats().connected; })) << "consumer never connected";
    return c;
  }

  void Publish(const std::string& body, const std::string& id) {
    broker_->Publish("nova", RoutingKey(), body, id);
  }

  static std::string HostDown(const std::string& host) {
    return R"({"event_type":"compute.host.error","publisher_id":"compute.)" + host +
           R"(","payload":{"host":")" + host + R"("}})";
  }

  int64_t Outcome(const std::string& o) { return intake_->Stats()[o]; }

  std::vector<Notification> Notifications() {
    auto n = service_->ListNotifications({}, {});
    return n ? *n : std::vector<Notification>{};
  }

  static RabbitBroker* broker_;
  static bool booted_;
  RealClock clock_;
  std::string name_;
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ha::HaService> service_;
  std::map<std::string, std::string> host_uuid_;
  std::unique_ptr<AmqpIntake> intake_;
  std::unique_ptr<RecordingHandler> recorder_;
  std::unique_ptr<AmqpConsumer> consumer_;
};

RabbitBroker* AmqpRabbitTest::broker_ = nullptr;
bool AmqpRabbitTest::booted_ = false;

TEST_F(AmqpRabbitTest, HostEventCreatesExactlyOneNotificationAndIsAcknowledged) {
  consumer_ = StartConsumer(*recorder_, Options());
  Publish(HostDown("compute1"), "host-event-1");
  ASSERT_TRUE(WaitUntil([&] { return consumer_->Stats().acks == 1; }));
  auto all = Notifications();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].type, NotificationType::kComputeHost);
  EXPECT_EQ(all[0].source_host_uuid, host_uuid_["compute1"]);
  EXPECT_EQ(all[0].status, NotificationStatus::kNew);
  EXPECT_EQ(all[0].uuid, NotificationUuidForKey("amqp:host-event-1"));
  EXPECT_EQ(all[0].payload_json,
            R"({"cluster_status":"OFFLINE","event":"STOPPED","host_status":"UNKNOWN"})");
  consumer_.reset();
  EXPECT_EQ(broker_->Depth(Queue()), 0);  // acknowledged: nothing left to redeliver
}

// Nova's versioned rebuild.end, in oslo's envelope through a real broker, reaches the engine's
// hook (which makes it read the evacuation's record at once) and is acknowledged.
TEST_F(AmqpRabbitTest, RebuildEndReachesTheEnginesHookAndIsAcknowledged) {
  std::mutex mu;
  std::vector<std::string> told;
  AmqpIntakeOptions o{.rules = DefaultAmqpRules(60'000'000)};
  o.instance_news = [&](const InstanceNews& n) {
    std::lock_guard lock(mu);
    told.push_back(n.event_type + " " + n.instance_uuid);
  };
  AmqpIntake intake(*service_, clock_, o);
  consumer_ = StartConsumer(intake, Options());
  const std::string inner =
      R"({"message_id":"m-1","publisher_id":"nova-compute:compute2","event_type":"instance.rebuild.end",)"
      R"("priority":"INFO","payload":{"nova_object.name":"InstanceActionRebuildPayload",)"
      R"("nova_object.data":{"uuid":"2b7f0c1e-1111-4a5b-9c9d-000000000001","host":"compute2"}}})";
  std::string escaped;
  for (char c : inner) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  Publish(R"({"oslo.version":"2.0","oslo.message":")" + escaped + R"("})", "rebuild-end-1");
  ASSERT_TRUE(WaitUntil([&] { return consumer_->Stats().acks == 1; }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(told, std::vector<std::string>{
                        "instance.rebuild.end 2b7f0c1e-1111-4a5b-9c9d-000000000001"});
  }
  EXPECT_TRUE(Notifications().empty());
  consumer_.reset();
  EXPECT_EQ(broker_->Depth(Queue()), 0);
}

TEST_F(AmqpRabbitTest, SameMessageIdPublishedTwiceCreatesOne) {
  consumer_ = StartConsumer(*recorder_, Options());
  Publish(HostDown("compute1"), "twice-1");
  Publish(HostDown("compute1"), "twice-1");
  ASSERT_TRUE(WaitUntil([&] { return consumer_->Stats().acks == 2; }));
  EXPECT_EQ(Outcome("created"), 1);
  EXPECT_EQ(Outcome("duplicate"), 1);
  EXPECT_EQ(Notifications().size(), 1u);
}

TEST_F(AmqpRabbitTest, ConsumerKilledBeforeTheAckThenRestartedCreatesOne) {
  // The first consumer stores the notification, then "crashes" before acknowledging.
  recorder_->crash_next_after_store = true;
  consumer_ = StartConsumer(*recorder_, Options(/*reconnect_initial_micros=*/3'000'000));
  Publish(HostDown("compute2"), "crash-1");
  ASSERT_TRUE(WaitUntil([&] { return recorder_->crashes == 1; }));
  consumer_.reset();  // and is gone for good
  EXPECT_EQ(Notifications().size(), 1u);
  EXPECT_EQ(Outcome("created"), 1);

  // A new consumer gets the unacknowledged message again, and creates nothing more.
  RecordingHandler second(*intake_);
  consumer_ = StartConsumer(second, Options());
  ASSERT_TRUE(WaitUntil([&] { return consumer_->Stats().acks == 1; }));
  EXPECT_EQ(second.redelivered, 1);
  EXPECT_EQ(Outcome("duplicate"), 1);
  auto all = Notifications();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].source_host_uuid, host_uuid_["compute2"]);
  consumer_.reset();
  EXPECT_EQ(broker_->Depth(Queue()), 0);
}

TEST_F(AmqpRabbitTest, PoisonIsDeadLetteredAndConsumptionContinues) {
  consumer_ = StartConsumer(*recorder_, Options());
  Publish("this is not json", "poison-1");
  Publish(HostDown("compute99"), "unknown-host-1");  // a skip, not poison
  Publish(HostDown("compute2"), "after-poison-1");
  ASSERT_TRUE(WaitUntil([&] { return recorder_->handled == 3; }));
  ASSERT_TRUE(WaitUntil([&] { return consumer_->Stats().acks == 2; }));
  EXPECT_EQ(consumer_->Stats().dead_letters, 1);
  EXPECT_EQ(Outcome("poison"), 1);
  EXPECT_EQ(Outcome("unknown_host"), 1);
  EXPECT_EQ(Outcome("created"), 1);
  ASSERT_EQ(Notifications().size(), 1u);
  EXPECT_EQ(Notifications()[0].source_host_uuid, host_uuid_["compute2"]);
  // Exactly the poison message is in the dead-letter queue, and it was not redelivered.
  ASSERT_TRUE(WaitUntil([&] { return broker_->Depth(DeadQueue()) == 1; }));
  EXPECT_EQ(broker_->Take(DeadQueue()), "this is not json");
  consumer_.reset();
  EXPECT_EQ(broker_->Depth(Queue()), 0);
  EXPECT_EQ(recorder_->redelivered, 0);
}

TEST_F(AmqpRabbitTest, ReconnectsAfterTheBrokerRestarts) {
  consumer_ = StartConsumer(*recorder_, Options());
  Publish(HostDown("compute1"), "before-restart");
  ASSERT_TRUE(WaitUntil([&] { return Outcome("created") == 1; }));

  broker_->Kill();
  ASSERT_TRUE(WaitUntil([&] { return !consumer_->Stats().connected; }, 10s));
  ASSERT_TRUE(broker_->Boot());
  ASSERT_TRUE(WaitUntil([&] { return consumer_->Stats().connected; }, 20s))
      << "consumer did not reconnect";
  EXPECT_GE(consumer_->Stats().connects, 2);
  EXPECT_GE(consumer_->Stats().connect_failures, 1);

  Publish(HostDown("compute2"), "after-restart");
  ASSERT_TRUE(WaitUntil([&] { return Outcome("created") == 2; }));
  EXPECT_EQ(Notifications().size(), 2u);
}

}  // namespace
}  // namespace warden::detect
