// Reading fields of OpenStack's JSON answers, which omit, null or retype fields freely: a
// missing or mistyped field reads as empty, never as an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace warden::openstack {

// j[key] if it is a string, else "".
inline std::string StringAt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// j[key] if it is a number (truncated), else 0.
inline int64_t IntAt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number()) return int64_t(it->get<double>());
  return 0;
}

}  // namespace warden::openstack
