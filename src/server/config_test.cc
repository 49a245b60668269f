#include "server/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "drivers/fencing/fencing_config.h"

namespace warden::server {
namespace {

const std::string kMinimal = "[api]\ntoken_file = /etc/warden/tokens\n";

TEST(Config, DefaultsMatchTheDocumentation) {
  auto c = ParseConfig(kMinimal, "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->api.listen_host, "127.0.0.1");
  EXPECT_EQ(c->api.listen_port, 15868);
  EXPECT_EQ(c->api.auth_strategy, "token");
  EXPECT_EQ(c->api.osapi_max_limit, 1000);
  EXPECT_EQ(c->engine.duplicate_notification_detection_interval, 180);
}

TEST(Config, ReadsSectionsCommentsAndSqliteUrls) {
  auto c = ParseConfig(
      "# comment\n[DEFAULT]\nlog_level = debug\n; another\n[api]\nlisten = 0.0.0.0:8080\n"
      "token_file=/t\nworkers = 4\n[database]\nconnection = sqlite:////var/lib/warden/w.db\n",
      "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->api.listen_host, "0.0.0.0");
  EXPECT_EQ(c->api.listen_port, 8080);
  EXPECT_EQ(c->api.workers, 4);
  EXPECT_EQ(c->database.sqlite_path, "/var/lib/warden/w.db");
}

TEST(Config, EnvironmentOverridesTheFile) {
  auto c = ParseConfig(kMinimal + "listen = 127.0.0.1:1\n", "t.conf",
                       {{"WARDEN_API_LISTEN", "127.0.0.1:0"},
                        {"WARDEN_DEFAULT_LOG_FORMAT", "json"},
                        {"WARDEN_URL", "http://ignored: client variable"}});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->api.listen_port, 0);
  EXPECT_EQ(c->log_format, "json");
}

struct BadCase {
  std::string text;
  std::map<std::string, std::string> env;
  std::string must_mention;
};

TEST(Config, BadInputStopsStartUpNamingTheKey) {
  const std::vector<BadCase> cases = {
      {kMinimal + "lisen = 1.2.3.4:5\n", {}, "[api] lisen"},
      {kMinimal + "listen = nowhere\n", {}, "[api] listen"},
      {kMinimal + "listen = 127.0.0.1:99999\n", {}, "[api] listen"},
      {kMinimal + "workers = many\n", {}, "[api] workers"},
      {kMinimal + "workers = 0\n", {}, "[api] workers"},
      {kMinimal + "auth_strategy = keystone\n", {}, "[api] auth_strategy"},
      {kMinimal + "access_log = sometimes\n", {}, "[api] access_log"},
      {kMinimal + "[nova]\nx = 1\n", {}, "[nova]"},
      {kMinimal + "[DEFAULT]\nlog_level = loud\n", {}, "[DEFAULT] log_level"},
      {kMinimal + "[database]\nconnection = mysql://x\n", {}, "[database] connection"},
      {kMinimal + "just text\n", {}, "t.conf:3"},
      {kMinimal, {{"WARDEN_API_LISTN", "x"}}, "WARDEN_API_LISTN"},
      {kMinimal, {{"WARDEN_API_WORKERS", "-3"}}, "[api] workers"},
      {"[api]\nauth_strategy = token\n", {}, "[api] token_file"},
      {"[api]\nauth_strategy = noauth\nlisten = 0.0.0.0:15868\n", {}, "noauth"},
  };
  for (const auto& bad : cases) {
    auto c = ParseConfig(bad.text, "t.conf", bad.env);
    ASSERT_FALSE(c.has_value()) << bad.text;
    EXPECT_NE(c.error().message().find(bad.must_mention), std::string::npos)
        << c.error().message() << " should mention " << bad.must_mention;
  }
}

TEST(Config, NoAuthIsAllowedOnLoopback) {
  for (std::string listen : {"127.0.0.1:1", "localhost:1", "[::1]:1", "127.0.0.5:1"}) {
    auto c = ParseConfig("[api]\nauth_strategy = noauth\nlisten = " + listen + "\n", "t", {});
    EXPECT_TRUE(c.has_value()) << listen << ": " << c.error().message();
  }
}

const std::string kKeystone =
    "[api]\nauth_strategy = keystone\n[keystone_authtoken]\n"
    "auth_url = http://127.0.0.1:5000/v3\nauth_type = password\nusername = warden\n"
    "password = s3cret\nproject_name = service\n";

TEST(Config, KeystoneReadsMasakarisAuthtokenSection) {
  auto c = ParseConfig(kKeystone + "region_name = RegionTwo\ntoken_cache_time = 60\n"
                                   "user_domain_id = default\nmemcached_servers = m:11211\n",
                       "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->api.auth_strategy, "keystone");
  EXPECT_EQ(c->api.authtoken_www_authenticate_uri, "http://127.0.0.1:5000/v3");  // from auth_url
  EXPECT_EQ(c->api.authtoken_region_name, "RegionTwo");
  EXPECT_EQ(c->api.authtoken_token_cache_time, 60);
  EXPECT_EQ(c->api.admin_roles, "admin");
  EXPECT_EQ(c->api.reader_roles, "reader");
  bool noted = false;
  for (const auto& n : c->notices) noted = noted || n.find("memcached_servers") != n.npos;
  EXPECT_TRUE(noted);
  for (const auto& line : DescribeConfig(*c)) {
    EXPECT_EQ(line.find("s3cret"), std::string::npos) << line;
  }
}

TEST(Config, KeystoneAsMasakariSpellsIt) {
  auto c = ParseConfig(
      "[DEFAULT]\nauth_strategy = keystone\n" + kKeystone.substr(kKeystone.find("[keystone")),
      "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->api.auth_strategy, "keystone");
  auto n = ParseConfig("[DEFAULT]\nauth_strategy = noauth2\n", "t.conf", {});
  ASSERT_TRUE(n.has_value()) << n.error().message();
  EXPECT_EQ(n->api.auth_strategy, "noauth");
}

TEST(Config, KeystoneErrorsNameTheKey) {
  auto missing = ParseConfig("[api]\nauth_strategy = keystone\n", "t.conf", {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("[keystone_authtoken] auth_url"), std::string::npos);
  auto no_password = ParseConfig(
      "[api]\nauth_strategy = keystone\n[keystone_authtoken]\nauth_url = http://k/v3\n"
      "username = w\nproject_name = s\n",
      "t.conf", {});
  ASSERT_FALSE(no_password.has_value());
  EXPECT_NE(no_password.error().message().find("password"), std::string::npos);
  auto appcred = ParseConfig(
      "[api]\nauth_strategy = keystone\n[keystone_authtoken]\nauth_url = http://k/v3\n"
      "auth_type = v3applicationcredential\napplication_credential_id = abc\n",
      "t.conf", {});
  ASSERT_FALSE(appcred.has_value());
  EXPECT_NE(appcred.error().message().find("application_credential_secret"), std::string::npos);
  auto typo = ParseConfig(kKeystone + "memcache_servers = x\n", "t.conf", {});
  ASSERT_FALSE(typo.has_value());
  EXPECT_NE(typo.error().message().find("memcache_servers"), std::string::npos);
  auto roles = ParseConfig(kKeystone + "[api]\nadmin_roles = ,\n", "t.conf", {});
  ASSERT_FALSE(roles.has_value());
  EXPECT_NE(roles.error().message().find("admin_roles"), std::string::npos);
  auto domain = ParseConfig(kKeystone + "project_domain_id = 1234\n", "t.conf", {});
  ASSERT_FALSE(domain.has_value());
  EXPECT_NE(domain.error().message().find("project_domain_name"), std::string::npos);
}

}  // namespace
}  // namespace warden::server

namespace warden::server {
namespace {

TEST(AmqpConfig, DefaultsAreOffWithNovasBindingsAndTheBuiltInRules) {
  auto c = ParseConfig(kMinimal, "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_FALSE(c->amqp.enabled);
  auto a = detect::MakeAmqpSettings(c->amqp);
  ASSERT_TRUE(a.has_value()) << a.error().message();
  ASSERT_EQ(a->consumer.bindings.size(), 3u);
  EXPECT_EQ(a->consumer.bindings[0].exchange, "nova");
  EXPECT_EQ(a->consumer.bindings[0].routing_key, "versioned_notifications.error");
  EXPECT_EQ(a->consumer.bindings[2].routing_key, "notifications.error");
  EXPECT_EQ(a->consumer.queue, "warden.notifications");
  EXPECT_EQ(a->consumer.dead_letter_queue, "warden.notifications.dead");
  EXPECT_EQ(a->consumer.url.endpoints[0].port, 5672);
  EXPECT_EQ(a->intake.rules.size(), 5u);
  EXPECT_EQ(a->intake.requeue_limit, 10);
}

TEST(AmqpConfig, ReadsTransportUrlPasswordFileRulesAndEnvironment) {
  const std::string pw = testing::TempDir() + "/amqp-password";
  std::ofstream(pw) << "from-file\n";
  auto c = ParseConfig(kMinimal +
                           "[amqp]\nenabled = true\n"
                           "url = rabbit://nova:in-url@r1:5673,nova:in-url@r2/openstack\n"
                           "password_file = " + pw + "\n"
                           "bindings = nova:versioned_notifications.error\n"
                           "reconnect_backoff_max = 2m\n"
                           "default_rules = false\n"
                           "[amqp_rule:mine]\nevent_type = compute.host.down\ntype = COMPUTE_HOST\n"
                           "hostname = $payload.node\nevent = STOPPED\n",
                       "t.conf", {{"WARDEN_AMQP_QUEUE", "warden.q"}});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  auto a = detect::MakeAmqpSettings(c->amqp);
  ASSERT_TRUE(a.has_value()) << a.error().message();
  ASSERT_EQ(a->consumer.url.endpoints.size(), 2u);
  EXPECT_EQ(a->consumer.url.endpoints[1].password, "from-file");
  EXPECT_EQ(a->consumer.url.vhost, "openstack");
  EXPECT_EQ(a->consumer.queue, "warden.q");
  EXPECT_EQ(a->consumer.reconnect_backoff_max_micros, 120'000'000);
  ASSERT_EQ(a->intake.rules.size(), 1u);
  EXPECT_EQ(a->intake.rules[0].name, "mine");
  // --check-config never shows the password.
  for (const auto& line : DescribeConfig(*c)) {
    EXPECT_EQ(line.find("in-url"), std::string::npos) << line;
    EXPECT_EQ(line.find("from-file"), std::string::npos) << line;
  }
}

TEST(AmqpConfig, BadInputNamesTheKey) {
  const std::vector<BadCase> cases = {
      {kMinimal + "[amqp]\nenabld = true\n", {}, "[amqp] enabld"},
      {kMinimal + "[amqp]\nurl = http://x\n", {}, "[amqp] url"},
      {kMinimal + "[amqp]\nprefetch = 0\n", {}, "[amqp] prefetch"},
      {kMinimal + "[amqp]\nbindings = nova\n", {}, "[amqp] bindings"},
      {kMinimal + "[amqp]\nbindings = \n", {}, "[amqp] bindings"},
      {kMinimal + "[amqp]\nconnect_timeout = soon\n", {}, "[amqp] connect_timeout"},
      {kMinimal + "[amqp]\nreconnect_backoff_initial = 10s\nreconnect_backoff_max = 1s\n",
       {},
       "[amqp] reconnect_backoff_max"},
      {kMinimal + "[amqp]\nrequeue_backoff_max = 90s\n", {}, "[amqp] requeue_backoff_max"},
      {kMinimal + "[amqp]\ndead_letter_queue = warden.notifications\n",
       {},
       "[amqp] dead_letter_queue"},
      {kMinimal + "[amqp]\nenabled = true\npassword_file = /nonexistent/pw\n",
       {},
       "[amqp] password_file"},
      {kMinimal + "[amqp]\nenabled = true\ndefault_rules = false\n", {}, "[amqp] default_rules"},
      {kMinimal + "[amqp_rule:x]\ncolour = red\n", {}, "[amqp_rule:x] colour"},
      {kMinimal + "[amqp_rule:x]\nevent_type = e\ntype = HOST\n", {}, "[amqp_rule:x] type"},
      {kMinimal + "[amqp_rule:x]\nevent_type = e\n[amqp_rule:x]\n", {}, "appears twice"},
      {kMinimal + "[amqp_rule:x]\nevent_type = e\nevent_type = f\n",
       {},
       "[amqp_rule:x] event_type is set twice"},
      {kMinimal + "[custom_task:t]\ntype = exec\ncommand = a\ncommand = b\n",
       {},
       "[custom_task:t] command is set twice"},
      {kMinimal + "[custom_task:t]\ntype = exec\ncommand = a\n[custom_task:t]\n",
       {},
       "[custom_task:t] appears twice"},
      {kMinimal + "[amqp_rule:]\n", {}, "plain name"},
      {kMinimal, {{"WARDEN_AMQP_HEARTBEAT", "-1"}}, "[amqp] heartbeat"},
  };
  for (const auto& bad : cases) {
    auto c = ParseConfig(bad.text, "t.conf", bad.env);
    ASSERT_FALSE(c.has_value()) << bad.text;
    EXPECT_NE(c.error().message().find(bad.must_mention), std::string::npos)
        << c.error().message() << " should mention " << bad.must_mention;
  }
  // A bad URL's error does not repeat the password either.
  auto c = ParseConfig(kMinimal + "[amqp]\nurl = rabbit://u:hunter2@h:0/\n", "t.conf", {});
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().message().find("hunter2"), std::string::npos) << c.error().message();
}

}  // namespace
}  // namespace warden::server

namespace warden::server {
namespace {

std::string CredentialsFile(const std::string& text) {
  const std::string path = "/tmp/warden-config-test-creds-" + std::to_string(getpid());
  std::ofstream(path) << text;
  return path;
}

TEST(FenceDeviceConfig, IpmiAndRedfishDevicesWithLevels) {
  const std::string creds = CredentialsFile("username = admin\npassword = s3cret\n");
  auto c = ParseConfig(kMinimal +
                           "[fence_device:bmc1]\ndriver = ipmi\nhosts = compute1\n"
                           "address = 10.0.0.11\ncredentials = file:" + creds + "\n"
                           "timeout = 5s\nretries = 1\ncipher_suite = 17\n"
                           "[fence_device:rf1]\ndriver = redfish\nhosts = compute1, compute2\n"
                           "url = https://10.0.0.21\nsystem = /redfish/v1/Systems/1\n"
                           "credentials = env:RF1\nlevel = 2\nconfirm_timeout = 20s\n"
                           "insecure = true\n",
                       "t.conf", {{"RF1_USERNAME", "root"}, {"RF1_PASSWORD", "pw"}});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  // ParseConfig keeps what it built while checking (start-up takes config.derived, nothing
  // else): the credentials were read then, and removing the file afterwards loses nothing.
  std::remove(creds.c_str());
  ASSERT_NE(c->derived, nullptr);
  const auto* devices = &c->derived->fence_devices;
  ASSERT_EQ(devices->size(), 2u);
  const auto& ipmi = (*devices)[0];
  EXPECT_EQ(ipmi.driver, "ipmi");
  EXPECT_EQ(ipmi.level, 1);
  EXPECT_EQ(ipmi.ipmi.port, 623);
  EXPECT_EQ(ipmi.ipmi.interface, "lanplus");
  EXPECT_EQ(ipmi.ipmi.cipher_suite, "17");
  EXPECT_EQ(ipmi.ipmi.credentials.password, "s3cret");
  EXPECT_EQ(ipmi.ipmi.command_timeout_micros, 5'000'000);
  EXPECT_EQ(ipmi.ipmi.retry.attempts, 2);  // retries = 1: one more try
  const auto& rf = (*devices)[1];
  EXPECT_EQ(rf.level, 2);
  EXPECT_EQ(rf.redfish.hosts, (std::vector<std::string>{"compute1", "compute2"}));
  EXPECT_TRUE(rf.redfish.tls.insecure);
  EXPECT_EQ(rf.confirm_timeout_micros, 20'000'000);
  // --check-config shows the references, never a secret.
  std::string all;
  for (const auto& line : DescribeConfig(*c)) all += line + "\n";
  EXPECT_NE(all.find("[fence_device:bmc1] credentials = file:" + creds), std::string::npos);
  EXPECT_EQ(all.find("s3cret"), std::string::npos);
  EXPECT_EQ(all.find("pw\n"), std::string::npos);
}

TEST(FenceDeviceConfig, ErrorsNameTheSectionAndKey) {
  const std::string creds = CredentialsFile("username = admin\npassword = s3cret\n");
  const std::string ok_ipmi = "driver = ipmi\nhosts = c1\naddress = 10.0.0.1\ncredentials = file:" +
                              creds + "\n";
  struct Case {
    std::string text;
    std::string want;
  };
  for (const Case& t : std::vector<Case>{
           {"[fence_device:a]\ndriver = ilo\n", "[fence_device:a] driver: 'ilo' is not one of"},
           {"[fence_device:a]\nhosts = c1\n", "[fence_device:a] driver: missing"},
           {"[fence_device:a]\ndriver = ipmi\nhosts = c1\ncredentials = file:" + creds + "\n",
            "[fence_device:a] address: missing"},
           {"[fence_device:a]\ndriver = ipmi\naddress = x\ncredentials = file:" + creds + "\n",
            "[fence_device:a] hosts: missing"},
           {"[fence_device:a]\ndriver = redfish\nhosts = c1\ncredentials = file:" + creds + "\n",
            "[fence_device:a] url: missing"},
           {"[fence_device:a]\ndriver = redfish\nhosts = c1\nurl = ftp://x\ncredentials = file:" +
                creds + "\n",
            "[fence_device:a] url: 'ftp://x' is not an http"},
           {"[fence_device:a]\ndriver = ipmi\nhosts = c1\naddress = x\n",
            "[fence_device:a] credentials: missing"},
           {"[fence_device:a]\ndriver = ipmi\nhosts = c1\naddress = x\n"
            "credentials = file:/nonexistent/creds\n",
            "[fence_device:a] credentials: cannot read the credentials file /nonexistent/creds"},
           {"[fence_device:a]\ndriver = ipmi\nhosts = c1\naddress = x\ncredentials = env:NOPE\n",
            "[fence_device:a] credentials: environment variable NOPE_USERNAME is not set"},
           {"[fence_device:a]\n" + ok_ipmi + "url = https://x\n",
            "[fence_device:a] url: is a key of driver = redfish"},
           {"[fence_device:a]\n" + ok_ipmi + "port = 70000\n", "[fence_device:a] port: '70000'"},
           {"[fence_device:a]\n" + ok_ipmi + "interface = serial\n", "[fence_device:a] interface"},
           {"[fence_device:a]\n" + ok_ipmi + "level = 0\n", "[fence_device:a] level"},
           {"[fence_device:a]\n" + ok_ipmi + "timeout = soon\n", "[fence_device:a] timeout"},
           {"[fence_device:a]\n" + ok_ipmi + "retries = 99\n", "[fence_device:a] retries"},
           {"[fence_device:a]\n" + ok_ipmi + "password = hunter2\n",
            "unknown key [fence_device:a] password"},
           {"[fence_device:a]\n" + ok_ipmi + "[fence_device:a]\n", "[fence_device:a] appears twice"},
       }) {
    auto c = ParseConfig(kMinimal + t.text, "t.conf", {});
    ASSERT_FALSE(c.has_value()) << t.text;
    EXPECT_NE(c.error().message().find(t.want), std::string::npos)
        << "got: " << c.error().message() << "\nwant: " << t.want;
    EXPECT_EQ(c.error().message().find("hunter2"), std::string::npos);
  }
  std::remove(creds.c_str());
}

TEST(FenceDeviceConfig, WarnsWhenFenceTimeoutIsShorterThanTheLevels) {
  const std::string creds = CredentialsFile("username = admin\npassword = s3cret\n");
  auto c = ParseConfig(kMinimal + "[host_failure]\nfence_timeout = 30\n"
                                  "[fence_device:a]\ndriver = ipmi\nhosts = c1\naddress = x\n"
                                  "credentials = file:" + creds + "\nconfirm_timeout = 30s\n",
                       "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().message();
  bool warned = false;
  for (const auto& n : c->notices) warned |= n.find("fence_timeout (30 s) is shorter") != std::string::npos;
  EXPECT_TRUE(warned);
  std::remove(creds.c_str());
}

TEST(AgentConfig, RestartThroughTheAgentPutsItsTaskFirst) {
  const std::string token = CredentialsFile("wdn_agenttoken\n");
  auto c = ParseConfig(kMinimal +
                           "[process_failure]\nrestart_through_agent = true\n"
                           "agent_url = http://{host}:15869/\nagent_token_file = " +
                           token + "\n",
                       "t.conf", {});
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  std::remove(token.c_str());  // read once, while checking
  const DerivedSettings& d = *c->derived;
  ASSERT_FALSE(d.engine.workflows.process.empty());
  EXPECT_EQ(d.engine.workflows.process.front(), engine::kRestartProcess);
  ASSERT_TRUE(d.agent.has_value());
  EXPECT_EQ(d.agent->token, "wdn_agenttoken");
  EXPECT_EQ(*drivers::AgentUrlFor(d.agent->url_template, "compute1"), "http://compute1:15869");
}

TEST(AgentConfig, ErrorsNameTheKey) {
  const std::string token = CredentialsFile("wdn_agenttoken\n");
  const std::string pf = "[process_failure]\n";
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {pf + "restart_through_agent = true\n", "[process_failure] agent_url: required"},
           {pf + "agent_url = http://{host}:1\n", "[process_failure] agent_token_file"},
           {pf + "agent_url = compute:1\nagent_token_file = " + token + "\n",
            "[process_failure] agent_url: an http"},
           {pf + "agent_url = http://compute:1\nagent_token_file = " + token + "\n",
            "[process_failure] agent_url: the agent URL 'http://compute:1' has no {host}"},
           {pf + "agent_url = http://{host}:1\nagent_token_file = /nonexistent\n",
            "[process_failure] agent_token_file: cannot read"},
           {pf + "agent_restart_timeout = 0\n", "[process_failure] agent_restart_timeout"},
           {pf + "restart_through_agent = maybe\n", "[process_failure] restart_through_agent"},
           {"[taskflow_driver_recovery_flows]\nprocess_failure_recovery_tasks = "
            "restart_process_task, disable_compute_node_task\n",
            "names RestartProcessTask: set [process_failure] agent_url"},
       }) {
    auto c = ParseConfig(kMinimal + text, "t.conf", {});
    ASSERT_FALSE(c.has_value()) << text;
    EXPECT_NE(c.error().message().find(want), std::string::npos)
        << "got: " << c.error().message() << "\nwant: " << want;
  }
  std::remove(token.c_str());
}

}  // namespace
}  // namespace warden::server
