#include "store/page.h"

#include <algorithm>
#include <string>

namespace warden::store {

Result<std::vector<SortKey>> CompleteSort(std::span<const SortKey> requested,
                                          std::span<const std::string_view> columns) {
  std::vector<SortKey> keys(requested.begin(), requested.end());
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& column = keys[i].column;
    if (std::find(columns.begin(), columns.end(), column) == columns.end()) {
      return InvalidArgument("Sort key supplied is invalid: " + column);
    }
    // A repeated key adds nothing to the order; refusing it also bounds the number of keys
    // (and the size of the keyset condition built from them) by the number of columns.
    for (size_t j = 0; j < i; ++j) {
      if (keys[j].column == column) {
        return InvalidArgument("Sort key supplied is invalid: " + column + " is repeated");
      }
    }
  }
  bool ascending = keys.empty() ? false : keys.front().ascending;
  for (std::string_view must : {"created_at", "id"}) {
    bool present =
        std::any_of(keys.begin(), keys.end(), [&](const SortKey& k) { return k.column == must; });
    if (!present) keys.push_back(SortKey{std::string(must), ascending});
  }
  return keys;
}

}  // namespace warden::store
