#include "detect/amqp_consumer.h"

#include <gtest/gtest.h>

namespace warden::detect {
namespace {

TEST(AmqpUrl, ParsesOslosTransportUrl) {
  auto u = ParseAmqpUrl("rabbit://nova:s3cr%40t@rabbit1:5673,nova:other@rabbit2/openstack");
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  ASSERT_EQ(u->endpoints.size(), 2u);
  EXPECT_EQ(u->endpoints[0].host, "rabbit1");
  EXPECT_EQ(u->endpoints[0].port, 5673);
  EXPECT_EQ(u->endpoints[0].user, "nova");
  EXPECT_EQ(u->endpoints[0].password, "s3cr@t");
  EXPECT_EQ(u->endpoints[1].host, "rabbit2");
  EXPECT_EQ(u->endpoints[1].port, 5672);
  EXPECT_EQ(u->endpoints[1].password, "other");
  EXPECT_EQ(u->vhost, "openstack");
}

TEST(AmqpUrl, DefaultsAndOtherForms) {
  auto plain = ParseAmqpUrl("amqp://127.0.0.1");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->vhost, "/");
  EXPECT_EQ(plain->endpoints[0].user, "guest");
  EXPECT_EQ(plain->endpoints[0].password, "guest");
  EXPECT_EQ(ParseAmqpUrl("rabbit://u:p@h:1/")->vhost, "/");
  EXPECT_EQ(ParseAmqpUrl("rabbit://u:p@h:1/%2F")->vhost, "/");
  auto v6 = ParseAmqpUrl("amqp://u:p@[::1]:5000/v");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->endpoints[0].host, "::1");
  EXPECT_EQ(v6->endpoints[0].port, 5000);
  // A host without credentials uses the previous host's.
  auto two = ParseAmqpUrl("rabbit://a:b@h1,h2:5");
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->endpoints[1].user, "a");
  EXPECT_EQ(two->endpoints[1].password, "b");
}

TEST(AmqpUrl, ErrorsNeverShowThePassword) {
  for (const char* bad :
       {"rabbit://u:hunter2@h:0/", "rabbit://u:hunter2@h:99999/", "http://u:hunter2@h/",
        "rabbit://u:hunter2@/", "nonsense", "rabbit://u:hunter2@h/v?ssl=1", "amqps://u:hunter2@h/",
        "rabbit://u:hunter2%zz@h/"}) {
    auto u = ParseAmqpUrl(bad);
    ASSERT_FALSE(u.has_value()) << bad;
    EXPECT_EQ(u.error().message().find("hunter2"), std::string::npos) << u.error().message();
  }
}

TEST(AmqpUrl, RedactionHidesEveryPassword) {
  EXPECT_EQ(RedactAmqpUrl("rabbit://nova:pw1@r1:5672,nova:pw2@r2:5672/os"),
            "rabbit://nova:***@r1:5672,nova:***@r2:5672/os");
  EXPECT_EQ(RedactAmqpUrl("amqp://h/"), "amqp://h/");
  EXPECT_EQ(RedactAmqpUrl("garbage:pw@x"), "***");
}

TEST(AmqpMetrics, RendersEveryOutcomeAndTheConnectionState) {
  AmqpConsumerStats c;
  c.connects = 2;
  c.dead_letters = 1;
  c.deliveries = 5;
  c.handler_failures = 1;
  c.connected = true;
  std::string text = RenderAmqpMetrics({{"created", 3}, {"poison", 1}}, c);
  EXPECT_NE(text.find("warden_amqp_messages_total{outcome=\"created\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("warden_amqp_messages_total{outcome=\"duplicate\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("warden_amqp_messages_total{outcome=\"poison\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("warden_amqp_connects_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("warden_amqp_dead_lettered_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("warden_amqp_connected 1\n"), std::string::npos);
  EXPECT_NE(text.find("warden_amqp_deliveries_total 5\n"), std::string::npos);
  EXPECT_NE(text.find("warden_amqp_handler_failures_total 1\n"), std::string::npos);
}

}  // namespace
}  // namespace warden::detect
