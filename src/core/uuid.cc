#include "core/uuid.h"

#include <uuid/uuid.h>

#include <random>

namespace warden {
namespace {

// 16 random bytes from a per-thread generator seeded once from the system's entropy: ids must
// be unique, not secret (they are never credentials), and a system call per id showed in
// profiles of the create path.
void RandomBytes(uuid_t out) {
  thread_local std::mt19937_64 engine{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  uint64_t a = engine(), b = engine();
  for (int i = 0; i < 8; ++i) {
    out[i] = uint8_t(a >> (8 * i));
    out[8 + i] = uint8_t(b >> (8 * i));
  }
}

}  // namespace

std::string NewUuid() {
  uuid_t raw;
  RandomBytes(raw);
  raw[6] = uint8_t(0x40 | (raw[6] & 0x0F));  // version 4
  raw[8] = uint8_t(0x80 | (raw[8] & 0x3F));  // RFC variant
  char out[37];
  uuid_unparse_lower(raw, out);
  return std::string(out, 36);
}

std::optional<std::string> CanonicalUuid(std::string_view s) {
  std::string hex;
  hex.reserve(32);
  bool hyphenated = s.size() == 36;
  if (!hyphenated && s.size() != 32) return std::nullopt;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (hyphenated && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (c != '-') return std::nullopt;
      continue;
    }
    if (c >= '0' && c <= '9') {
      hex += c;
    } else if (c >= 'a' && c <= 'f') {
      hex += c;
    } else if (c >= 'A' && c <= 'F') {
      hex += char(c - 'A' + 'a');
    } else {
      return std::nullopt;
    }
  }
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string NewTimeOrderedUuid(int64_t now_micros) {
  uuid_t raw;
  RandomBytes(raw);  // random bits; the first 48, the version and the variant are replaced
  uint64_t ms = uint64_t(now_micros / 1000);
  for (int i = 0; i < 6; ++i) raw[i] = uint8_t(ms >> (40 - 8 * i));
  raw[6] = uint8_t(0x70 | (raw[6] & 0x0F));  // version 7
  raw[8] = uint8_t(0x80 | (raw[8] & 0x3F));  // RFC variant
  char out[37];
  uuid_unparse_lower(raw, out);
  return std::string(out, 36);
}

bool IsUuidLike(std::string_view s) { return CanonicalUuid(s).has_value(); }

}  // namespace warden
