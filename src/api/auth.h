// Who is calling: static tokens from a file, or no authentication on loopback.
//
// The token file holds one token per line as `<sha256-hex> <name> <role>`; blank lines and
// lines starting with '#' are ignored. Only hashes are stored, so the file is not a secret
// store; presented tokens are hashed and compared in constant time. Tokens are never logged.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "core/error.h"

namespace warden::api {

enum class Role { kReader, kAdmin };
std::string_view ToString(Role r);
std::optional<Role> ParseRole(std::string_view s);

struct Principal {
  std::string name;
  Role role = Role::kReader;
};

// Counters of an authenticator that asks another service (Keystone), for /metrics.
struct AuthStats {
  bool remote = false;              // false: nothing below applies
  int64_t validations_valid = 0;    // answers from the remote service, by verdict
  int64_t validations_invalid = 0;  // unknown, revoked or expired tokens
  int64_t validations_failed = 0;   // the service could not be asked or could not say
  int64_t cache_hits = 0;           // requests answered from the cache of valid tokens
  int64_t negative_cache_hits = 0;  // ... and of bad tokens
  int64_t cached_tokens = 0;
  int64_t cached_invalid_tokens = 0;
};

// A person's user name and password for a project, exchanged for a token by the dashboard's
// sign-in (with Keystone).
struct PasswordSignIn {
  std::string username;
  std::string password;
  std::string project;
  std::string user_domain = "Default";
  std::string project_domain = "Default";
};

struct IssuedToken {
  std::string token;
  int64_t expires_at = 0;  // wall-clock microseconds; 0 when unknown
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // How a person signs in: "password" (SignIn exchanges it for a token), "token" (pastes one).
  // Empty: nobody needs to (noauth).
  virtual std::vector<std::string> SignInMethods() const { return {"token"}; }
  // Exchanges a password for a token: Unauthenticated when refused, Unavailable when the
  // service that decides cannot be reached, FailedPrecondition where passwords are not taken.
  // May block.
  virtual Result<IssuedToken> SignIn(const PasswordSignIn&) const {
    return FailedPrecondition(
        "Signing in with a password needs [api] auth_strategy = keystone; sign in with a token.");
  }
  // Unauthenticated when no or a wrong token is presented; PermissionDenied when the token is
  // good but grants no role Warden knows; Unavailable when the token could not be checked.
  // May block (a call to Keystone): run it on a worker thread.
  virtual Result<Principal> Authenticate(const HttpRequest& request) const = 0;
  // The same answer without blocking, or nullopt when it needs a call to another service.
  virtual std::optional<Result<Principal>> AuthenticateWithoutBlocking(
      const HttpRequest& request) const {
    return Authenticate(request);
  }
  // The WWW-Authenticate header's value for 401 answers, or "" for none.
  virtual std::string Challenge() const { return ""; }
  virtual AuthStats Stats() const { return {}; }
};

// Every caller is an admin named "noauth".
std::unique_ptr<Authenticator> MakeNoAuthAuthenticator();

// Reads the token file; errors name the file and line.
Result<std::unique_ptr<Authenticator>> MakeTokenAuthenticator(const std::string& token_file);

// The token presented in X-Auth-Token or "Authorization: Bearer", if any.
std::optional<std::string> PresentedToken(const HttpRequest& request);

// A new random token ("wdn_" and 43 URL-safe base64 characters: 256 bits), or an error if
// the random number generator fails (never a weak token).
Result<std::string> NewToken();

}  // namespace warden::api
