// The API's configuration keys and the rules between them (see api_config.h).
#include "api/api_config.h"

#include <fstream>

#include "api/keystone_auth.h"
#include "core/strings.h"

namespace warden::api {
namespace {

using config::Bool;
using config::Choice;
using config::Int;
using config::Key;
using config::Secret;
using config::String;

std::string SetListen(ApiConfig& c, const std::string& v) {
  auto hp = ParseListenAddress(v);
  if (!hp) return hp.error().message();
  c.listen = v;
  c.listen_host = hp->host;
  c.listen_port = hp->port;
  return "";
}

// keystoneauth's *_domain_id: Warden names domains, so only the Default domain's id is
// understood (it is what masakari.conf files usually say).
Key<ApiConfig> DefaultDomainIdKey(std::string name) {
  return Key<ApiConfig>{"keystone_authtoken", name,
                        [name](ApiConfig& c, const std::string& v) -> std::string {
                          if (v != "default") {
                            return "'" + v + "': only 'default' is understood; name the domain with " +
                                   name.substr(0, name.size() - 3) + "_name instead";
                          }
                          (name == "user_domain_id" ? c.authtoken_user_domain_name
                                                    : c.authtoken_project_domain_name) = "Default";
                          return "";
                        },
                        [](const ApiConfig&) { return std::string("default"); }};
}

// Returns Warden's own Keystone credentials once [keystone_authtoken] checks out.
Result<openstack::KeystoneAuth> CheckKeystoneAuthtoken(ApiConfig& c) {
  const std::string s = "[keystone_authtoken] ";
  auto is_url = [](const std::string& u) {
    return u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0;
  };
  // The credentials and URLs: the same checks as the Keystone client's own.
  auto auth = MakeAuthtokenKeystoneAuth(c);
  if (!auth) return std::unexpected(auth.error());
  if (c.authtoken_www_authenticate_uri.empty()) {
    c.authtoken_www_authenticate_uri = c.authtoken_auth_url;
  } else if (!is_url(c.authtoken_www_authenticate_uri)) {
    return InvalidArgument(s + "www_authenticate_uri: '" + c.authtoken_www_authenticate_uri +
                           "' is not an http(s) URL");
  }
  if (c.authtoken_cafile.empty() == false && !std::ifstream(c.authtoken_cafile)) {
    return InvalidArgument(s + "cafile: cannot read " + c.authtoken_cafile);
  }
  if (api::SplitRoleList(c.admin_roles).empty()) {
    return InvalidArgument("[api] admin_roles: names no role");
  }
  return auth;
}

}  // namespace

const std::vector<Key<ApiConfig>>& ApiConfigKeys() {
  using C = ApiConfig;
  static const std::vector<Key<C>> keys = {
      Int("DEFAULT", "osapi_max_limit", &C::osapi_max_limit, 1, 100000),
      Key<C>{"api", "listen", SetListen, [](const C& c) { return c.listen; }},
      Choice("api", "auth_strategy", &C::auth_strategy, {"token", "noauth", "keystone"}),
      // Masakari's place for it, with its spelling of noauth.
      Key<C>{"DEFAULT", "auth_strategy",
             [](C& c, const std::string& v) -> std::string {
               if (v == "keystone") {
                 c.auth_strategy = "keystone";
               } else if (v == "noauth2" || v == "noauth") {
                 c.auth_strategy = "noauth";
               } else {
                 return "'" + v + "' is not one of: keystone, noauth2";
               }
               return "";
             },
             [](const C& c) { return c.auth_strategy == "noauth" ? "noauth2" : c.auth_strategy; }},
      String("api", "admin_roles", &C::admin_roles),
      String("api", "reader_roles", &C::reader_roles),
      Int("api", "token_cache_entries", &C::token_cache_entries, 1, 10'000'000),
      Int("api", "invalid_token_cache_time", &C::invalid_token_cache_time, 0, 3600),
      String("keystone_authtoken", "auth_url", &C::authtoken_auth_url),
      String("keystone_authtoken", "www_authenticate_uri", &C::authtoken_www_authenticate_uri),
      // keystonemiddleware's deprecated name of www_authenticate_uri.
      String("keystone_authtoken", "auth_uri", &C::authtoken_www_authenticate_uri),
      Choice("keystone_authtoken", "auth_type", &C::authtoken_auth_type,
             {"password", "v3applicationcredential"}),
      String("keystone_authtoken", "username", &C::authtoken_username),
      Secret("keystone_authtoken", "password", &C::authtoken_password),
      String("keystone_authtoken", "project_name", &C::authtoken_project_name),
      String("keystone_authtoken", "user_domain_name", &C::authtoken_user_domain_name),
      String("keystone_authtoken", "project_domain_name", &C::authtoken_project_domain_name),
      DefaultDomainIdKey("user_domain_id"),
      DefaultDomainIdKey("project_domain_id"),
      String("keystone_authtoken", "application_credential_id",
             &C::authtoken_application_credential_id),
      String("keystone_authtoken", "application_credential_name",
             &C::authtoken_application_credential_name),
      Secret("keystone_authtoken", "application_credential_secret",
             &C::authtoken_application_credential_secret),
      String("keystone_authtoken", "cafile", &C::authtoken_cafile),
      Bool("keystone_authtoken", "insecure", &C::authtoken_insecure),
      String("keystone_authtoken", "region_name", &C::authtoken_region_name),
      Choice("keystone_authtoken", "interface", &C::authtoken_interface,
             {"public", "internal", "admin"}),
      Int("keystone_authtoken", "token_cache_time", &C::authtoken_token_cache_time, 0, 86400),
      Int("keystone_authtoken", "http_connect_timeout", &C::authtoken_http_connect_timeout, 1,
          600),
      String("api", "token_file", &C::token_file),
      Int("api", "workers", &C::workers, 1, 512),
      Int("api", "io_threads", &C::io_threads, 1, 64),
      Int("api", "max_body_bytes", &C::max_body_bytes, 1024, 64 << 20),
      Int("api", "max_header_bytes", &C::max_header_bytes, 1024, 1 << 20),
      Int("api", "max_connections", &C::max_connections, 1, 1 << 20),
      Int("api", "request_timeout", &C::request_timeout, 1, 3600),
      Int("api", "idle_timeout", &C::idle_timeout, 1, 86400),
      Bool("api", "access_log", &C::access_log),
      Int("api", "response_cache_entries", &C::response_cache_entries, 0, 100000),
  };
  return keys;
}

Result<openstack::KeystoneAuth> MakeAuthtokenKeystoneAuth(const ApiConfig& c) {
  openstack::KeystoneAuth auth;
  auth.auth_url = c.authtoken_auth_url;
  auth.auth_type = c.authtoken_auth_type;
  auth.username = c.authtoken_username;
  auth.password = c.authtoken_password;
  auth.user_domain_name = c.authtoken_user_domain_name;
  auth.project_name = c.authtoken_project_name;
  auth.project_domain_name = c.authtoken_project_domain_name;
  auth.application_credential_id = c.authtoken_application_credential_id;
  auth.application_credential_name = c.authtoken_application_credential_name;
  auth.application_credential_secret = c.authtoken_application_credential_secret;
  auth.region_name = c.authtoken_region_name;
  auth.interface = c.authtoken_interface;
  auth.tls.ca_file = c.authtoken_cafile;
  auth.tls.insecure = c.authtoken_insecure;
  auth.timeout_seconds = double(c.authtoken_http_connect_timeout);
  if (auto ok = openstack::ValidateKeystoneAuth(auth); !ok) {
    return InvalidArgument("[keystone_authtoken] " + ok.error().message() +
                           " (with [api] auth_strategy = keystone)");
  }
  return auth;
}

Result<std::optional<openstack::KeystoneAuth>> CheckApiConfig(ApiConfig& c) {
  if (c.auth_strategy == "noauth" && !IsLoopbackHost(c.listen_host)) {
    return InvalidArgument(
        "[api] auth_strategy: noauth is refused unless [api] listen is a "
        "loopback address (it is " +
        c.listen + ")");
  }
  if (c.auth_strategy == "token" && c.token_file.empty()) {
    return InvalidArgument(
        "[api] token_file: required when [api] auth_strategy = token "
        "(create one with `warden token create`)");
  }
  if (c.auth_strategy != "keystone") return std::optional<openstack::KeystoneAuth>();
  auto auth = CheckKeystoneAuthtoken(c);
  if (!auth) return std::unexpected(auth.error());
  return std::optional<openstack::KeystoneAuth>(std::move(*auth));
}

}  // namespace warden::api
