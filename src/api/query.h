// Query parameters the list endpoints share: Masakari's paging (limit, marker, sort_key,
// sort_dir), boolean, enumerated and count filters, and the VM move filters. Each bad value is
// an InvalidArgument naming the parameter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/http.h"
#include "core/domain.h"
#include "core/error.h"
#include "store/store.h"

namespace warden::api {

// Masakari's limit/marker/sort_key/sort_dir; without sort_key, default_sort_key.
Result<store::Page> PageFromQuery(const HttpRequest& r, int64_t max_limit,
                                  std::string_view default_sort_key = "created_at");
Result<std::optional<bool>> BoolQuery(const HttpRequest& r, std::string_view name);
// An enumerated filter: absent, or one of the values `parse` accepts (else 400 naming it).
template <typename E>
Result<std::optional<E>> EnumQuery(const HttpRequest& r, std::string_view name,
                                   std::optional<E> (*parse)(std::string_view)) {
  auto v = r.Query(name);
  if (!v) return std::optional<E>();
  auto e = parse(*v);
  if (!e) return InvalidArgument("Invalid value for " + std::string(name) + ": " + *v);
  return e;
}
// An integer parameter from 1 to max; absent: fallback.
Result<int64_t> CountQuery(const HttpRequest& r, std::string_view name, int64_t fallback,
                           int64_t max);
// The filters of both vmoves lists.
Result<store::VMoveFilter> VMoveFilterFromQuery(const HttpRequest& r);

}  // namespace warden::api
