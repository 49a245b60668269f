// Paging and filter parameters of the list endpoints (see query.h).
#include "api/query.h"

#include <charconv>
#include <vector>

namespace warden::api {

Result<store::Page> PageFromQuery(const HttpRequest& r, int64_t max_limit,
                                  std::string_view default_sort_key) {
  store::Page page;
  page.limit = max_limit;
  if (auto limit = r.Query("limit")) {
    std::string_view s = *limit;
    bool negative = !s.empty() && s[0] == '-';
    if (negative || (!s.empty() && s[0] == '+')) s.remove_prefix(1);
    if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) {
      return InvalidArgument("Invalid input received: limit must be an integer.");
    }
    bool all_zero = s.find_first_not_of('0') == std::string_view::npos;
    if (negative && !all_zero)
      return InvalidArgument("Invalid input received: limit must be >= 0.");
    int64_t value = max_limit;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec == std::errc::result_out_of_range) value = max_limit;
    page.limit = std::min(value, max_limit);
  }
  if (auto marker = r.Query("marker")) {
    int64_t id = 0;
    auto [ptr, ec] = std::from_chars(marker->data(), marker->data() + marker->size(), id);
    if (ec != std::errc() || ptr != marker->data() + marker->size()) {
      return InvalidArgument("Marker " + *marker + " could not be found.");
    }
    page.marker = id;
  }
  auto trim = [](std::string s) {
    size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  std::vector<std::string> keys = r.QueryAll("sort_key");
  std::vector<std::string> dirs = r.QueryAll("sort_dir");
  for (auto& d : dirs) {
    d = trim(d);
    if (d != "asc" && d != "desc") {
      return InvalidArgument(
          "Invalid input received: Unknown sort direction, must be 'asc' or "
          "'desc'");
    }
  }
  if (keys.empty()) keys.emplace_back(default_sort_key);
  if (dirs.size() > keys.size()) {
    return InvalidArgument("Invalid input received: Sort direction size exceeds sort key size");
  }
  std::string default_dir = dirs.empty() ? "desc" : dirs.front();
  for (size_t i = 0; i < keys.size(); ++i) {
    page.sort.push_back(
        store::SortKey{trim(keys[i]), (i < dirs.size() ? dirs[i] : default_dir) == "asc"});
  }
  return page;
}

Result<std::optional<bool>> BoolQuery(const HttpRequest& r, std::string_view name) {
  auto v = r.Query(name);
  if (!v) return std::optional<bool>();
  auto b = ParseBoolString(*v);
  if (!b) return InvalidArgument("Invalid value for " + std::string(name) + ": " + *v);
  return std::optional<bool>(*b);
}

Result<int64_t> CountQuery(const HttpRequest& r, std::string_view name, int64_t fallback,
                           int64_t max) {
  auto v = r.Query(name);
  if (!v) return fallback;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || ptr != v->data() + v->size() || n < 1 || n > max) {
    return InvalidArgument("Invalid value for " + std::string(name) + ": " + *v +
                           " (an integer from 1 to " + std::to_string(max) + ")");
  }
  return n;
}

Result<store::VMoveFilter> VMoveFilterFromQuery(const HttpRequest& r) {
  store::VMoveFilter filter;
  auto status = EnumQuery<VMoveStatus>(r, "status", ParseVMoveStatus);
  if (!status) return std::unexpected(status.error());
  filter.status = *status;
  auto type = EnumQuery<VMoveType>(r, "type", ParseVMoveType);
  if (!type) return std::unexpected(type.error());
  filter.type = *type;
  filter.source_host = r.Query("source_host");
  filter.dest_host = r.Query("dest_host");
  return filter;
}

}  // namespace warden::api
