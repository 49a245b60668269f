#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "store/store_conformance.h"

namespace warden::store {
namespace {

std::string NewSqlitePath() {
  static std::atomic<int> n{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("warden-store-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / ("db" + std::to_string(n++) + ".sqlite")).string();
}

std::unique_ptr<Store> OpenSqlite(const std::string& path) {
  auto s = OpenSqliteStore({.path = path});
  EXPECT_TRUE(s.has_value()) << s.error().ToString();
  return s ? std::move(*s) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         testing::Values(StoreBackend{"Sqlite", NewSqlitePath, OpenSqlite}),
                         [](const auto& info) { return info.param.name; });

TEST(SqliteStore, RefusesMemoryAndEmptyPaths) {
  EXPECT_EQ(OpenSqliteStore({.path = ""}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(OpenSqliteStore({.path = ":memory:"}).error().code(), ErrorCode::kInvalidArgument);
}

TEST(SqliteStore, UnwritableLocationIsUnavailable) {
  auto s = OpenSqliteStore({.path = "/nonexistent-dir/warden.db"});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message().find("/nonexistent-dir/warden.db"), std::string::npos);
}

TEST(SqliteStore, RefusesADatabaseFromANewerWarden) {
  std::string path = NewSqlitePath();
  { ASSERT_TRUE(OpenSqliteStore({.path = path}).has_value()); }
  {
    auto s = OpenSqlite(path);
    // Pretend a future version migrated this file.
    ASSERT_TRUE(s->Write([](WriteTx&) -> Result<void> { return {}; }));
  }
  std::string cmd = "sqlite3 " + path + " \"INSERT INTO schema_migrations VALUES (999, 0)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto s = OpenSqliteStore({.path = path});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace warden::store
