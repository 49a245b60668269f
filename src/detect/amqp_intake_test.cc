#include "detect/amqp_intake.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "core/test_temp_dir.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::detect {
namespace {

// A store whose writes fail with a chosen error while armed.
class FaultyStore final : public store::Store {
 public:
  explicit FaultyStore(store::Store& inner) : inner_(inner) {}
  std::atomic<int> failing_writes = 0;
  ErrorCode code = ErrorCode::kUnavailable;

  Result<void> Read(const std::function<Result<void>(store::ReadTx&)>& fn) override {
    return inner_.Read(fn);
  }
  void WriteAsync(std::function<Result<void>(store::WriteTx&)> fn,
                  std::function<void(Result<void>)> done) override {
    if (failing_writes > 0) {
      --failing_writes;
      return done(MakeError(code, "disk on fire"));
    }
    inner_.WriteAsync(std::move(fn), std::move(done));
  }
  Result<void> Ping() override { return inner_.Ping(); }
  Stats GetStats() const override { return inner_.GetStats(); }

 private:
  store::Store& inner_;
};

class AmqpIntakeTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    const auto dir = ProcessTempDir("warden-amqp");
    auto path = dir / ("t" + std::to_string(n++) + ".db");
    path_ = path;
    auto s = store::OpenSqliteStore({.path = path.string()});
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    sqlite_ = std::move(*s);
    faulty_ = std::make_unique<FaultyStore>(*sqlite_);
    // No duplicate window: only the message's identity may stop a second notification.
    service_ = std::make_unique<ha::HaService>(*faulty_, clock_,
                                               ha::HaOptions{.duplicate_window_seconds = 0});
    auto seg = service_->CreateSegment(
        {.name = "seg", .recovery_method = RecoveryMethod::kAuto, .service_type = "COMPUTE"});
    ASSERT_TRUE(seg.has_value());
    segment_ = seg->uuid;
    for (const char* h : {"compute1", "compute2"}) {
      ASSERT_TRUE(
          service_->CreateHost(segment_, {.name = h, .type = "COMPUTE", .control_attributes = ""}));
    }
    intake_ = std::make_unique<AmqpIntake>(
        *service_, clock_,
        AmqpIntakeOptions{.rules = DefaultAmqpRules(60'000'000),
                          .requeue_limit = 3,
                          .requeue_backoff_initial_micros = 1'000'000,
                          .requeue_backoff_max_micros = 4'000'000,
                          .log = [this](std::string_view level, std::string_view msg, const auto&) {
                            logs_.push_back(std::string(level) + " " + std::string(msg));
                          }});
  }

  void TearDown() override {
    intake_.reset();
    service_.reset();
    faulty_.reset();
    sqlite_.reset();
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix, ec);
    }
    // The directory stays for the next case of this process (ProcessTempDir removes it at exit).
  }

  size_t Notifications() { return service_->ListNotifications({}, {})->size(); }

  static AmqpMessage HostDown(const std::string& host, const std::string& id = "") {
    return {.body = R"({"event_type":"compute.host.error","payload":{"host":")" + host + R"("}})",
            .message_id = id};
  }

  SimulatedClock clock_;
  std::filesystem::path path_;
  std::unique_ptr<store::Store> sqlite_;
  std::unique_ptr<FaultyStore> faulty_;
  std::unique_ptr<ha::HaService> service_;
  std::string segment_;
  std::unique_ptr<AmqpIntake> intake_;
  std::vector<std::string> logs_;
};

TEST_F(AmqpIntakeTest, HostEventCreatesOneNotificationAndIsAcknowledged) {
  auto h = intake_->Handle(HostDown("compute1", "m-1"));
  EXPECT_EQ(h.verdict, AmqpVerdict::kAck);
  EXPECT_EQ(h.outcome, "created");
  auto n = service_->GetNotification(h.notification_uuid);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->type, NotificationType::kComputeHost);
  EXPECT_EQ(n->status, NotificationStatus::kNew);
  EXPECT_EQ(n->uuid, NotificationUuidForKey("amqp:m-1"));
}

TEST_F(AmqpIntakeTest, RedeliveryLongAfterTheFirstCreatesNothing) {
  ASSERT_EQ(intake_->Handle(HostDown("compute1", "m-1")).outcome, "created");
  // Each delivery without a timestamp is generated "now": without the message's identity these
  // would be two notifications, since the duplicate window is 0.
  clock_.Advance(3600'000'000);
  auto again = intake_->Handle(HostDown("compute1", "m-1"));
  EXPECT_EQ(again.verdict, AmqpVerdict::kAck);
  EXPECT_EQ(again.outcome, "duplicate");
  EXPECT_EQ(Notifications(), 1u);
  // Another message about the same host is another notification.
  EXPECT_EQ(intake_->Handle(HostDown("compute1", "m-2")).outcome, "created");
  EXPECT_EQ(Notifications(), 2u);
}

TEST_F(AmqpIntakeTest, UnknownHostIsSkippedWithALogLineAndACount) {
  auto h = intake_->Handle(HostDown("compute30"));
  EXPECT_EQ(h.verdict, AmqpVerdict::kAck);
  EXPECT_EQ(h.outcome, "unknown_host");
  EXPECT_EQ(intake_->Stats()["unknown_host"], 1);
  ASSERT_FALSE(logs_.empty());
  EXPECT_EQ(logs_.back(), "warning amqp event for a host in no segment; skipped");
  EXPECT_EQ(Notifications(), 0u);
}

TEST_F(AmqpIntakeTest, HostOnMaintenanceIsSkipped) {
  auto hosts = service_->ListHosts(segment_, {}, {});
  ASSERT_TRUE(hosts.has_value());
  for (const Host& h : hosts->second) {
    ASSERT_TRUE(service_->UpdateHost(segment_, h.uuid, {.on_maintenance = true}));
  }
  auto h = intake_->Handle(HostDown("compute2"));
  EXPECT_EQ(h.verdict, AmqpVerdict::kAck);
  EXPECT_EQ(h.outcome, "host_on_maintenance");
}

TEST_F(AmqpIntakeTest, PoisonIsDeadLetteredAndCounted) {
  auto h = intake_->Handle({.body = "{{{"});
  EXPECT_EQ(h.verdict, AmqpVerdict::kDeadLetter);
  EXPECT_EQ(h.outcome, "poison");
  EXPECT_EQ(intake_->Handle({.body = R"({"event_type":"compute.host.error"})"}).verdict,
            AmqpVerdict::kDeadLetter);
  EXPECT_EQ(intake_->Stats()["poison"], 2);
  EXPECT_EQ(logs_.back(), "error amqp message is poison; dead-lettered");
}

TEST_F(AmqpIntakeTest, UnmatchedEventsAreAcknowledgedQuietly) {
  auto h = intake_->Handle({.body = R"({"event_type":"instance.update","payload":{}})"});
  EXPECT_EQ(h.verdict, AmqpVerdict::kAck);
  EXPECT_EQ(h.outcome, "skipped");
  EXPECT_TRUE(logs_.empty());
}

TEST_F(AmqpIntakeTest, RebuildEventsAreHandedToTheEngineAndAcknowledged) {
  std::vector<std::string> told;
  AmqpIntakeOptions o{.rules = DefaultAmqpRules(60'000'000)};
  o.instance_news = [&](const InstanceNews& n) { told.push_back(n.instance_uuid); };
  AmqpIntake intake(*service_, clock_, o);
  auto h = intake.Handle(
      {.body = R"({"event_type":"instance.rebuild.end","payload":{"nova_object.data":{"uuid":"u-1","host":"compute2"}}})"});
  EXPECT_EQ(h.verdict, AmqpVerdict::kAck);
  EXPECT_EQ(h.outcome, "skipped");  // no rule makes a notification of it
  EXPECT_EQ(told, std::vector<std::string>{"u-1"});
  EXPECT_EQ(intake.Stats()["instance_news"], 1);
  EXPECT_EQ(Notifications(), 0u);
  // A host failure is no instance news.
  intake.Handle(HostDown("compute1"));
  EXPECT_EQ(told.size(), 1u);
}

TEST_F(AmqpIntakeTest, TransientStoreErrorsRequeueWithGrowingBackoffThenDeadLetter) {
  faulty_->failing_writes = 100;
  std::vector<int64_t> delays;
  for (int i = 0; i < 3; ++i) {
    auto h = intake_->Handle(HostDown("compute1", "m-1"));
    ASSERT_EQ(h.verdict, AmqpVerdict::kRequeue) << i;
    EXPECT_EQ(h.outcome, "store_retry");
    delays.push_back(h.retry_after_micros);
  }
  EXPECT_GE(delays[0], 500'000);
  EXPECT_LE(delays[0], 1'000'000);
  EXPECT_GE(delays[1], 1'000'000);
  EXPECT_LE(delays[1], 2'000'000);
  EXPECT_GE(delays[2], 2'000'000);
  EXPECT_LE(delays[2], 4'000'000);
  // The limit reached: dead-lettered, not retried forever.
  auto last = intake_->Handle(HostDown("compute1", "m-1"));
  EXPECT_EQ(last.verdict, AmqpVerdict::kDeadLetter);
  EXPECT_EQ(last.outcome, "store_error");
  // Another message has its own count; once the store recovers it is created.
  EXPECT_EQ(intake_->Handle(HostDown("compute1", "m-2")).verdict, AmqpVerdict::kRequeue);
  faulty_->failing_writes = 0;
  EXPECT_EQ(intake_->Handle(HostDown("compute1", "m-2")).outcome, "created");
  EXPECT_EQ(Notifications(), 1u);
}

TEST_F(AmqpIntakeTest, NonTransientStoreErrorsAreDeadLettered) {
  faulty_->code = ErrorCode::kInternal;
  faulty_->failing_writes = 1;
  auto h = intake_->Handle(HostDown("compute1", "m-1"));
  EXPECT_EQ(h.verdict, AmqpVerdict::kDeadLetter);
  EXPECT_EQ(h.outcome, "store_error");
}

TEST(Backoff, IsCappedExponentialWithJitter) {
  EXPECT_EQ(BackoffMicros(0, 1000, 60000, 0.0), 500);
  EXPECT_EQ(BackoffMicros(0, 1000, 60000, 1.0), 1000);
  EXPECT_EQ(BackoffMicros(3, 1000, 60000, 1.0), 8000);
  EXPECT_EQ(BackoffMicros(10, 1000, 60000, 1.0), 60000);
  EXPECT_EQ(BackoffMicros(1000, 1000, 60000, 0.0), 30000);  // no overflow, however many
  EXPECT_GE(BackoffMicros(2, 1000, 60000, 0.5), 2000);
  EXPECT_LE(BackoffMicros(2, 1000, 60000, 0.5), 4000);
}

}  // namespace
}  // namespace warden::detect
