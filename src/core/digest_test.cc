#include "core/digest.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(Digest, Sha256HexOfKnownInputs) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Digest, Sha1OfPrefixAndText) {
  const std::string d = Sha1("a", "bc");
  ASSERT_EQ(d.size(), 20u);
  EXPECT_EQ(HexLower(reinterpret_cast<const unsigned char*>(d.data()), d.size()),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Digest, HexLowerKeepsLeadingZeros) {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(HexLower(bytes, sizeof bytes), "000fa0ff");
  EXPECT_EQ(HexLower(bytes, 0), "");
}

}  // namespace
}  // namespace warden
