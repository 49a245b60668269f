// Identifiers: random UUIDs for new records, and Masakari's notion of "UUID-like".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warden {

// A new random (v4) UUID, lower-case, hyphenated. Unique, not unpredictable: never use one
// as a secret (tokens come from api::NewToken).
std::string NewUuid();

// A new time-ordered (v7, RFC 9562) UUID for a record created at `now`: 48 bits of
// milliseconds, then random bits. Records made later sort later, so a unique index over
// them grows at its end instead of touching a random page per insert.
std::string NewTimeOrderedUuid(int64_t now_micros);

// True for 32 hex digits, with or without the four hyphens in their canonical places, in
// either case (oslo's is_uuid_like). Used where Masakari validates `format: uuid`.
bool IsUuidLike(std::string_view s);

// The canonical lower-case hyphenated form of a UUID-like string, or nullopt.
std::optional<std::string> CanonicalUuid(std::string_view s);

}  // namespace warden
