#include "openstack/keystone.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/time.h"
#include "openstack/json_fields.h"

namespace warden::openstack {
namespace {

using nlohmann::json;

std::string NormaliseAuthUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.ends_with("/v3")) url += "/v3";
  return url;
}

// "publicURL" (Keystone v2 and some configs) → "public".
std::string NormaliseInterface(std::string i) {
  if (i.ends_with("URL")) i.resize(i.size() - 3);
  return i;
}

// Keystone's {"error": {"message": ...}}, or the start of the body.
std::string KeystoneMessage(const net::HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].value("message", json()).is_string()) {
    return j["error"]["message"].get<std::string>();
  }
  return r.body.substr(0, 200);
}

}  // namespace

Result<void> ValidateKeystoneAuth(const KeystoneAuth& a) {
  if (a.auth_url.empty()) return InvalidArgument("auth_url is required");
  if (!a.auth_url.starts_with("http://") && !a.auth_url.starts_with("https://")) {
    return InvalidArgument("auth_url '" + a.auth_url + "' is not an http(s) URL");
  }
  if (a.auth_type == "password") {
    if (a.username.empty()) return InvalidArgument("username is required for auth_type password");
    if (a.password.empty()) return InvalidArgument("password is required for auth_type password");
    if (a.project_name.empty()) {
      return InvalidArgument("project_name is required for auth_type password");
    }
  } else if (a.auth_type == "v3applicationcredential") {
    if (a.application_credential_secret.empty()) {
      return InvalidArgument("application_credential_secret is required");
    }
    if (a.application_credential_id.empty() &&
        (a.application_credential_name.empty() || a.username.empty())) {
      return InvalidArgument(
          "application_credential_id (or application_credential_name with username) is required");
    }
  } else {
    return InvalidArgument("auth_type '" + a.auth_type +
                           "' is not one of password, v3applicationcredential");
  }
  const std::string i = NormaliseInterface(a.interface);
  if (i != "public" && i != "internal" && i != "admin") {
    return InvalidArgument("interface '" + a.interface + "' is not one of public, internal, admin");
  }
  if (a.timeout_seconds <= 0) return InvalidArgument("timeout must be positive");
  return {};
}

KeystoneClient::KeystoneClient(KeystoneAuth auth, const Clock& clock)
    : auth_(std::move(auth)), auth_url_(NormaliseAuthUrl(auth_.auth_url)), clock_(clock) {}

KeystoneClient::~KeystoneClient() = default;

Result<net::HttpResponse> KeystoneClient::Send(const net::HttpRequest& request) {
  std::unique_ptr<net::HttpClient> client;
  {
    std::lock_guard lock(mu_);
    if (!idle_clients_.empty()) {
      client = std::move(idle_clients_.back());
      idle_clients_.pop_back();
    }
  }
  if (!client) client = std::make_unique<net::HttpClient>(auth_.tls);
  auto r = client->Send(request);
  std::lock_guard lock(mu_);
  if (idle_clients_.size() < 8) idle_clients_.push_back(std::move(client));
  return r;
}

namespace {

// POST /v3/auth/tokens's body for a password, scoped to a project.
json PasswordBody(const UserLogin& l) {
  return {{"auth",
           {{"identity",
             {{"methods", json::array({"password"})},
              {"password",
               {{"user",
                 {{"name", l.username},
                  {"domain", {{"name", l.user_domain_name}}},
                  {"password", l.password}}}}}}},
            {"scope",
             {{"project",
               {{"name", l.project_name},
                {"domain", {{"name", l.project_domain_name}}}}}}}}}};
}

}  // namespace

Result<UserToken> KeystoneClient::Login(const UserLogin& login) {
  net::HttpRequest req{.method = "POST",
                       .url = auth_url_ + "/auth/tokens?nocatalog",
                       .headers = {{"Content-Type", "application/json"},
                                   {"Accept", "application/json"}},
                       .body = PasswordBody(login).dump(),
                       .timeout_micros = int64_t(auth_.timeout_seconds * 1e6)};
  auto r = Send(req);
  if (!r) return std::unexpected(r.error());
  if (r->status == 400 || r->status == 401 || r->status == 403 || r->status == 404) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "Keystone refused the user name, password or project.");
  }
  if (r->status >= 500) {
    return Unavailable("Keystone at " + auth_url_ + " answered " + std::to_string(r->status) +
                       ": " + KeystoneMessage(*r));
  }
  const std::string token = r->Header("x-subject-token");
  if ((r->status != 201 && r->status != 200) || token.empty()) {
    return Internal("Keystone at " + auth_url_ + " answered " + std::to_string(r->status) +
                    " to a sign-in without a token");
  }
  json j = json::parse(r->body, nullptr, false);
  UserToken out{.token = token};
  if (j.is_object() && j.contains("token") && j["token"].is_object()) {
    out.expires_at = ParseIsoTime(StringAt(j["token"], "expires_at")).value_or(0);
  }
  return out;
}

Result<void> KeystoneClient::Issue() {
  json identity;
  json body;
  if (auth_.auth_type == "v3applicationcredential") {
    json cred = {{"secret", auth_.application_credential_secret}};
    if (!auth_.application_credential_id.empty()) {
      cred["id"] = auth_.application_credential_id;
    } else {
      cred["name"] = auth_.application_credential_name;
      cred["user"] = {{"name", auth_.username}, {"domain", {{"name", auth_.user_domain_name}}}};
    }
    body = {{"auth",
             {{"identity",
               {{"methods", json::array({"application_credential"})},
                {"application_credential", cred}}}}}};
  } else {
    body = PasswordBody({.username = auth_.username,
                         .password = auth_.password,
                         .user_domain_name = auth_.user_domain_name,
                         .project_name = auth_.project_name,
                         .project_domain_name = auth_.project_domain_name});
  }
  net::HttpRequest req{.method = "POST",
                       .url = auth_url_ + "/auth/tokens",
                       .headers = {{"Content-Type", "application/json"},
                                   {"Accept", "application/json"}},
                       .body = body.dump(),
                       .timeout_micros = int64_t(auth_.timeout_seconds * 1e6)};
  auto r = Send(req);
  if (!r) return std::unexpected(r.error());
  if (r->status == 401 || r->status == 403) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "Keystone at " + auth_url_ + " refused Warden's credentials (" +
                         std::to_string(r->status) + "): " + KeystoneMessage(*r));
  }
  if (r->status >= 500) {
    return Unavailable("Keystone at " + auth_url_ + " answered " + std::to_string(r->status) +
                       ": " + KeystoneMessage(*r));
  }
  if (r->status != 201 && r->status != 200) {
    return Internal("Keystone at " + auth_url_ + " answered " + std::to_string(r->status) +
                    " to a token request: " + KeystoneMessage(*r));
  }
  const std::string token = r->Header("x-subject-token");
  json j = json::parse(r->body, nullptr, false);
  if (token.empty() || !j.is_object() || !j.contains("token") || !j["token"].is_object()) {
    return Internal("Keystone at " + auth_url_ + " answered a token request without a token");
  }
  const json& t = j["token"];
  // Keystone's clock may differ from ours: only the lifetime it states is used, counted from
  // now on our clock.
  const WallMicros now = clock_.Now();
  WallMicros expires = ParseIsoTime(StringAt(t, "expires_at")).value_or(now + 3600'000'000LL);
  WallMicros issued = ParseIsoTime(StringAt(t, "issued_at")).value_or(expires - 3600'000'000LL);
  const int64_t lifetime = std::max<int64_t>(0, expires - issued);
  const int64_t margin = std::min<int64_t>(300'000'000LL, lifetime / 4);

  std::vector<CatalogEntry> catalog;
  if (auto c = t.find("catalog"); c != t.end() && c->is_array()) {
    for (const json& service : *c) {
      if (!service.is_object()) continue;
      const std::string type = StringAt(service, "type");
      auto eps = service.find("endpoints");
      if (eps == service.end() || !eps->is_array()) continue;
      for (const json& ep : *eps) {
        if (!ep.is_object()) continue;
        std::string region = StringAt(ep, "region_id");
        if (region.empty()) region = StringAt(ep, "region");
        catalog.push_back({type, NormaliseInterface(StringAt(ep, "interface")), region,
                           StringAt(ep, "url")});
      }
    }
  }
  std::lock_guard lock(mu_);
  token_ = token;
  renew_at_ = now + lifetime - margin;
  expires_at_ = now + lifetime;
  catalog_ = std::move(catalog);
  ++tokens_issued_;
  return {};
}

Result<std::string> KeystoneClient::Token() {
  {
    std::lock_guard lock(mu_);
    if (!token_.empty() && clock_.Now() < renew_at_) return token_;
  }
  const int64_t failures_seen = issue_failures_.load();
  std::lock_guard issuing(issue_mu_);
  {
    // Another caller may have renewed it while this one waited — or failed to: then this one
    // does not try again at once (a Keystone outage must not make every caller wait in turn).
    std::lock_guard lock(mu_);
    if (!token_.empty() && clock_.Now() < renew_at_) return token_;
    if (issue_failures_.load() != failures_seen) {
      if (!token_.empty() && clock_.Now() < expires_at_) return token_;
      return Unavailable("Keystone at " + auth_url_ + ": " + last_issue_error_);
    }
  }
  if (auto r = Issue(); !r) {
    std::lock_guard lock(mu_);
    ++issue_failures_;
    last_issue_error_ = r.error().message();
    // Renewal failed while the old token is still valid: keep using it until it expires.
    if (!token_.empty() && clock_.Now() < expires_at_ &&
        r.error().code() != ErrorCode::kUnauthenticated) {
      return token_;
    }
    return std::unexpected(r.error());
  }
  std::lock_guard lock(mu_);
  return token_;
}

void KeystoneClient::InvalidateToken(const std::string& token) {
  std::lock_guard lock(mu_);
  if (token == token_) {
    token_.clear();
    renew_at_ = 0;
    expires_at_ = 0;
  }
}

Result<std::string> KeystoneClient::Endpoint(const std::string& service_type) {
  if (auto t = Token(); !t) return std::unexpected(t.error());
  const std::string interface = NormaliseInterface(auth_.interface);
  std::lock_guard lock(mu_);
  for (const CatalogEntry& e : catalog_) {
    if (e.type != service_type || e.interface != interface) continue;
    if (!auth_.region_name.empty() && e.region != auth_.region_name) continue;
    std::string url = e.url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
  }
  // A configuration problem, not a missing resource: the engine must not read it as "the
  // instance is gone".
  return FailedPrecondition("Keystone's catalog has no " + interface + " endpoint of type '" +
                  service_type + "'" +
                  (auth_.region_name.empty() ? "" : " in region " + auth_.region_name));
}

Result<TokenInfo> KeystoneClient::Validate(const std::string& subject_token) {
  if (subject_token.empty()) {
    return MakeError(ErrorCode::kUnauthenticated, "no token presented");
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto own = Token();
    if (!own) {
      if (own.error().code() == ErrorCode::kUnauthenticated) {
        // Warden's own credentials are wrong: that is Keystone being unusable, not the caller.
        return Unavailable("cannot validate tokens: " + own.error().message());
      }
      return std::unexpected(own.error());
    }
    net::HttpRequest req{.method = "GET",
                         .url = auth_url_ + "/auth/tokens?nocatalog",
                         .headers = {{"X-Auth-Token", *own},
                                     {"X-Subject-Token", subject_token},
                                     {"Accept", "application/json"}},
                         .timeout_micros = int64_t(auth_.timeout_seconds * 1e6)};
    auto r = Send(req);
    if (!r) return std::unexpected(r.error());
    if (r->status == 401 && attempt == 0) {
      InvalidateToken(*own);  // ours expired or was revoked: get a new one and ask again
      continue;
    }
    if (r->status == 401) {
      // Keystone refused Warden's own, brand-new token: Keystone's problem, not the caller's.
      return Unavailable("Keystone refuses Warden's own token; cannot validate tokens");
    }
    if (r->status == 404) {
      return MakeError(ErrorCode::kUnauthenticated, "The token is unknown, revoked or expired.");
    }
    if (r->status == 403) {
      return Unavailable("Warden's Keystone user may not validate tokens (403): " +
                         KeystoneMessage(*r));
    }
    if (r->status >= 500) {
      return Unavailable("Keystone answered " + std::to_string(r->status) + " to a validation");
    }
    if (r->status != 200) {
      return Internal("Keystone answered " + std::to_string(r->status) + " to a validation: " +
                      KeystoneMessage(*r));
    }
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("token") || !j["token"].is_object()) {
      return Internal("Keystone answered a validation without a token");
    }
    const json& t = j["token"];
    TokenInfo info;
    if (auto u = t.find("user"); u != t.end() && u->is_object()) {
      info.user_id = StringAt(*u, "id");
      info.user_name = StringAt(*u, "name");
    }
    if (auto p = t.find("project"); p != t.end() && p->is_object()) {
      info.project_id = StringAt(*p, "id");
      info.project_name = StringAt(*p, "name");
    }
    if (auto roles = t.find("roles"); roles != t.end() && roles->is_array()) {
      for (const json& role : *roles) {
        if (role.is_object()) info.roles.push_back(StringAt(role, "name"));
      }
    }
    info.expires_at = ParseIsoTime(StringAt(t, "expires_at")).value_or(0);
    if (info.expires_at != 0 && info.expires_at <= clock_.Now()) {
      return MakeError(ErrorCode::kUnauthenticated, "The token is expired.");
    }
    return info;
  }
  return Unavailable("Keystone keeps refusing Warden's own token");
}

}  // namespace warden::openstack
