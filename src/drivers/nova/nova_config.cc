// The Nova driver's configuration keys and its settings built from them (see nova_config.h).
#include "drivers/nova/nova_config.h"

#include <fstream>

#include "core/strings.h"

namespace warden::drivers {

const std::vector<config::Key<NovaConfig>>& NovaConfigKeys() {
  using C = NovaConfig;
  using config::Bool;
  using config::Choice;
  using config::Double;
  using config::Int;
  using config::Secret;
  using config::String;
  static const std::vector<config::Key<C>> keys = {
      String("nova", "auth_url", &C::auth_url),
      Choice("nova", "auth_type", &C::auth_type, {"password", "v3applicationcredential"}),
      String("nova", "username", &C::username),
      Secret("nova", "password", &C::password),
      String("nova", "password_file", &C::password_file),
      String("nova", "user_domain_name", &C::user_domain_name),
      String("nova", "project_name", &C::project_name),
      String("nova", "project_domain_name", &C::project_domain_name),
      String("nova", "application_credential_id", &C::application_credential_id),
      Secret("nova", "application_credential_secret", &C::application_credential_secret),
      String("nova", "region_name", &C::region_name),
      Choice("nova", "interface", &C::interface, {"public", "internal", "admin"}),
      String("nova", "compute_url", &C::compute_url),
      String("nova", "placement_url", &C::placement_url),
      String("nova", "ca_file", &C::ca_file),
      Bool("nova", "insecure", &C::insecure),
      Int("nova", "max_concurrent_calls", &C::max_concurrent_calls, 1, 256),
      Double("nova", "max_calls_per_second", &C::max_calls_per_second, 0, 100000),
      Int("nova", "call_timeout", &C::call_timeout, 1, 3600),
  };
  return keys;
}

Result<NovaSettings> MakeNovaSettings(const NovaConfig& c, int64_t api_call_timeout) {
  NovaSettings s;
  openstack::KeystoneAuth& a = s.keystone;
  a.auth_url = c.auth_url;
  a.auth_type = c.auth_type;
  a.username = c.username;
  a.password = c.password;
  if (!c.password_file.empty()) {
    if (!c.password.empty()) {
      return InvalidArgument("[nova] password_file: set either password or password_file");
    }
    std::ifstream f(c.password_file);
    if (!f || !std::getline(f, a.password)) {
      return InvalidArgument("[nova] password_file: cannot read " + c.password_file);
    }
    a.password = Trim(a.password);
  }
  a.user_domain_name = c.user_domain_name;
  a.project_name = c.project_name;
  a.project_domain_name = c.project_domain_name;
  a.application_credential_id = c.application_credential_id;
  a.application_credential_secret = c.application_credential_secret;
  a.region_name = c.region_name;
  a.interface = c.interface;
  a.tls = {c.ca_file, c.insecure};
  a.timeout_seconds = double(c.call_timeout);
  if (auto r = openstack::ValidateKeystoneAuth(a); !r) {
    return InvalidArgument("[nova] " + r.error().message() +
                           " (with [compute] driver = nova; Masakari's [DEFAULT] "
                           "os_privileged_user_* keys are read too)");
  }
  s.nova.compute_url = c.compute_url;
  s.nova.placement_url = c.placement_url;
  s.nova.max_concurrent_calls = int(c.max_concurrent_calls);
  s.nova.max_calls_per_second = c.max_calls_per_second;
  s.nova.call_timeout_seconds = double(c.call_timeout);
  // What the engine still waits once a request of call_timeout is under way: a call that
  // cannot start within it is never sent.
  s.nova.queue_timeout_seconds = double(api_call_timeout - c.call_timeout);
  s.nova.tls = a.tls;
  if (auto r = ValidateNovaOptions(s.nova); !r) {
    return InvalidArgument("[nova] " + r.error().message());
  }
  if (c.call_timeout >= api_call_timeout) {
    return InvalidArgument("[nova] call_timeout: must be below [host_failure] api_call_timeout (" +
                           std::to_string(api_call_timeout) + " s), or the engine gives up on "
                           "calls the driver is still making");
  }
  return s;
}

}  // namespace warden::drivers
