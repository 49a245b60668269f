#include "core/uuid.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace warden {
namespace {

TEST(Uuid, NewUuidsAreCanonicalAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = NewUuid();
    ASSERT_EQ(CanonicalUuid(u), u);
    ASSERT_EQ(u[14], '4');
    ASSERT_TRUE(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b') << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Uuid, ThreadsDrawDifferentIds) {
  std::set<std::string> seen;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        std::string u = NewUuid();
        std::lock_guard lock(mu);
        seen.insert(u);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(Uuid, UuidLikeAcceptsCaseAndMissingHyphens) {
  EXPECT_EQ(CanonicalUuid("6A1E6D1C-3D65-4B8A-9C5E-1F2A3B4C5D6E"),
            "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6e");
  EXPECT_EQ(CanonicalUuid("6a1e6d1c3d654b8a9c5e1f2a3b4c5d6e"),
            "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6e");
  for (const char* bad :
       {"", "1", "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6", "not-a-uuid",
        "6a1e6d1c-3d654-b8a-9c5e-1f2a3b4c5d6e", "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6g"}) {
    EXPECT_FALSE(IsUuidLike(bad)) << bad;
  }
}

TEST(Uuid, TimeOrderedUuidsSortByTimeAndAreValid) {
  std::string earlier = NewTimeOrderedUuid(1'700'000'000'000'000);
  std::string later = NewTimeOrderedUuid(1'700'000'000'001'000);
  EXPECT_LT(earlier, later);
  EXPECT_EQ(CanonicalUuid(later), later);
  EXPECT_EQ(later[14], '7');  // version
  EXPECT_TRUE(later[19] == '8' || later[19] == '9' || later[19] == 'a' || later[19] == 'b');
  EXPECT_EQ(earlier.substr(0, 13), "018bcfe5-6800");  // 1700000000000 ms in hex, big-endian
  EXPECT_NE(NewTimeOrderedUuid(0), NewTimeOrderedUuid(0));
}

}  // namespace
}  // namespace warden
