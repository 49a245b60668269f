#include "store/page.h"

#include <algorithm>
#include <string>

namespace warden::store {

Result<std::vector<SortKey>> CompleteSort(std::span<const SortKey> requested,
                                          std::span<const std::string_view> columns) {
  std::vector<SortKey> keys(requested.begin(), requested.end());
  for (const SortKey& k : keys) {
    if (std::find(columns.begin(), columns.end(), k.column) == columns.end()) {
      return InvalidArgument("Sort key supplied is invalid: " + k.column);
    }
  }
  bool ascending = keys.empty() ? false : keys.front().ascending;
  for (std::string_view must : {"created_at", "id"}) {
    bool present = std::any_of(keys.begin(), keys.end(),
                               [&](const SortKey& k) { return k.column == must; });
    if (!present) keys.push_back(SortKey{std::string(must), ascending});
  }
  return keys;
}

}  // namespace warden::store
