// Digests as lower-case hex: token hashes in token files and caches, content keys of AMQP
// messages. OpenSSL stays inside digest.cc.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace warden {

// Two lower-case hex digits per byte.
std::string HexLower(const unsigned char* data, size_t size);

// Lower-case hex SHA-256 of s (64 characters).
std::string Sha256Hex(std::string_view s);

// SHA-1 of prefix followed by s, the raw 20 bytes (for name-based v5 UUIDs).
std::string Sha1(std::string_view prefix, std::string_view s);

}  // namespace warden
