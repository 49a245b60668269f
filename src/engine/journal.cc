// The engine's batched, ordered writes to the store (see journal.h).
#include "engine/journal.h"

#include <utility>

namespace warden::engine {

Journal::Journal(EventLoop& loop, store::Store& store, std::function<void()> on_commit,
                 std::function<void(const Error&)> on_error)
    : loop_(loop),
      store_(store),
      on_commit_(std::move(on_commit)),
      on_error_(std::move(on_error)),
      alive_(std::make_shared<bool>(true)) {}

Journal::~Journal() { *alive_ = false; }

void Journal::Persist(Write write, std::function<void(Result<void>)> then) {
  queued_.push_back({std::move(write), std::move(then)});
  if (queued_.size() == 1 && !in_flight_) {
    loop_.Post([this, alive = std::weak_ptr<bool>(alive_)] {
      if (auto a = alive.lock(); a && *a) Flush();
    });
  }
}

Task<Result<void>> Journal::Commit(Write write) {
  co_return co_await Answer<Result<void>>(
      [&](std::function<void(Result<void>)> done) { Persist(std::move(write), std::move(done)); });
}

void Journal::WhenDurable(std::function<void(Result<void>)> then) {
  Persist([](store::WriteTx&) -> Result<void> { return {}; }, std::move(then));
}

void Journal::Flush() {
  if (on_commit_) on_commit_();
  if (in_flight_ || queued_.empty()) return;
  auto batch = std::make_shared<std::vector<Entry>>(std::move(queued_));
  queued_.clear();
  in_flight_ = true;
  ++commits_;
  store_.WriteAsync(
      [batch](store::WriteTx& tx) -> Result<void> {
        for (auto& e : *batch) {
          if (auto r = e.write(tx); !r) return r;
        }
        return {};
      },
      BindToLoop<Result<void>>(loop_, [this, batch, alive = std::weak_ptr<bool>(alive_)](
                                          Result<void> r) {
        auto a = alive.lock();
        if (!a || !*a) return;
        in_flight_ = false;
        if (!r && on_error_) on_error_(r.error());
        for (auto& e : *batch) {
          if (e.then) e.then(r);
        }
        Flush();
      }));
}

}  // namespace warden::engine
