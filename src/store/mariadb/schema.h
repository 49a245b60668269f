// The store's tables on MariaDB, as versioned migrations, and the one way they are applied:
// once, by whichever replica gets the schema lease first, while the others wait for it.
//
// Galera does not replicate GET_LOCK() or row locks, so the lease is a row claimed with a
// compare-and-set UPDATE whose affected-rows count says who holds it (the database's clock
// decides expiry, not the replicas'). DDL commits by itself in MariaDB, so every migration
// statement is idempotent (IF [NOT] EXISTS): a replica that dies half-way leaves a schema the
// next holder completes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/mariadb/connection.h"

namespace warden::store::mariadb {

// Each migration is a list of statements; version N is the Nth.
const std::vector<std::vector<std::string>>& Migrations();

struct MigrateOptions {
  std::string holder;              // who migrates (host:pid), shown to the others in the lease
  int lease_seconds = 60;          // a holder that dies frees the schema after this long
  int64_t wait_micros = 120'000'000;  // how long to wait for another replica's migration
};

// Brings the schema to the latest version; returns the version it found. FailedPrecondition
// when the database is newer than this warden; Unavailable when another replica held the
// lease past wait_micros, or on a database error.
Result<int64_t> Migrate(Session& session, const MigrateOptions& options);

// The schema's version now (0 before any migration). Reads only.
Result<int64_t> SchemaVersion(Session& session);

}  // namespace warden::store::mariadb
