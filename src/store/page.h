// Sort-order helpers shared by the store backends.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "store/store.h"

namespace warden::store {

// Masakari's default and completion of sort keys: no keys means created_at desc; created_at
// and id are appended (in the direction of the first key) when missing, so that the order is
// total and a marker is unambiguous. Rejects a key not in `columns` with Masakari's message,
// and a key given twice.
Result<std::vector<SortKey>> CompleteSort(std::span<const SortKey> requested,
                                          std::span<const std::string_view> columns);

}  // namespace warden::store
