// The engine's journal: every write of a recovery (notification status and progress, VM moves,
// host flags) goes to the store through it, in the order it was asked for.
//
// One transaction is in flight at a time; everything queued meanwhile commits together in the
// next one, so a thousand moves recorded in one loop turn cost one commit. A write's `then`
// (or the awaiting coroutine, for Commit) runs on the loop once the write is durable or failed.
// A failed commit fails every write of its batch, and is logged.
//
// Threading: on the loop thread only. Lifetime: answers that arrive after the journal is gone
// are dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/coro.h"
#include "core/event_loop.h"
#include "store/store.h"

namespace warden::engine {

class Journal {
 public:
  using Write = std::function<Result<void>(store::WriteTx&)>;

  // `on_commit` runs before each commit is sent (the engine publishes its stats then);
  // `on_error` gets a failed commit's error.
  Journal(EventLoop& loop, store::Store& store, std::function<void()> on_commit,
          std::function<void(const Error&)> on_error);
  ~Journal();

  // Queues a write; `then` (optional) gets its outcome.
  void Persist(Write write, std::function<void(Result<void>)> then = nullptr);
  // Queues a write and waits until it is durable.
  Task<Result<void>> Commit(Write write);
  // `then` runs once everything queued so far is durable (a write of nothing after them).
  void WhenDurable(std::function<void(Result<void>)> then);

  int64_t commits() const { return commits_; }

 private:
  struct Entry {
    Write write;
    std::function<void(Result<void>)> then;
  };
  void Flush();

  EventLoop& loop_;
  store::Store& store_;
  std::function<void()> on_commit_;
  std::function<void(const Error&)> on_error_;
  std::vector<Entry> queued_;
  bool in_flight_ = false;
  int64_t commits_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace warden::engine
