#include "drivers/fencing/credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/strings.h"

namespace warden::drivers {
namespace {

Result<BmcCredentials> FromFile(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return InvalidArgument("credentials file:" + path + " needs an absolute path");
  }
  std::ifstream f(path);
  if (!f) return InvalidArgument("cannot read the credentials file " + path);
  BmcCredentials c;
  bool has_user = false, has_password = false;
  std::string line;
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    const std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    const size_t eq = t.find('=');
    const std::string key = eq == std::string::npos ? "" : Trim(t.substr(0, eq));
    // The value is not trimmed on the right beyond the line end: passwords may end in spaces
    // only if quoted, which this format does not offer; leading blanks after '=' are dropped.
    const std::string value = eq == std::string::npos ? "" : Trim(t.substr(eq + 1));
    if (key == "username") {
      c.username = value;
      has_user = true;
    } else if (key == "password") {
      c.password = value;
      has_password = true;
    } else {
      // Never echo the line: it may be a password without its key.
      return InvalidArgument("credentials file " + path + ":" + std::to_string(lineno) +
                             ": expected 'username = ...' or 'password = ...'");
    }
  }
  if (!has_user || c.username.empty()) {
    return InvalidArgument("credentials file " + path + " has no 'username = ...' line");
  }
  if (!has_password) {
    return InvalidArgument("credentials file " + path + " has no 'password = ...' line");
  }
  return c;
}

}  // namespace

Result<BmcCredentials> LoadBmcCredentials(const std::string& reference,
                                          const std::function<const char*(const char*)>& getenv) {
  if (reference.rfind("file:", 0) == 0) return FromFile(reference.substr(5));
  if (reference.rfind("env:", 0) == 0) {
    const std::string prefix = reference.substr(4);
    if (prefix.empty() || prefix.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                   "abcdefghijklmnopqrstuvwxyz0123456789_") !=
                              std::string::npos) {
      return InvalidArgument("credentials env:" + prefix +
                             " needs a variable prefix of letters, digits and '_'");
    }
    auto get = [&](const std::string& name) -> const char* {
      return getenv ? getenv(name.c_str()) : std::getenv(name.c_str());
    };
    const char* user = get(prefix + "_USERNAME");
    const char* password = get(prefix + "_PASSWORD");
    if (user == nullptr || *user == '\0') {
      return InvalidArgument("environment variable " + prefix + "_USERNAME is not set");
    }
    if (password == nullptr) {
      return InvalidArgument("environment variable " + prefix + "_PASSWORD is not set");
    }
    return BmcCredentials{user, password};
  }
  // The value is not echoed: it may be a password written where a reference belongs.
  return InvalidArgument("the value is not a credentials reference (file:/path or env:PREFIX)");
}

}  // namespace warden::drivers
