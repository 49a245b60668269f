#include "core/uuid.h"

#include <gtest/gtest.h>

#include <set>

namespace warden {
namespace {

TEST(Uuid, NewUuidsAreCanonicalAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = NewUuid();
    ASSERT_EQ(CanonicalUuid(u), u);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Uuid, UuidLikeAcceptsCaseAndMissingHyphens) {
  EXPECT_EQ(CanonicalUuid("6A1E6D1C-3D65-4B8A-9C5E-1F2A3B4C5D6E"),
            "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6e");
  EXPECT_EQ(CanonicalUuid("6a1e6d1c3d654b8a9c5e1f2a3b4c5d6e"),
            "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6e");
  for (const char* bad : {"", "1", "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6", "not-a-uuid",
                          "6a1e6d1c-3d654-b8a-9c5e-1f2a3b4c5d6e", "6a1e6d1c-3d65-4b8a-9c5e-1f2a3b4c5d6g"}) {
    EXPECT_FALSE(IsUuidLike(bad)) << bad;
  }
}

}  // namespace
}  // namespace warden
