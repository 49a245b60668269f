#include "store/store.h"

#include <future>

namespace warden::store {

Result<void> Store::Write(std::function<Result<void>(WriteTx&)> fn) {
  std::promise<Result<void>> promise;
  auto future = promise.get_future();
  WriteAsync(std::move(fn), [&promise](Result<void> r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace warden::store
