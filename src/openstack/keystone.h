// A Keystone v3 client: Warden's own token (password or application credential), the service
// catalog that comes with it, and validation of tokens other callers present.
//
// One token is kept and shared by every caller; it is renewed before it expires (a quarter of
// its lifetime, at most five minutes, ahead) and after a 401 with it (InvalidateToken), never
// per call. Credentials and tokens are never put into error messages.
//
// Thread-safe. Calls block the caller (each exchange at most `timeout_seconds`); callers on an
// event loop run them on a pool (net::HttpPool).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "net/http_client.h"

namespace warden::openstack {

struct KeystoneAuth {
  std::string auth_url;                // http://keystone:5000/v3 (a missing /v3 is added)
  std::string auth_type = "password";  // password | v3applicationcredential
  std::string username;
  std::string password;
  std::string user_domain_name = "Default";
  std::string project_name;
  std::string project_domain_name = "Default";
  std::string application_credential_id;
  std::string application_credential_name;  // with username + user_domain_name, if no id
  std::string application_credential_secret;
  std::string region_name;         // empty: any region
  std::string interface = "public";  // catalog interface: public | internal | admin
  net::TlsOptions tls;
  double timeout_seconds = 30;
};

// Checks the combination of fields; the message names the missing or wrong one (as the
// config key's suffix: "username", "auth_url" ...).
Result<void> ValidateKeystoneAuth(const KeystoneAuth& auth);

struct TokenInfo {
  std::string user_id;
  std::string user_name;
  std::string project_id;
  std::string project_name;
  std::vector<std::string> roles;
  WallMicros expires_at = 0;
};

// A person's password sign-in, scoped to a project (the dashboard's Keystone sign-in).
struct UserLogin {
  std::string username;
  std::string password;
  std::string user_domain_name = "Default";
  std::string project_name;
  std::string project_domain_name = "Default";
};

struct UserToken {
  std::string token;
  WallMicros expires_at = 0;  // Keystone's clock; 0 when it did not say
};

class KeystoneClient {
 public:
  KeystoneClient(KeystoneAuth auth, const Clock& clock);
  ~KeystoneClient();

  // Warden's token, issued when there is none or it is about to expire. Unauthenticated when
  // Keystone refuses the credentials, Unavailable/DeadlineExceeded when it cannot be reached.
  // If a renewal fails while the old token is still valid, the old one is returned; callers
  // that queued behind a failed issuance get its error instead of trying again each.
  Result<std::string> Token();
  // Drops `token` if it is the cached one (a service answered 401 with it).
  void InvalidateToken(const std::string& token);
  // The URL of `service_type` (compute, placement ...) for the configured interface and
  // region, from the catalog of the current token. FailedPrecondition when the catalog has
  // none (a configuration problem).
  Result<std::string> Endpoint(const std::string& service_type);
  // What Keystone says of a token someone presented: Unauthenticated when it is unknown,
  // revoked or expired; Unavailable when Keystone cannot be reached.
  Result<TokenInfo> Validate(const std::string& subject_token);
  // A project-scoped token for a person: Unauthenticated when Keystone refuses the name,
  // password or project (which of them it does not say, nor does this); Unavailable when it
  // cannot be reached. Warden's own token is not involved.
  Result<UserToken> Login(const UserLogin& login);

  int64_t tokens_issued() const { return tokens_issued_.load(); }
  const std::string& auth_url() const { return auth_url_; }

 private:
  struct CatalogEntry {
    std::string type;
    std::string interface;
    std::string region;
    std::string url;
  };
  Result<void> Issue();  // REQUIRES: issue_mu_ held
  Result<net::HttpResponse> Send(const net::HttpRequest& request);

  const KeystoneAuth auth_;
  const std::string auth_url_;  // normalised, ends in /v3
  const Clock& clock_;
  std::atomic<int64_t> tokens_issued_{0};

  std::mutex issue_mu_;  // one issuance at a time; others wait for its token

  std::mutex mu_;
  std::string token_;                 // guarded by mu_
  WallMicros renew_at_ = 0;           // guarded by mu_; our clock
  WallMicros expires_at_ = 0;         // guarded by mu_; our clock
  std::atomic<int64_t> issue_failures_{0};
  std::string last_issue_error_;      // guarded by mu_
  std::vector<CatalogEntry> catalog_;  // guarded by mu_
  std::vector<std::unique_ptr<net::HttpClient>> idle_clients_;  // guarded by mu_
};

}  // namespace warden::openstack
