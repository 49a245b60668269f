// ISO 8601 timestamps exactly as Masakari accepts and prints them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"

namespace warden {

// Parses what Masakari's API accepts as a date-time: a date, optionally followed by 'T' or a
// space and HH:MM[:SS[.fraction]], optionally followed by 'Z' or an offset (+09:00, +0900,
// +09). Offsets are normalised to UTC; no offset means UTC. Returns nullopt on anything else,
// including out-of-range fields (month 13, Feb 30, hour 24).
std::optional<WallMicros> ParseIsoTime(std::string_view text);

// A duration as written in configuration: a non-negative number with a unit of us, ms, s, m
// or h ("500ms", "2s", "1.5m"); a bare number is seconds. Returns microseconds.
Result<int64_t> ParseDurationMicros(std::string_view text);

// "2017-04-21T17:29:55.000000": naive UTC with microseconds, Masakari's output format.
std::string FormatIsoTime(WallMicros t);

}  // namespace warden
