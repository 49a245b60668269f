#include "core/retry.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "core/strings.h"
#include "core/time.h"

namespace warden {

int64_t RetryPolicy::DelayBefore(int attempt, std::mt19937_64& rng) const {
  double d = double(delay_micros);
  if (exponential) {
    for (int i = 2; i < attempt && d < double(max_delay_micros); ++i) d *= 2;
    d = std::min(d, double(max_delay_micros));
  }
  if (jitter > 0 && d > 0) {
    d *= std::uniform_real_distribution<double>(1 - jitter, 1 + jitter)(rng);
  }
  return int64_t(d);
}

Result<RetryPolicy> ParseRetryPolicy(std::string_view spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t c = spec.find(':', start);
    parts.push_back(Trim(spec.substr(start, c == std::string_view::npos ? c : c - start)));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  const std::string bad = "'" + std::string(spec) +
                          "' is not a retry policy (fixed:ATTEMPTS:DELAY or "
                          "exponential:ATTEMPTS:DELAY:MAX_DELAY)";
  RetryPolicy p;
  if (parts[0] == "fixed" && parts.size() == 3) {
    p.exponential = false;
  } else if (parts[0] == "exponential" && parts.size() == 4) {
    p.exponential = true;
  } else {
    return InvalidArgument(bad);
  }
  int attempts = 0;
  auto [ptr, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), attempts);
  if (ec != std::errc() || ptr != parts[1].data() + parts[1].size() || attempts < 1 ||
      attempts > 1000) {
    return InvalidArgument(bad + ": attempts must be 1-1000");
  }
  p.attempts = attempts;
  auto delay = ParseDurationMicros(parts[2]);
  if (!delay) return InvalidArgument(bad + ": " + delay.error().message());
  p.delay_micros = *delay;
  p.max_delay_micros = *delay;
  if (p.exponential) {
    auto max = ParseDurationMicros(parts[3]);
    if (!max) return InvalidArgument(bad + ": " + max.error().message());
    if (*max < *delay) return InvalidArgument(bad + ": MAX_DELAY is below DELAY");
    p.max_delay_micros = *max;
  }
  return p;
}

}  // namespace warden
