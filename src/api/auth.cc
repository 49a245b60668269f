#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fstream>
#include <sstream>

#include "core/digest.h"

namespace warden::api {
namespace {

struct TokenEntry {
  std::string hash_hex;
  Principal principal;
};

class NoAuthAuthenticator final : public Authenticator {
 public:
  Result<Principal> Authenticate(const HttpRequest&) const override {
    return Principal{"noauth", Role::kAdmin};
  }
  std::vector<std::string> SignInMethods() const override { return {}; }
};

class TokenAuthenticator final : public Authenticator {
 public:
  explicit TokenAuthenticator(std::vector<TokenEntry> entries) : entries_(std::move(entries)) {}

  Result<Principal> Authenticate(const HttpRequest& request) const override {
    auto token = PresentedToken(request);
    if (!token) {
      return MakeError(ErrorCode::kUnauthenticated,
                       "Authentication required: send a token in X-Auth-Token or "
                       "'Authorization: Bearer'.");
    }
    std::string hash = Sha256Hex(*token);
    const Principal* match = nullptr;
    // Compare against every entry so the time taken does not depend on which one matched.
    for (const TokenEntry& e : entries_) {
      if (e.hash_hex.size() == hash.size() &&
          CRYPTO_memcmp(e.hash_hex.data(), hash.data(), hash.size()) == 0) {
        match = &e.principal;
      }
    }
    if (match == nullptr) return MakeError(ErrorCode::kUnauthenticated, "Invalid token.");
    return *match;
  }

 private:
  const std::vector<TokenEntry> entries_;
};

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string_view ToString(Role r) { return r == Role::kAdmin ? "admin" : "reader"; }

std::optional<Role> ParseRole(std::string_view s) {
  if (s == "admin") return Role::kAdmin;
  if (s == "reader") return Role::kReader;
  return std::nullopt;
}

std::unique_ptr<Authenticator> MakeNoAuthAuthenticator() {
  return std::make_unique<NoAuthAuthenticator>();
}

Result<std::unique_ptr<Authenticator>> MakeTokenAuthenticator(const std::string& token_file) {
  std::ifstream in(token_file);
  if (!in) return InvalidArgument("cannot read token file " + token_file);
  std::vector<TokenEntry> entries;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::istringstream fields(line);
    std::string hash, name, role, extra;
    if (!(fields >> hash) || hash[0] == '#') continue;
    std::string where = token_file + ":" + std::to_string(lineno) + ": ";
    if (!(fields >> name >> role) || (fields >> extra)) {
      return InvalidArgument(where + "expected '<sha256-hex> <name> <role>'");
    }
    if (hash.size() != 64 || !IsLowerHex(hash)) {
      return InvalidArgument(where + "the first field must be a lower-case hex SHA-256");
    }
    auto r = ParseRole(role);
    if (!r) return InvalidArgument(where + "role must be admin or reader, not '" + role + "'");
    entries.push_back(TokenEntry{hash, Principal{name, *r}});
  }
  if (entries.empty()) return InvalidArgument("token file " + token_file + " holds no tokens");
  return std::unique_ptr<Authenticator>(new TokenAuthenticator(std::move(entries)));
}

std::optional<std::string> PresentedToken(const HttpRequest& request) {
  if (const std::string* t = request.Header("x-auth-token"); t != nullptr && !t->empty()) {
    return *t;
  }
  if (const std::string* a = request.Header("authorization"); a != nullptr) {
    std::string_view v = *a;
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
      v.remove_prefix(7);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (!v.empty()) return std::string(v);
    }
  }
  return std::nullopt;
}

Result<std::string> NewToken() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    return Internal("the system's random number generator failed; no token was made");
  }
  static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "wdn_";
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out += kB64[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += kB64[(acc << (6 - bits)) & 63];
  return out;
}

}  // namespace warden::api
