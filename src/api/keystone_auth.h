// Authentication by Keystone tokens, as keystonemiddleware's auth_token does for Masakari.
//
// A presented token (X-Auth-Token or "Authorization: Bearer") is validated by the injected
// TokenValidator (in production the Keystone client's GET /v3/auth/tokens with Warden's own
// service token). What Keystone said is cached, keyed by the token's SHA-256 (tokens themselves
// are never kept, logged or put in messages):
//  - a valid token for `cache_seconds` (keystonemiddleware's token_cache_time), never past the
//    token's own expires_at;
//  - an unknown, revoked or expired token for `negative_cache_seconds`, so that a client
//    repeating a bad token does not reach Keystone on every request;
//  - each kind in its own LRU of bounded size, so a flood of bad tokens cannot evict the good.
// One validation per token is in flight at a time (callers presenting the same new token wait
// for the first one's answer), and at most `max_concurrent_validations` altogether.
//
// Roles map to Warden's two: any of `admin_roles` → admin (everything), else any of
// `reader_roles` → reader (GET only); a valid token with neither is refused (403). Keystone
// unreachable → Unavailable (503): never a 401, never let in.
//
// Thread-safe: API worker threads call Authenticate concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/auth.h"
#include "core/clock.h"
#include "core/error.h"

namespace warden::api {

// What Keystone says of a valid token.
struct ValidatedToken {
  std::string user_id;
  std::string user_name;
  std::string project_id;
  std::vector<std::string> roles;
  WallMicros expires_at = 0;  // 0: unknown (then only the cache time bounds the entry)
};

// Validates a token with Keystone. NotFound or Unauthenticated: the token is bad (unknown,
// revoked, expired); any other error: Keystone could not say (unreachable, overloaded, Warden's
// own credentials refused). Blocks the caller; must be thread-safe.
using TokenValidator = std::function<Result<ValidatedToken>(const std::string& token)>;

struct KeystoneAuthOptions {
  // keystonemiddleware's www_authenticate_uri: sent in WWW-Authenticate with every 401.
  std::string www_authenticate_uri;
  int64_t cache_seconds = 300;          // token_cache_time; 0: validate every request
  int64_t negative_cache_seconds = 10;  // bad tokens; 0: not cached
  size_t max_cached_tokens = 10000;     // each of the two caches
  int max_concurrent_validations = 8;
  // How long a request waits for a validation slot or another request's validation of the
  // same token before it is answered 503.
  int64_t wait_micros = 30'000'000;
  std::vector<std::string> admin_roles = {"admin"};
  std::vector<std::string> reader_roles = {"reader"};
  // Tokens longer than this are refused without asking Keystone (Fernet tokens are ~200
  // characters, JWS ones under 1 KiB).
  size_t max_token_bytes = 8192;
};

// Exchanges a person's password for a Keystone token (the Keystone client's Login): the
// dashboard's sign-in. Blocks the caller; must be thread-safe.
using PasswordExchanger = std::function<Result<IssuedToken>(const PasswordSignIn&)>;

// Parses "a, b ,c" into {"a", "b", "c"}; empty items are dropped.
std::vector<std::string> SplitRoleList(std::string_view list);

// REQUIRES: validator is callable; clock outlives the authenticator. `exchanger` may be null:
// then the dashboard signs in with tokens only.
std::unique_ptr<Authenticator> MakeKeystoneAuthenticator(TokenValidator validator,
                                                         const Clock& clock,
                                                         KeystoneAuthOptions options,
                                                         PasswordExchanger exchanger = nullptr);

}  // namespace warden::api
