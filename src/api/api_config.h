// The API's part of warden.conf: [api] (listening, authentication, limits, the access log, the
// response cache), Masakari's [DEFAULT] osapi_max_limit and auth_strategy, and
// [keystone_authtoken] (keystonemiddleware's keys: Warden's own credentials for validating the
// tokens callers present, with auth_strategy = keystone).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_keys.h"
#include "core/error.h"
#include "openstack/keystone.h"

namespace warden::api {

struct ApiConfig {
  // [DEFAULT]
  int64_t osapi_max_limit = 1000;

  // [api]
  std::string listen = "127.0.0.1:15868";
  std::string listen_host = "127.0.0.1";  // derived from listen
  uint16_t listen_port = 15868;           // derived from listen
  std::string auth_strategy = "token";    // token | noauth | keystone
  std::string token_file;
  // auth_strategy = keystone: Keystone roles that make a caller an admin (everything) or a
  // reader (GET only); comma-separated, compared without regard to case.
  std::string admin_roles = "admin";
  std::string reader_roles = "reader";
  int64_t token_cache_entries = 10000;    // valid tokens kept (and as many bad ones)
  int64_t invalid_token_cache_time = 10;  // seconds a bad token is answered 401 from memory
  int64_t workers = 16;
  int64_t io_threads = 1;
  int64_t max_body_bytes = 114688;
  int64_t max_header_bytes = 16384;
  int64_t max_connections = 1024;
  int64_t request_timeout = 30;  // seconds
  int64_t idle_timeout = 60;     // seconds
  bool access_log = true;
  int64_t response_cache_entries = 256;  // 0 disables the GET response cache

  // [keystone_authtoken]
  std::string authtoken_auth_url;
  std::string authtoken_www_authenticate_uri;  // default: auth_url
  std::string authtoken_auth_type = "password";  // password | v3applicationcredential
  std::string authtoken_username;
  std::string authtoken_password;  // secret: never shown
  std::string authtoken_project_name;
  std::string authtoken_user_domain_name = "Default";
  std::string authtoken_project_domain_name = "Default";
  std::string authtoken_application_credential_id;
  std::string authtoken_application_credential_name;
  std::string authtoken_application_credential_secret;  // secret: never shown
  std::string authtoken_cafile;
  bool authtoken_insecure = false;
  std::string authtoken_region_name;
  std::string authtoken_interface = "public";
  int64_t authtoken_token_cache_time = 300;     // seconds; 0: validate every request
  int64_t authtoken_http_connect_timeout = 30;  // seconds, per exchange with Keystone
};

const std::vector<config::Key<ApiConfig>>& ApiConfigKeys();

// Warden's own Keystone credentials from [keystone_authtoken]; errors name the key.
Result<openstack::KeystoneAuth> MakeAuthtokenKeystoneAuth(const ApiConfig& config);

// The rules between the API's keys (noauth only on loopback, a token file for token auth,
// [keystone_authtoken] complete for keystone auth). Fills in www_authenticate_uri's default.
// Returns Warden's Keystone credentials when auth_strategy = keystone.
Result<std::optional<openstack::KeystoneAuth>> CheckApiConfig(ApiConfig& config);

}  // namespace warden::api
