// For tests: a directory of the calling process's own, under the system's temporary
// directory, named `prefix-PID`. It is emptied when first asked for (pids are reused, and an
// earlier process may have left files there) and removed with everything in it when the
// process exits normally, so test runs do not pile databases up in /tmp. Thread-safe.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <system_error>

namespace warden {

inline std::filesystem::path ProcessTempDir(const std::string& prefix) {
  struct Dirs {
    std::mutex mu;
    std::map<std::string, std::filesystem::path> by_prefix;
    ~Dirs() {
      for (const auto& [prefix, dir] : by_prefix) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  };
  static Dirs dirs;
  std::lock_guard lock(dirs.mu);
  auto [it, added] = dirs.by_prefix.try_emplace(prefix);
  if (added) {
    it->second = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(it->second);
    std::filesystem::create_directories(it->second);
  }
  return it->second;
}

}  // namespace warden
