// A BMC's user name and password, read from where the configuration points — never from the
// configuration itself, so that neither the config file nor --check-config holds a secret.
//
//   file:/etc/warden/bmc/compute1   lines "username = admin" and "password = ..." ('#' comments)
//   env:BMC_COMPUTE1                BMC_COMPUTE1_USERNAME and BMC_COMPUTE1_PASSWORD
//
// Read once at start-up; an unreadable file or a missing variable is an error naming it, never
// showing the password.
#pragma once

#include <functional>
#include <string>

#include "core/error.h"

namespace warden::drivers {

struct BmcCredentials {
  std::string username;
  std::string password;  // secret: never logged, never in an error message
};

// `getenv` looks up environment variables (tests pass their own). Errors are InvalidArgument.
Result<BmcCredentials> LoadBmcCredentials(
    const std::string& reference,
    const std::function<const char*(const char*)>& getenv = nullptr);

}  // namespace warden::drivers
