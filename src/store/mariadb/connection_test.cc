// The MariaDB session against a real MariaDB: one plain server started from
// ../shared/galera-lab (up.sh --single, about a second) for the whole suite.
#include "store/mariadb/connection.h"
#include "store/mariadb/schema.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "core/clock.h"
#include "core/test_temp_dir.h"

namespace warden::store::mariadb {
namespace {

namespace fs = std::filesystem;

// The lab's scripts: $WARDEN_GALERA_LAB, the project's ../shared/galera-lab, or the machine's.
std::string LabScripts() {
  std::vector<std::string> places;
  if (const char* env = std::getenv("WARDEN_GALERA_LAB")) places.push_back(env);
  places.push_back(std::string(WARDEN_SOURCE_DIR) + "/../shared/galera-lab");
  places.push_back("/work/shared/galera-lab");
  for (const auto& p : places) {
    if (fs::exists(p + "/up.sh")) return p;
  }
  return "";
}

// The lab's ports for `nodes` nodes (node i uses base + 10(i-1) + 0..3), all free, below the
// ephemeral range (the lab's rule), from a random base so that parallel runs do not collide.
int FreeBase(int nodes = 1) {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int base = 20000 + int(rng() % 1000) * 10;
    bool free = true;
    for (int i = 0; i < nodes && free; ++i) {
      for (int k = 0; k < 4 && free; ++k) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(base + 10 * i + k));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        close(fd);
      }
    }
    if (free) return base;
  }
  return 0;
}

// A lab started for a test suite: its env (LAB_PORT_1, LAB_SQL_USER ...), or why it is not.
struct Lab {
  std::string dir;
  std::string error;
  std::map<std::string, std::string> env;

  void Start(const std::string& name, bool galera) {
    const std::string scripts = LabScripts();
    if (scripts.empty()) return;
    dir = (ProcessTempDir("warden-mariadb") / name).string();
    const std::string cmd = "LAB_BASE_PORT=" + std::to_string(FreeBase(galera ? 3 : 1)) + " " +
                            scripts + "/up.sh " + (galera ? "" : "--single ") + "--dir " + dir +
                            " > " + dir + ".log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream log(dir + ".log");
      error.assign(std::istreambuf_iterator<char>(log), {});
      return;
    }
    std::ifstream in(dir + "/env");
    for (std::string line; std::getline(in, line);) {
      const size_t eq = line.find('=');
      if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  void Stop() {
    if (!env.empty()) std::system((dir + "/down.sh --purge > /dev/null 2>&1").c_str());
  }
  DatabaseUrl Url(int node = 1) {
    DatabaseUrl u;
    u.kind = DatabaseUrl::Kind::kMysql;
    u.user = env["LAB_SQL_USER"];
    u.password = env["LAB_SQL_PASSWORD"];
    u.host = "127.0.0.1";
    u.port = std::stoi(env["LAB_PORT_" + std::to_string(node)]);
    u.database = env["LAB_DB"];
    return u;
  }
};

class MariaDbTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { lab_.Start("single", /*galera=*/false); }
  static void TearDownTestSuite() { lab_.Stop(); }
  void SetUp() override {
    if (LabScripts().empty()) GTEST_SKIP() << "no ../shared/galera-lab here";
    ASSERT_TRUE(lab_.error.empty()) << "the lab did not start:\n" << lab_.error;
    ASSERT_FALSE(lab_.env.empty());
  }

  static DatabaseUrl Url(const std::string& password = "") {
    DatabaseUrl u = lab_.Url();
    if (!password.empty()) u.password = password;
    return u;
  }
  static std::unique_ptr<Connection> Connect() {
    auto c = Connection::Open(Url(), {});
    if (auto* e = std::get_if<SqlError>(&c)) {
      ADD_FAILURE() << e->number << " " << e->message;
      return nullptr;
    }
    return std::move(std::get<std::unique_ptr<Connection>>(c));
  }
  template <typename T>
  static T Ok(std::variant<T, SqlError> r) {
    if (auto* e = std::get_if<SqlError>(&r)) {
      ADD_FAILURE() << e->number << " " << e->message;
      return T{};
    }
    return std::move(std::get<T>(r));
  }

  static inline Lab lab_;
};

TEST_F(MariaDbTest, ValuesGoInAsDataNeverAsSql) {
  auto c = Connect();
  ASSERT_TRUE(c);
  Ok(c->Exec("DROP TABLE IF EXISTS t_values"));
  Ok(c->Exec("CREATE TABLE t_values (id BIGINT AUTO_INCREMENT PRIMARY KEY, s TEXT, n BIGINT)"));
  const std::vector<std::string> tricky = {
      "plain", "it's", "back\\slash", "'); DROP TABLE t_values; --", "quote \" and ? mark",
      "héllo wörld ✓", std::string("nul\0byte", 8), ""};
  for (const auto& s : tricky) {
    EXPECT_EQ(Ok(c->Exec("INSERT INTO t_values (s, n) VALUES (?, ?)", {s, int64_t(-7)})), 1);
    EXPECT_GT(c->LastInsertId(), 0);
  }
  Ok(c->Exec("INSERT INTO t_values (s, n) VALUES (?, ?)", {std::nullopt, int64_t(9)}));
  auto rows = Ok(c->Query("SELECT s, n FROM t_values ORDER BY id"));
  ASSERT_EQ(rows.size(), tricky.size() + 1);
  for (size_t i = 0; i < tricky.size(); ++i) {
    ASSERT_TRUE(rows[i][0].has_value());
    EXPECT_EQ(*rows[i][0], tricky[i]);
    EXPECT_EQ(rows[i][1], "-7");
  }
  EXPECT_FALSE(rows.back()[0].has_value());  // NULL stays NULL
  // A '?' inside the statement's own literal is no placeholder.
  auto lit = Ok(c->Query("SELECT '?', ?", {std::string("x")}));
  ASSERT_EQ(lit.size(), 1u);
  EXPECT_EQ(lit[0][0], "?");
  EXPECT_EQ(lit[0][1], "x");
  // Counting mistakes are caught before anything is sent.
  EXPECT_TRUE(std::holds_alternative<SqlError>(c->Exec("SELECT ?")));
  EXPECT_TRUE(std::holds_alternative<SqlError>(c->Exec("SELECT 1", {int64_t(1)})));
}

TEST_F(MariaDbTest, ACompareAndSetUpdateSaysWhoWon) {
  auto a = Connect();
  auto b = Connect();
  ASSERT_TRUE(a && b);
  Ok(a->Exec("DROP TABLE IF EXISTS t_lease"));
  Ok(a->Exec("CREATE TABLE t_lease (name VARCHAR(32) PRIMARY KEY, holder VARCHAR(32), "
             "expires_at DATETIME(6) NOT NULL)"));
  Ok(a->Exec("INSERT INTO t_lease VALUES ('leader', NULL, NOW(6) - INTERVAL 1 SECOND)"));
  const std::string claim =
      "UPDATE t_lease SET holder = ?, expires_at = NOW(6) + INTERVAL 10 SECOND "
      "WHERE name = 'leader' AND (expires_at < NOW(6) OR holder = ?)";
  EXPECT_EQ(Ok(a->Exec(claim, {std::string("a"), std::string("a")})), 1);
  EXPECT_EQ(Ok(b->Exec(claim, {std::string("b"), std::string("b")})), 0);  // a holds it
  EXPECT_EQ(Ok(a->Exec(claim, {std::string("a"), std::string("a")})), 1);  // a renews
}

TEST_F(MariaDbTest, ErrorsAreSortedForTheCaller) {
  auto c = Connect();
  ASSERT_TRUE(c);
  Ok(c->Exec("DROP TABLE IF EXISTS t_unique"));
  Ok(c->Exec("CREATE TABLE t_unique (k VARCHAR(8) PRIMARY KEY)"));
  Ok(c->Exec("INSERT INTO t_unique VALUES (?)", {std::string("one")}));
  auto dup = c->Exec("INSERT INTO t_unique VALUES (?)", {std::string("one")});
  ASSERT_TRUE(std::holds_alternative<SqlError>(dup));
  const SqlError& e = std::get<SqlError>(dup);
  EXPECT_EQ(e.number, 1062u);
  EXPECT_FALSE(e.Retryable());
  EXPECT_EQ(e.ToError().code(), ErrorCode::kAlreadyExists);
  auto bad = c->Exec("SELEKT 1");
  ASSERT_TRUE(std::holds_alternative<SqlError>(bad));
  EXPECT_EQ(std::get<SqlError>(bad).ToError().code(), ErrorCode::kInternal);

  // A wrong password: 1045, refused, and the password in no message.
  auto refused = Connection::Open(Url("not-the-password-xyz"), {});
  ASSERT_TRUE(std::holds_alternative<SqlError>(refused));
  const SqlError& r = std::get<SqlError>(refused);
  EXPECT_EQ(r.number, 1045u);
  EXPECT_EQ(r.ToError().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.message.find("not-the-password-xyz"), std::string::npos) << r.message;

  // Nobody listening: a lost-connection error, retryable.
  DatabaseUrl nowhere = Url();
  nowhere.port = 1;
  auto none = Connection::Open(nowhere, {.connect_timeout_seconds = 2});
  ASSERT_TRUE(std::holds_alternative<SqlError>(none));
  EXPECT_TRUE(std::get<SqlError>(none).ConnectionLost()) << std::get<SqlError>(none).number;
  EXPECT_TRUE(std::get<SqlError>(none).Retryable());

  // Deadlocks and Galera's certification failures (1213) are retried as a whole.
  EXPECT_TRUE((SqlError{1213, "40001", "Deadlock found"}.Retryable()));
  EXPECT_TRUE((SqlError{1047, "08S01", "WSREP has not yet prepared node"}.Retryable()));
}

TEST_F(MariaDbTest, AKilledSessionIsALostConnection) {
  auto victim = Connect();
  auto killer = Connect();
  ASSERT_TRUE(victim && killer);
  auto id = Ok(victim->Query("SELECT CONNECTION_ID()"));
  ASSERT_EQ(id.size(), 1u);
  Ok(killer->Exec("KILL CONNECTION " + *id[0][0]));
  auto after = victim->Query("SELECT 1");
  ASSERT_TRUE(std::holds_alternative<SqlError>(after));
  const SqlError& e = std::get<SqlError>(after);
  EXPECT_TRUE(e.ConnectionLost()) << e.number << " " << e.message;
  EXPECT_TRUE(e.Retryable());
}

TEST_F(MariaDbTest, ADeadlockedTransactionIsRunAgainWhole) {
  auto setup = Connect();
  ASSERT_TRUE(setup);
  Ok(setup->Exec("DROP TABLE IF EXISTS t_pair"));
  Ok(setup->Exec("CREATE TABLE t_pair (k CHAR(1) PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB"));
  Ok(setup->Exec("INSERT INTO t_pair VALUES ('a', 0), ('b', 0)"));
  // Two transactions take the two rows in opposite orders, each holding its first until the
  // other has taken its own: InnoDB must kill one (1213), which then runs again by itself.
  std::atomic<int> holding{0};
  auto run = [&](Session& session, const std::string& first, const std::string& second) {
    int runs = 0;
    auto e = session.Transaction([&](Connection& c) -> std::optional<SqlError> {
      ++runs;
      auto r = c.Exec("UPDATE t_pair SET n = n + 1 WHERE k = ?", {first});
      if (auto* err = std::get_if<SqlError>(&r)) return *err;
      if (runs == 1) {
        ++holding;
        for (int i = 0; i < 500 && holding.load() < 2; ++i) {
          RealClock().SleepFor(10'000);
        }
      }
      r = c.Exec("UPDATE t_pair SET n = n + 1 WHERE k = ?", {second});
      if (auto* err = std::get_if<SqlError>(&r)) return *err;
      return std::nullopt;
    });
    EXPECT_FALSE(e.has_value()) << (e ? e->message : "");
  };
  Session one(Url(), {}), two(Url(), {});
  std::thread t1([&] { run(one, "a", "b"); });
  std::thread t2([&] { run(two, "b", "a"); });
  t1.join();
  t2.join();
  EXPECT_GE(one.retries() + two.retries(), 1);
  // Both committed exactly once: each row counted twice, not three or four times.
  auto rows = Ok(setup->Query("SELECT k, n FROM t_pair ORDER BY k"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], "2");
  EXPECT_EQ(rows[1][1], "2");
}

TEST_F(MariaDbTest, ALostConnectionIsOpenedAgainAndTheTransactionRunsAgain) {
  Session session(Url(), {});
  auto killer = Connect();
  ASSERT_TRUE(killer);
  Ok(killer->Exec("DROP TABLE IF EXISTS t_once"));
  Ok(killer->Exec("CREATE TABLE t_once (k VARCHAR(16) PRIMARY KEY)"));
  auto first = session.Get();
  ASSERT_TRUE(std::holds_alternative<Connection*>(first));
  auto id = Ok(std::get<Connection*>(first)->Query("SELECT CONNECTION_ID()"));
  Ok(killer->Exec("KILL CONNECTION " + *id[0][0]));
  auto e = session.Transaction([](Connection& c) -> std::optional<SqlError> {
    auto r = c.Exec("INSERT INTO t_once VALUES (?)", {std::string("k1")});
    if (auto* err = std::get_if<SqlError>(&r)) return *err;
    return std::nullopt;
  });
  EXPECT_FALSE(e.has_value()) << (e ? e->message : "");
  EXPECT_EQ(session.retries(), 1);
  EXPECT_EQ(Ok(killer->Query("SELECT k FROM t_once")).size(), 1u);
  // An error that is not retryable ends it at once, rolled back.
  auto dup = session.Transaction([](Connection& c) -> std::optional<SqlError> {
    c.Exec("INSERT INTO t_once VALUES (?)", {std::string("k2")});
    auto r = c.Exec("INSERT INTO t_once VALUES (?)", {std::string("k1")});
    if (auto* err = std::get_if<SqlError>(&r)) return *err;
    return std::nullopt;
  });
  ASSERT_TRUE(dup.has_value());
  EXPECT_EQ(dup->number, 1062u);
  EXPECT_EQ(session.retries(), 1);
  EXPECT_EQ(Ok(killer->Query("SELECT k FROM t_once")).size(), 1u);  // k2 rolled back
}

// --- the schema ----------------------------------------------------------------------------

void DropSchema(Connection& c) {
  for (const char* t : {"vmoves", "notifications", "hosts", "failover_segments",
                        "schema_migrations", "schema_lease"}) {
    auto r = c.Exec(std::string("DROP TABLE IF EXISTS ") + t);
    EXPECT_FALSE(std::holds_alternative<SqlError>(r)) << t;
  }
}

TEST_F(MariaDbTest, MigrationsRunOnceAndAgainChangeNothing) {
  auto c = Connect();
  ASSERT_TRUE(c);
  DropSchema(*c);
  Session s(Url(), {});
  const int64_t latest = int64_t(Migrations().size());
  auto found = Migrate(s, {.holder = "test"});
  ASSERT_TRUE(found) << found.error().ToString();
  EXPECT_EQ(*found, 0);
  EXPECT_EQ(SchemaVersion(s).value_or(-1), latest);
  auto tables = Ok(c->Query(
      "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND "
      "table_name IN ('failover_segments', 'hosts', 'notifications', 'vmoves')"));
  EXPECT_EQ(tables[0][0], "4");
  auto again = Migrate(s, {.holder = "test"});
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, latest);
  EXPECT_EQ(Ok(c->Query("SELECT COUNT(*) FROM schema_migrations"))[0][0], std::to_string(latest));
  // The lease was let go.
  EXPECT_FALSE(Ok(c->Query("SELECT holder FROM schema_lease"))[0][0].has_value());
}

TEST_F(MariaDbTest, ReplicasStartingTogetherMigrateOnce) {
  auto c = Connect();
  ASSERT_TRUE(c);
  DropSchema(*c);
  std::vector<std::thread> replicas;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    replicas.emplace_back([&, i] {
      Session s(Url(), {});
      auto r = Migrate(s, {.holder = "replica" + std::to_string(i)});
      EXPECT_TRUE(r) << r.error().ToString();
      ok += r.has_value();
    });
  }
  for (auto& t : replicas) t.join();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(Ok(c->Query("SELECT COUNT(*) FROM schema_migrations"))[0][0],
            std::to_string(Migrations().size()));
}

TEST_F(MariaDbTest, ANewerSchemaOrAHeldLeaseIsSaid) {
  auto c = Connect();
  ASSERT_TRUE(c);
  DropSchema(*c);
  Session s(Url(), {});
  ASSERT_TRUE(Migrate(s, {.holder = "test"}));
  // Another replica holds the lease while the schema is behind: waited for, then said.
  Ok(c->Exec("DELETE FROM schema_migrations"));
  Ok(c->Exec("UPDATE schema_lease SET holder = 'other', expires_at = NOW(6) + INTERVAL 60 SECOND"));
  auto held = Migrate(s, {.holder = "test", .wait_micros = 500'000});
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(held.error().message().find("another replica"), std::string::npos);
  // A holder that died: its lease expires and the schema is completed (idempotent DDL).
  Ok(c->Exec("UPDATE schema_lease SET holder = 'dead', expires_at = NOW(6) - INTERVAL 1 SECOND"));
  auto taken = Migrate(s, {.holder = "test"});
  ASSERT_TRUE(taken) << taken.error().ToString();
  EXPECT_EQ(SchemaVersion(s).value_or(-1), int64_t(Migrations().size()));
  // A database from a newer warden is refused.
  Ok(c->Exec("INSERT INTO schema_migrations VALUES (999, 0, 'future')"));
  auto newer = Migrate(s, {.holder = "test"});
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(newer.error().message().find("newer than this warden"), std::string::npos);
  DropSchema(*c);
}

// --- on a 3-node Galera cluster ----------------------------------------------------------------

class GaleraTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { lab_.Start("galera", /*galera=*/true); }
  static void TearDownTestSuite() { lab_.Stop(); }
  void SetUp() override {
    if (LabScripts().empty()) GTEST_SKIP() << "no ../shared/galera-lab here";
    ASSERT_TRUE(lab_.error.empty()) << "the cluster did not start:\n" << lab_.error;
    ASSERT_EQ(lab_.env["LAB_NODES"], "3");
  }
  static inline Lab lab_;
};

// Row locks are node-local in Galera: only a compare-and-set UPDATE decides across nodes. Three
// replicas, each on its own node, start at once: the schema is migrated once, every node has
// it, and a lease raced for from the three nodes has exactly one holder each round.
TEST_F(GaleraTest, OneMigrationAndOneLeaseHolderAcrossNodes) {
  {
    Session s(lab_.Url(1), {});
    auto c = s.Get();
    ASSERT_TRUE(std::holds_alternative<Connection*>(c));
    DropSchema(*std::get<Connection*>(c));
  }
  std::vector<std::thread> replicas;
  std::atomic<int> ok{0};
  for (int node = 1; node <= 3; ++node) {
    replicas.emplace_back([&, node] {
      Session s(lab_.Url(node), {});
      auto r = Migrate(s, {.holder = "replica-on-node" + std::to_string(node)});
      EXPECT_TRUE(r) << node << ": " << r.error().ToString();
      ok += r.has_value();
    });
  }
  for (auto& t : replicas) t.join();
  EXPECT_EQ(ok.load(), 3);
  for (int node = 1; node <= 3; ++node) {  // causal reads: each node sees every migration
    Session s(lab_.Url(node), {});
    EXPECT_EQ(SchemaVersion(s).value_or(-1), int64_t(Migrations().size())) << node;
    auto c = std::get<Connection*>(s.Get());
    auto n = c->Query("SELECT COUNT(*) FROM schema_migrations");
    ASSERT_TRUE(std::holds_alternative<std::vector<Row>>(n));
    EXPECT_EQ(std::get<std::vector<Row>>(n)[0][0], std::to_string(Migrations().size())) << node;
  }

  // The lease: a round per expiry; each round exactly one of the three nodes' claims wins.
  Session setup(lab_.Url(1), {});
  ASSERT_FALSE(setup.Transaction([](Connection& c) -> std::optional<SqlError> {
    for (const char* sql : {"DROP TABLE IF EXISTS t_leader",
                            "CREATE TABLE t_leader (name VARCHAR(16) PRIMARY KEY, holder "
                            "VARCHAR(16), expires_at DATETIME(6) NOT NULL) ENGINE=InnoDB",
                            "INSERT INTO t_leader VALUES ('leader', NULL, NOW(6))"}) {
      auto r = c.Exec(sql);
      if (auto* e = std::get_if<SqlError>(&r)) return *e;
    }
    return std::nullopt;
  }).has_value());
  for (int round = 0; round < 10; ++round) {
    ASSERT_FALSE(setup.Transaction([](Connection& c) -> std::optional<SqlError> {
      auto r = c.Exec("UPDATE t_leader SET holder = NULL, expires_at = NOW(6) - INTERVAL 1 SECOND");
      if (auto* e = std::get_if<SqlError>(&r)) return *e;
      return std::nullopt;
    }).has_value());
    std::atomic<int> winners{0};
    std::vector<std::thread> racers;
    for (int node = 1; node <= 3; ++node) {
      racers.emplace_back([&, node] {
        Session s(lab_.Url(node), {});
        int64_t won = 0;
        auto e = s.Transaction([&](Connection& c) -> std::optional<SqlError> {
          auto r = c.Exec(
              "UPDATE t_leader SET holder = ?, expires_at = NOW(6) + INTERVAL 30 SECOND "
              "WHERE name = 'leader' AND (holder IS NULL OR expires_at < NOW(6))",
              {std::string("n") + std::to_string(node)});
          if (auto* err = std::get_if<SqlError>(&r)) return *err;
          won = std::get<int64_t>(r);
          return std::nullopt;
        });
        EXPECT_FALSE(e.has_value()) << (e ? e->message : "");
        winners += int(won);
      });
    }
    for (auto& t : racers) t.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

}  // namespace
}  // namespace warden::store::mariadb
