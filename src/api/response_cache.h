// The API's cache of GET answers, kept until the store's next commit: polling clients
// (dashboards, monitors) are answered from memory on the network thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/http.h"

namespace warden::api {

// GET responses valid for one store generation. Every write attempt moves the generation, so
// a response computed while the generation was G is served only while it is still G, and
// nothing written after it was computed can be missing from it. Bounded in entries and bytes;
// a response too large for a fair share of the budget is not kept. Thread-safe; hits copy
// the body outside the lock.
class ResponseCache {
 public:
  ResponseCache(size_t max_entries, size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  std::shared_ptr<const HttpResponse> Find(const std::string& key, int64_t generation) {
    std::lock_guard lock(mu_);
    if (generation != generation_) return nullptr;
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second;
  }

  void Put(const std::string& key, int64_t generation, const HttpResponse& response) {
    const size_t size = key.size() + response.body.size();
    if (size > max_bytes_ / 8) return;
    auto entry = std::make_shared<const HttpResponse>(response);
    std::lock_guard lock(mu_);
    if (generation != generation_) {
      if (generation < generation_) return;  // computed before a newer write: already stale
      entries_.clear();
      bytes_ = 0;
      generation_ = generation;
    }
    if (entries_.size() >= max_entries_ || bytes_ + size > max_bytes_) {
      entries_.clear();
      bytes_ = 0;
    }
    auto [it, inserted] = entries_.emplace(key, std::move(entry));
    if (inserted) bytes_ += size;
  }

 private:
  const size_t max_entries_;
  const size_t max_bytes_;
  std::mutex mu_;
  int64_t generation_ = -1;                                                       // GUARDED_BY(mu_)
  size_t bytes_ = 0;                                                              // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<const HttpResponse>> entries_;  // GUARDED_BY(mu_)
};

}  // namespace warden::api
