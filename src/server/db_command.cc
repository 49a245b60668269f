#include "server/db_command.h"

#include <cstdio>
#include <optional>

#include "server/config.h"
#include "server/runtime.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::server {
namespace {

// The configuration's database, or an exit code (2) after saying why.
const store::DatabaseConfig* Database(const DbFlags& flags, Config* config) {
  if (flags.config_path.empty()) {
    std::fprintf(stderr, "warden: --config FILE is required\n");
    return nullptr;
  }
  auto c = LoadConfig(flags.config_path);
  if (!c) {
    std::fprintf(stderr, "warden: configuration error: %s\n", c.error().message().c_str());
    return nullptr;
  }
  *config = std::move(*c);
  return &config->database;
}

// The database's schema version, or nullopt after saying why it cannot be read.
std::optional<store::SchemaVersion> VersionOf(const store::DatabaseConfig& db) {
  auto v = store::ReadSqliteSchemaVersion(db.sqlite_path);
  if (!v) {
    std::fprintf(stderr, "warden: %s\n", v.error().message().c_str());
    return std::nullopt;
  }
  return *v;
}

}  // namespace

int RunDbVersion(const DbFlags& flags) {
  Config config;
  const store::DatabaseConfig* db = Database(flags, &config);
  if (db == nullptr) return 2;
  auto v = VersionOf(*db);
  if (!v) return 1;
  std::printf("database: %s\n", db->connection.c_str());
  std::printf("schema version: %lld%s\nthis warden's: %lld\n", static_cast<long long>(v->current),
              v->exists ? "" : " (no database yet)", static_cast<long long>(v->latest));
  if (v->current > v->latest) {
    std::printf("The database is newer than this warden: upgrade warden, not the database.\n");
    return 1;
  }
  if (v->current < v->latest) {
    std::printf("%lld migration(s) to apply: warden db upgrade --config %s\n",
                static_cast<long long>(v->latest - v->current), flags.config_path.c_str());
    return 3;
  }
  std::printf("Up to date.\n");
  return 0;
}

int RunDbUpgrade(const DbFlags& flags) {
  Config config;
  const store::DatabaseConfig* db = Database(flags, &config);
  if (db == nullptr) return 2;
  auto before = VersionOf(*db);
  if (!before) return 1;
  MakeDatabaseDirectory(config);
  // Opening the store applies what is missing, each migration in its own transaction.
  auto opened = store::OpenSqliteStore({.path = db->sqlite_path});
  if (!opened) {
    std::fprintf(stderr, "warden: cannot upgrade %s: %s\n", db->connection.c_str(),
                 opened.error().message().c_str());
    return 1;
  }
  opened->reset();
  std::printf("database: %s\nschema version: %lld (was %lld)\n", db->connection.c_str(),
              static_cast<long long>(before->latest), static_cast<long long>(before->current));
  return 0;
}

}  // namespace warden::server
