// Who is calling: static tokens from a file, or no authentication on loopback.
//
// The token file holds one token per line as `<sha256-hex> <name> <role>`; blank lines and
// lines starting with '#' are ignored. Only hashes are stored, so the file is not a secret
// store; presented tokens are hashed and compared in constant time. Tokens are never logged.
#pragma once

#include <memory>
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

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Unauthenticated when no or a wrong token is presented.
  virtual Result<Principal> Authenticate(const HttpRequest& request) const = 0;
};

// Every caller is an admin named "noauth".
std::unique_ptr<Authenticator> MakeNoAuthAuthenticator();

// Reads the token file; errors name the file and line.
Result<std::unique_ptr<Authenticator>> MakeTokenAuthenticator(const std::string& token_file);

// The token presented in X-Auth-Token or "Authorization: Bearer", if any.
std::optional<std::string> PresentedToken(const HttpRequest& request);

// Lower-case hex SHA-256 of s.
std::string Sha256Hex(std::string_view s);

// A new random token ("wdn_" and 43 URL-safe base64 characters: 256 bits), or an error if
// the random number generator fails (never a weak token).
Result<std::string> NewToken();

}  // namespace warden::api
