// `warden db version` and `warden db upgrade`: the schema of [database] connection, for
// operators who migrate by hand (a server migrates by itself when it starts).
#pragma once

#include <string>

namespace warden::server {

struct DbFlags {
  std::string config_path;
};

// Prints the database's schema version and this warden's. Exit 0 up to date, 3 when
// migrations are due (`warden db upgrade`), 1 when the database is newer than this warden or
// cannot be read, 2 for a bad configuration.
int RunDbVersion(const DbFlags& flags);

// Applies the migrations this warden has and the database lacks. Exit 0 when the schema is
// current, 1 when it cannot be (the reason is printed), 2 for a bad configuration.
int RunDbUpgrade(const DbFlags& flags);

}  // namespace warden::server
