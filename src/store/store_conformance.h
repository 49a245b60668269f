// The conformance suite every Store backend must pass.
//
// A backend's test file instantiates it with a factory:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, testing::Values(StoreBackend{...}));
// The factory opens a store over `location`; calling it twice with the same location must
// reopen the same data (that is how durability across restarts is tested).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "store/store.h"

namespace warden::store {

struct StoreBackend {
  std::string name;
  // Returns a fresh, empty location (a file path, a database name).
  std::function<std::string()> new_location;
  std::function<std::unique_ptr<Store>(const std::string& location)> open;
};

inline std::string PrintToString(const StoreBackend& b) { return b.name; }

class StoreConformance : public testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    location_ = GetParam().new_location();
    store_ = GetParam().open(location_);
    ASSERT_NE(store_, nullptr);
  }
  void Reopen() {
    store_.reset();
    store_ = GetParam().open(location_);
    ASSERT_NE(store_, nullptr);
  }

  std::string location_;
  std::unique_ptr<Store> store_;
};

}  // namespace warden::store
