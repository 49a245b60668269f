#include "core/strings.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(Trim, RemovesSpacesTabsAndLineEnds) {
  EXPECT_EQ(Trim("  a b\t\r\n"), "a b");
  EXPECT_EQ(Trim(" \t "), "");
  EXPECT_EQ(Trim(""), "");
}

TEST(PercentDecode, DecodesEscapesAndOptionallyPlus) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc+d"), "a b/c+d");
  EXPECT_EQ(PercentDecode("a+b", /*plus_is_space=*/true), "a b");
  EXPECT_EQ(PercentDecode("%e2%9C%93"), "\xe2\x9c\x93");
  for (const char* bad : {"%", "%4", "%zz", "a%2"}) {
    EXPECT_FALSE(PercentDecode(bad).has_value()) << bad;
  }
}

TEST(ParseHostPort, HostsPortsAndTheirErrors) {
  EXPECT_EQ(ParseHostPort("10.0.0.1:15868")->host, "10.0.0.1");
  EXPECT_EQ(ParseHostPort("[::1]:0")->host, "::1");
  EXPECT_EQ(ParseHostPort("localhost:80")->host, "127.0.0.1");
  EXPECT_EQ(ParseHostPort("h:65535")->port, 65535);
  for (const char* bad : {"nowhere", ":80", "h:70000", "h:x", "[::1]80", "h:"}) {
    EXPECT_FALSE(ParseHostPort(bad).has_value()) << bad;
  }
  EXPECT_TRUE(IsLoopbackHost("127.0.0.2") && IsLoopbackHost("::1") && IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0") || IsLoopbackHost("10.127.0.1"));
  EXPECT_TRUE(IsLoopbackHost("0:0:0:0:0:0:0:1"));
  // Looks like loopback, is a name (it would be resolved, to anything).
  EXPECT_FALSE(IsLoopbackHost("127.evil.example") || IsLoopbackHost("127.0.0.1.nip.io"));
}

TEST(ParseListenAddress, OnlyAddressesToListenOn) {
  EXPECT_EQ(ParseListenAddress("0.0.0.0:15868")->host, "0.0.0.0");
  EXPECT_EQ(ParseListenAddress("[::]:0")->host, "::");
  EXPECT_EQ(ParseListenAddress("localhost:80")->host, "127.0.0.1");
  EXPECT_EQ(ParseListenAddress("[fe80::1%eth0]:15868")->host, "fe80::1%eth0");
  EXPECT_FALSE(ParseListenAddress("[fe80::zz%eth0]:15868").has_value());
  auto name = ParseListenAddress("api.example.org:15868");
  ASSERT_FALSE(name.has_value());
  EXPECT_NE(name.error().message().find("must be an IP address"), std::string::npos);
  EXPECT_FALSE(ParseListenAddress("127.evil:80").has_value());
  EXPECT_FALSE(ParseListenAddress("10.0.0.1").has_value());  // no port
}

TEST(Utf8SequenceLength, WellFormedSequencesOnly) {
  auto len = [](std::string_view s) { return Utf8SequenceLength(s, 0); };
  EXPECT_EQ(len("a"), 1u);
  EXPECT_EQ(len("\xc3\xa9"), 2u);          // é
  EXPECT_EQ(len("\xe2\x82\xac"), 3u);      // €
  EXPECT_EQ(len("\xf0\x9f\x98\x80"), 4u);  // U+1F600
  EXPECT_EQ(len("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF
  EXPECT_EQ(len("\x80"), 0u);              // a continuation byte alone
  EXPECT_EQ(len("\xc3"), 0u);              // truncated
  EXPECT_EQ(len("\xc3("), 0u);             // not followed by a continuation byte
  EXPECT_EQ(len("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(len("\xe0\x80\xaf"), 0u);      // overlong, three bytes
  EXPECT_EQ(len("\xed\xa0\x80"), 0u);      // a surrogate (U+D800)
  EXPECT_EQ(len("\xf4\x90\x80\x80"), 0u);  // beyond U+10FFFF
  EXPECT_EQ(len("\xff"), 0u);
  EXPECT_EQ(Utf8SequenceLength("ab\xe2\x82\xac", 2), 3u);
}

TEST(ReadIniLines, HeadersAndKeysInOrderWithTheirPlace) {
  auto lines = ReadIniLines(
      "# comment\n[api]\nlisten = 127.0.0.1:0 \r\n; other\n\n[db]\n"
      "connection=sqlite:///x=y\n",
      "w.conf");
  ASSERT_TRUE(lines.has_value()) << lines.error().ToString();
  ASSERT_EQ(lines->size(), 4u);
  EXPECT_TRUE((*lines)[0].is_section);
  EXPECT_EQ((*lines)[0].section, "api");
  EXPECT_EQ((*lines)[1].key, "listen");
  EXPECT_EQ((*lines)[1].value, "127.0.0.1:0");
  EXPECT_EQ((*lines)[1].where, "w.conf:3: ");
  EXPECT_EQ((*lines)[3].section, "db");
  EXPECT_EQ((*lines)[3].value, "sqlite:///x=y");  // split at the first '='
}

TEST(ReadIniLines, BadLinesAreErrorsNamingTheLine) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"[api\n", "w.conf:1: malformed section header [api"},
           {"[api]\nlisten\n", "w.conf:2: expected 'key = value', got 'listen'"},
           {"listen = x\n", "w.conf:1: key outside of any [section]"},
       }) {
    auto lines = ReadIniLines(text, "w.conf");
    ASSERT_FALSE(lines.has_value()) << text;
    EXPECT_EQ(lines.error().message(), want);
  }
}

}  // namespace
}  // namespace warden
