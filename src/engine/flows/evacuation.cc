// EvacuateInstancesTask and every VM move of a host failure (see evacuation.h).
#include "engine/flows/evacuation.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "engine/flows/flows.h"
#include "engine/headroom.h"

namespace warden::engine {
namespace {

const std::string kTask(kEvacuateInstances);

// The newest evacuation record made since `since` (null if none), leaving out the records an
// earlier attempt already failed with. Newest by the cloud's creation time, then its id order
// (Nova's times have whole seconds).
const drivers::Migration* LatestEvacuation(const std::vector<drivers::Migration>& all,
                                           WallMicros since, const std::set<std::string>& spent) {
  const drivers::Migration* latest = nullptr;
  for (const auto& mig : all) {
    if (mig.type != "evacuation" || mig.created_at < since || spent.contains(mig.id)) continue;
    if (!latest || std::tie(mig.created_at, mig.seq) > std::tie(latest->created_at, latest->seq)) {
      latest = &mig;
    }
  }
  return latest;
}

bool RecordFailed(const drivers::Migration* mig) {
  return mig && (mig->status == "error" || mig->status == "failed");
}

std::string FailedInCloud(const std::string& status) {
  return "the evacuation failed in the cloud (migration " + status + ")";
}

// How soon after its evacuation is accepted a move's record is first looked at: a tenth of the
// poll interval (at least 10 ms), then twice as long each time up to the poll interval, so a
// fast cloud is not waited on in whole seconds and a slow one is not asked more often.
constexpr int64_t kEarlyNewsKept = 60'000'000;  // news before its move waits: kept a minute
constexpr int64_t kAfterNews = 250'000;  // the look after one that news asked for

int64_t FirstLook(int64_t poll_interval) {
  return std::clamp<int64_t>(poll_interval / 10, 10'000, std::max<int64_t>(poll_interval, 10'000));
}

void AddFlavor(drivers::Flavor& to, const drivers::Flavor& f, int sign) {
  to.vcpus += sign * f.vcpus;
  to.ram_mb += sign * f.ram_mb;
  to.disk_gb += sign * f.disk_gb;
}

}  // namespace

Evacuations::Evacuations(TaskContext& ctx)
    : ctx_(ctx),
      segment_slots_(ctx.loop(), ctx.options().max_parallel_evacuations),
      dest_slots_(ctx.loop(), ctx.options().max_parallel_per_destination) {}

// --- the task --------------------------------------------------------------------------------

Task<Result<TaskResult>> Evacuations::EvacuateInstances(std::shared_ptr<Recovery> rec) {
  const std::string host = rec->host.name;
  if (!rec->fence_confirmed) {
    co_return FailedPrecondition("Host " + host +
                                 " is not confirmed fenced; refusing to evacuate its instances.");
  }
  std::vector<std::shared_ptr<Move>> to_plan, to_resume;
  for (auto& m : rec->moves) {
    m->done = false;
    switch (m->v.status) {
      case VMoveStatus::kSucceeded:
      case VMoveStatus::kIgnored:
        m->done = true;
        if (m->v.warden_locked) ctx_.detached().Spawn(ReleaseLock(nullptr, m, nullptr));  // failed before
        break;
      case VMoveStatus::kOngoing:
        to_resume.push_back(m);
        break;
      case VMoveStatus::kFailed:  // a retry of the notification tries them again
      case VMoveStatus::kPending:
        m->v.status = VMoveStatus::kPending;
        m->v.dest_host.reset();
        m->v.end_time.reset();
        m->attempts = 0;
        m->tried.clear();
        to_plan.push_back(m);
        break;
    }
  }
  rec->moves_left = int64_t(to_plan.size() + to_resume.size());
  rec->moves_total = rec->moves_left;
  rec->moves_failed = 0;
  rec->last_reported_decile = 0;
  if (rec->moves_left == 0) {
    co_return TaskResult{Outcome::kContinue, "Every instance was already evacuated."};
  }
  ctx_.Progress(*rec, kTask,
                "Evacuating " + std::to_string(rec->moves_left) + " instances (method " +
                    std::string(ToString(rec->segment.recovery_method)) + ", up to " +
                    std::to_string(ctx_.options().max_parallel_evacuations) + " at a time).",
                0.05);
  // FinishMove answers once the last move has ended.
  co_return co_await Answer<Result<TaskResult>>(
      [&](std::function<void(Result<TaskResult>)> all_ended) {
        rec->evacuate_done = std::move(all_ended);
        rec->scope.Spawn(StartAll(rec, std::move(to_plan), std::move(to_resume)));
      });
}

Task<void> Evacuations::StartAll(std::shared_ptr<Recovery> rec,
                                 std::vector<std::shared_ptr<Move>> to_plan,
                                 std::vector<std::shared_ptr<Move>> to_resume) {
  // Instances recorded before a restart: their flavor and state come from the cloud again.
  std::vector<Task<void>> fetches;
  for (auto* list : {&to_plan, &to_resume}) {
    for (auto& m : *list) {
      if (!m->instance) fetches.push_back(FetchInstance(rec, m));
    }
  }
  co_await WhenAll(rec->scope, std::move(fetches));

  for (auto& m : to_resume) {
    if (!m->Ended()) rec->scope.Spawn(RunMove(rec, m));
  }
  std::vector<std::shared_ptr<Move>> plan;
  for (auto& m : to_plan) {
    if (!m->Ended()) plan.push_back(m);
  }
  if (!plan.empty()) co_await PlanAndStart(rec, std::move(plan));
}

Task<void> Evacuations::FetchInstance(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  Result<drivers::Instance> r = co_await ctx_.Call<drivers::Instance>(
      [&](drivers::Callback<drivers::Instance> cb) { ctx_.compute().GetInstance(m->v.instance_uuid, cb); });
  if (r) {
    m->instance = *r;
    if (m->original_state.empty()) m->original_state = r->vm_state;
  } else if (r.error().code() == ErrorCode::kNotFound) {
    co_await EndMove(rec, m, VMoveStatus::kIgnored, "The instance no longer exists.");
  } else {
    co_await EndMove(rec, m, VMoveStatus::kFailed, "Cannot read the instance: " + r.error().message());
  }
}

// --- planning --------------------------------------------------------------------------------

Task<void> Evacuations::PlanAndStart(std::shared_ptr<Recovery> rec,
                                     std::vector<std::shared_ptr<Move>> moves) {
  Result<std::vector<HostCapacity>> caps = co_await Capacity(rec);
  if (!caps) {
    // Capacity is an optimisation, never a reason not to recover.
    ctx_.Progress(*rec, kTask,
                  "Cannot read the cloud's hosts (" + caps.error().message() +
                      "): each destination is left to the cloud's scheduler.",
                  0.05);
    ctx_.Log("warning", "destinations left to the cloud's scheduler", *rec,
             {{"error", caps.error().message()}});
    for (auto& m : moves) {
      m->planned_dest.clear();
      rec->scope.Spawn(RunMove(rec, m));
    }
    co_return;
  }
  const EvacuationPlan plan = PlanEvacuation(PlanRequestFor(*rec, std::move(*caps), moves));

  // Reserved hosts are brought into service before anything is sent to them; as in Masakari
  // they then stop being reserved, which is reported here.
  std::vector<Task<void>> bring_in;
  for (const std::string& name : plan.reserved_hosts_used) {
    bring_in.push_back(BringReservedHostIn(rec, name));
  }
  co_await WhenAll(rec->scope, std::move(bring_in));

  for (size_t i = 0; i < moves.size(); ++i) {
    auto& m = moves[i];
    const Placement& p = plan.placements[i];
    if (!p.destination) {
      rec->scope.Spawn(EndMove(rec, m, VMoveStatus::kFailed, p.reason));
      continue;
    }
    m->v.dest_host = *p.destination;
    Reserve(*m, *p.destination);
    m->planned_dest = *p.destination;
    rec->scope.Spawn(RunMove(rec, m));
  }
}

// A capacity snapshot of the candidate destinations: the segment's hosts (or every host, with
// stay_in_segment off) as the cloud sizes them, less what moves under way were promised. When
// the cloud cannot size its hosts, each is taken as equal and ample (see Candidates) and the
// recovery says so once.
Task<Result<std::vector<HostCapacity>>> Evacuations::Capacity(std::shared_ptr<Recovery> rec) {
  const EngineOptions& o = ctx_.options();
  auto hosts = store::ReadValue<std::vector<Host>>(ctx_.store(), [&](store::ReadTx& tx) {
    store::HostFilter f;
    if (o.stay_in_segment) f.segment_uuid = rec->segment.uuid;
    store::Page page;
    page.limit = 1'000'000;
    return tx.ListHosts(f, page);
  });
  if (!hosts) co_return std::unexpected(hosts.error());

  Result<std::vector<drivers::HostResources>> res =
      co_await ctx_.Call<std::vector<drivers::HostResources>>(
          [&](drivers::Callback<std::vector<drivers::HostResources>> cb) {
            ctx_.compute().ListHostResources(cb);
          });
  if (!res && !rec->capacity_unknown_told) {
    rec->capacity_unknown_told = true;
    ctx_.Progress(*rec, kTask,
                  "Cannot read the cloud's capacity (" + res.error().message() +
                      "): destinations are spread over the usable hosts without it; the "
                      "cloud's scheduler still checks each.",
                  ctx_.ProgressOf(*rec, kTask));
    ctx_.Log("warning", "capacity unknown; destinations chosen without it", *rec,
             {{"error", res.error().message()}});
  }
  std::erase_if(*hosts, [&](const Host& h) { return h.uuid == rec->host.uuid; });
  if (hosts->empty()) co_return std::vector<HostCapacity>{};

  // One listing of the compute services, not a call per candidate host.
  Result<std::vector<drivers::ComputeService>> services =
      co_await ctx_.Call<std::vector<drivers::ComputeService>>(
          [&](drivers::Callback<std::vector<drivers::ComputeService>> cb) {
            ctx_.compute().ListServices(cb);
          });
  if (!services) co_return std::unexpected(services.error());
  co_return Candidates(*hosts, res ? &*res : nullptr, *services, inflight_,
                       [&](const std::string& uuid) { return ctx_.HostUnderRecovery(uuid); });
}

Task<void> Evacuations::BringReservedHostIn(std::shared_ptr<Recovery> rec, std::string name) {
  ctx_.Progress(*rec, kTask, "Reserved host " + name + " is used and is no longer reserved.", 0.05);
  const WallMicros now = ctx_.clock().Now();
  ctx_.journal().Persist([name, now](store::WriteTx& tx) -> Result<void> {
    auto h = tx.FindHostByName(name);
    if (!h || !*h) return {};
    (*h)->reserved = false;
    (*h)->meta.updated_at = now;
    return tx.UpdateHost(**h);
  });
  // As Masakari's add_reserved_host_to_aggregate: Nova's scheduler then accepts the host for
  // the failed host's instances.
  if (ctx_.options().add_reserved_host_to_aggregate) co_await JoinAggregatesOf(rec, name);
  Result<void> r = co_await ctx_.Call<void>(
      [&](drivers::Callback<void> cb) { ctx_.compute().SetServiceEnabled(name, true, "", cb); });
  if (!r) {
    ctx_.Log("warning", "cannot enable reserved host", *rec,
             {{"reserved_host", name}, {"error", r.error().message()}});
  }
}

Task<void> Evacuations::JoinAggregatesOf(std::shared_ptr<Recovery> rec, std::string reserved) {
  const std::string failed = rec->host.name;
  Result<std::vector<drivers::Aggregate>> list = co_await ctx_.Call<std::vector<drivers::Aggregate>>(
      [&](drivers::Callback<std::vector<drivers::Aggregate>> cb) { ctx_.compute().ListAggregates(cb); });
  if (!list) {
    ctx_.Log("warning", "cannot list aggregates", *rec, {{"error", list.error().message()}});
    co_return;
  }
  std::vector<Task<void>> joins;
  for (const auto& a : *list) {
    const auto has = [&](const std::string& h) {
      return std::find(a.hosts.begin(), a.hosts.end(), h) != a.hosts.end();
    };
    if (!has(failed) || has(reserved)) continue;
    ctx_.Progress(*rec, kTask, "Adding reserved host " + reserved + " to aggregate " + a.name + ".",
                  0.05);
    joins.push_back([](Evacuations* self, std::shared_ptr<Recovery> rec, std::string id,
                       std::string name, std::string reserved) -> Task<void> {
      Result<void> r = co_await self->ctx_.Call<void>([&](drivers::Callback<void> cb) {
        self->ctx_.compute().AddHostToAggregate(id, reserved, cb);
      });
      if (!r) {
        self->ctx_.Log("warning", "cannot add reserved host to aggregate", *rec,
                       {{"reserved_host", reserved}, {"aggregate", name},
                        {"error", r.error().message()}});
      }
    }(this, rec, a.id, a.name, reserved));
  }
  co_await WhenAll(rec->scope, std::move(joins));
}

// The plan request for `moves` of rec over a capacity snapshot; hosts that already failed a
// move are not candidates for it (only meaningful for a single move).
PlanRequest Evacuations::PlanRequestFor(const Recovery& rec, std::vector<HostCapacity> hosts,
                                        const std::vector<std::shared_ptr<Move>>& moves) const {
  PlanRequest req;
  req.method = rec.segment.recovery_method;
  req.segment_uuid = rec.segment.uuid;
  req.stay_in_segment = ctx_.options().stay_in_segment;
  req.hosts = std::move(hosts);
  if (moves.size() == 1) {
    for (auto& h : req.hosts) {
      if (moves[0]->tried.contains(h.name)) h.usable = false;
    }
  }
  for (const auto& m : moves) {
    const auto& f = m->instance->flavor;
    req.instances.push_back({m->v.instance_uuid, Flavor{f.vcpus, f.ram_mb, f.disk_gb},
                             IsHaEnabled(*m->instance, ctx_.options().ha_enabled_key)});
  }
  return req;
}

// Capacity promised to a move's destination until the move ends or moves on; the planner sees
// it deducted, so concurrent recoveries do not overcommit one host.
void Evacuations::Reserve(Move& m, const std::string& dest) {
  Unreserve(m);
  m.reserved_dest = dest;
  AddFlavor(inflight_[dest], m.instance->flavor, 1);
}

void Evacuations::Unreserve(Move& m) {
  if (m.reserved_dest.empty()) return;
  AddFlavor(inflight_[m.reserved_dest], m.instance->flavor, -1);
  m.reserved_dest.clear();
}

// --- one move --------------------------------------------------------------------------------

// One instance, from its slot to its end: an attempt on the planned destination, and after a
// failed attempt a new plan that leaves out the hosts already tried, up to
// [host_failure] evacuation_attempts attempts.
Task<void> Evacuations::RunMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  const EngineOptions& o = ctx_.options();
  KeyedSlots::Lease segment_slot = co_await segment_slots_.Acquire(rec->segment.uuid);
  if (m->Ended()) co_return;
  const bool resumed = m->v.status == VMoveStatus::kOngoing;
  std::string dest = resumed ? m->v.dest_host.value_or("") : m->planned_dest;
  bool reconcile_first = false;
  for (;;) {
    KeyedSlots::Lease dest_slot;
    if (!dest.empty()) {
      PaceOf(dest);
      KeyedSlots::Lease taken = co_await dest_slots_.Acquire(dest);
      dest_slot = std::move(taken);
    }
    if (m->Ended()) co_return;
    const AttemptEnd end = co_await Attempt(rec, m, dest, reconcile_first);
    if (end.kind == AttemptEnd::kEnded) co_return;
    if (!dest.empty() && end.rebuild_seen) {
      PaceDestination(dest, end.kind == AttemptEnd::kConfirmed, m->issued_at);
    }
    if (end.kind == AttemptEnd::kConfirmed) {
      co_await Settle(rec, m);
      co_return;
    }

    // The attempt failed: another destination, after a pause.
    ++m->attempts;
    if (m->v.dest_host) m->tried.insert(*m->v.dest_host);
    dest_slot.reset();
    Unreserve(*m);
    if (m->attempts >= o.evacuation_attempts) {
      co_await EndMove(rec, m, VMoveStatus::kFailed,
                       end.why + " (gave up after " + std::to_string(m->attempts) + " attempts)");
      co_return;
    }
    m->v.message =
        "attempt " + std::to_string(m->attempts) + " failed: " + end.why + "; retrying";
    ctx_.SaveMove(*m);
    ctx_.Log("warning", "evacuation attempt failed", *rec,
             {{"instance", m->v.instance_uuid},
              {"attempt", std::to_string(m->attempts)},
              {"error", end.why}});
    m->calls = 0;
    co_await ctx_.Sleep(o.call_retry.DelayBefore(m->attempts + 1, ctx_.rng()));
    if (m->Ended()) co_return;
    if (!m->instance) {  // nothing known to plan with: look at the cloud first, holding no slot
      reconcile_first = true;
      dest.clear();
      continue;
    }
    reconcile_first = false;
    Result<std::vector<HostCapacity>> caps = co_await Capacity(rec);
    if (!caps) {  // the cloud's scheduler chooses
      dest.clear();
      continue;
    }
    const EvacuationPlan plan = PlanEvacuation(PlanRequestFor(*rec, std::move(*caps), {m}));
    const Placement& p = plan.placements[0];
    if (!p.destination) {
      co_await EndMove(rec, m, VMoveStatus::kFailed, p.reason);
      co_return;
    }
    Reserve(*m, *p.destination);
    dest = *p.destination;
  }
}

// One attempt on `dest`: journal the intent, lock, issue, and follow the evacuation until it is
// confirmed on the instance. A lost or failed answer is reconciled against the cloud before
// anything is issued again.
Task<Evacuations::AttemptEnd> Evacuations::Attempt(std::shared_ptr<Recovery> rec,
                                                   std::shared_ptr<Move> m, std::string dest,
                                                   bool reconcile_first) {
  const EngineOptions& o = ctx_.options();
  enum class Step { kIssue, kReconcile, kConfirm };
  Step step = Step::kIssue;
  bool issued_here = false;  // this attempt's evacuate call was accepted
  // A move found `ongoing` after a restart may have been issued: look before acting.
  if (reconcile_first ||
      (m->v.status == VMoveStatus::kOngoing && m->calls == 0 && m->attempts == 0)) {
    step = Step::kReconcile;
  } else {
    m->v.status = VMoveStatus::kOngoing;
    if (dest.empty()) {
      m->v.dest_host.reset();  // the cloud's scheduler chooses
    } else {
      m->v.dest_host = dest;
    }
    if (!m->v.start_time) m->v.start_time = ctx_.clock().Now();
    // The lock is recorded before it is taken: after a crash, Warden still knows the lock is
    // its own to release. An instance its owner locked is left locked and unlocked alike.
    if (o.lock_instances && !m->v.warden_locked && m->instance && !m->instance->locked) {
      m->v.warden_locked = true;
    }
    if (m->attempts == 0) m->v.message.reset();
    VMove v = m->v;
    v.meta.updated_at = ctx_.clock().Now();
    // The intent is durable before the call: after a crash, an `ongoing` move is reconciled
    // against the cloud, never blindly issued again.
    Journal::Write intent = [v](store::WriteTx& tx) { return tx.UpdateVMove(v); };
    Result<void> w = co_await ctx_.journal().Commit(std::move(intent));
    if (!w) {
      co_await EndMove(rec, m, VMoveStatus::kFailed, "journal write failed");
      co_return AttemptEnd{AttemptEnd::kEnded};
    }
  }
  const std::string uuid = m->v.instance_uuid;

  for (;;) {
    if (step == Step::kIssue) {
      if (m->v.warden_locked && !m->lock_sent) co_await Lock(rec, m);
      // Nova evacuates only active, stopped or error instances with no task under way; as
      // Masakari does, reset the others to error first.
      const std::string& st = m->instance ? m->instance->vm_state : m->original_state;
      const bool evacuable = (st == "active" || st == "stopped" || st == "error") &&
                             !(m->instance && m->instance->task_state.has_value());
      if (!evacuable) {
        Result<void> reset = co_await ctx_.Call<void>(
            [&](drivers::Callback<void> cb) { ctx_.compute().ResetState(uuid, "error", cb); });
        if (!reset) {
          co_return AttemptEnd{AttemptEnd::kFailed,
                               "cannot reset the instance's state: " + reset.error().message()};
        }
        if (m->instance) {
          m->instance->vm_state = "error";
          m->instance->task_state.reset();
        }
      }
      ++ctx_.stats().evacuations_issued;
      ++m->calls;
      m->issued_at = ctx_.clock().Now();
      const std::optional<std::string> to = m->v.dest_host;
      Result<void> issued = co_await ctx_.CallOnce<void>(
          [&](drivers::Callback<void> cb) { ctx_.compute().Evacuate(uuid, to, cb); });
      if (issued) {
        issued_here = true;
        step = Step::kConfirm;
      } else if (IsRetryable(issued.error())) {
        // The call may have been accepted even though its answer was lost: look before
        // calling again.
        co_await ctx_.Sleep(o.call_retry.DelayBefore(m->calls + 1, ctx_.rng()));
        step = Step::kReconcile;
      } else {
        co_return AttemptEnd{AttemptEnd::kFailed,
                             "evacuation refused: " + issued.error().message()};
      }
    } else if (step == Step::kReconcile) {
      Result<drivers::Instance> i = co_await ctx_.Call<drivers::Instance>(
          [&](drivers::Callback<drivers::Instance> cb) { ctx_.compute().GetInstance(uuid, cb); });
      if (!i && i.error().code() == ErrorCode::kNotFound) {
        co_await EndMove(rec, m, VMoveStatus::kIgnored, "The instance no longer exists.");
        co_return AttemptEnd{AttemptEnd::kEnded};
      }
      if (!i) {
        co_return AttemptEnd{AttemptEnd::kFailed,
                             "cannot read the instance: " + i.error().message()};
      }
      m->instance = *i;
      if (i->host != m->v.source_host || i->task_state) {
        step = Step::kConfirm;
        continue;
      }
      const WallMicros since = m->IssuedSince();
      Result<std::vector<drivers::Migration>> l = co_await ctx_.Call<std::vector<drivers::Migration>>(
          [&](drivers::Callback<std::vector<drivers::Migration>> cb) {
            ctx_.compute().ListMigrations(uuid, cb);
          });
      if (!l) {
        co_return AttemptEnd{AttemptEnd::kFailed, "cannot list migrations: " + l.error().message()};
      }
      const drivers::Migration* latest = LatestEvacuation(*l, since, m->spent_records);
      if (latest == nullptr) {
        if (m->calls >= o.call_retry.attempts) {
          co_return AttemptEnd{AttemptEnd::kFailed, "the cloud did not accept the evacuation after " +
                                                        std::to_string(m->calls) + " calls"};
        }
        step = Step::kIssue;  // never accepted: safe to call again
        continue;
      }
      if (RecordFailed(latest)) {
        m->spent_records.insert(latest->id);
        co_return AttemptEnd{AttemptEnd::kFailed, FailedInCloud(latest->status), issued_here};
      }
      step = Step::kConfirm;
    } else {
      Result<void> confirmed = co_await Confirm(rec, m);
      if (!confirmed) {
        co_return AttemptEnd{AttemptEnd::kFailed, confirmed.error().message(), issued_here};
      }
      co_return AttemptEnd{AttemptEnd::kConfirmed, "", issued_here};
    }
  }
}

// Locks the instance against its owner while it moves. One try: a slow or refused lock must
// not hold the evacuation back. The call outlives the recovery, so that a lock that lands after
// a cancel is released.
Task<void> Evacuations::Lock(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  m->lock_sent = true;
  m->lock_in_flight = true;
  Result<void> locked = co_await Answer<Result<void>>([&](std::function<void(Result<void>)> done) {
    ctx_.detached().Spawn(LockDetached(rec, m, std::move(done)));
  });
  if (!locked) {
    ctx_.Log("warning", "cannot lock the instance", *rec,
             {{"instance", m->v.instance_uuid}, {"error", locked.error().message()}});
  }
}

Task<void> Evacuations::LockDetached(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                     std::function<void(Result<void>)> done) {
  const std::string reason =
      "Warden: evacuating from " + m->v.source_host + " (notification " + rec->n.uuid + ")";
  Result<void> r = co_await ctx_.CallOnce<void>([&](drivers::Callback<void> cb) {
    ctx_.compute().LockInstance(m->v.instance_uuid, reason, cb);
  });
  m->lock_in_flight = false;
  if (m->release_after_lock) {
    m->release_after_lock = false;
    co_await ReleaseLock(nullptr, m, nullptr);
    co_return;
  }
  done(std::move(r));  // dropped if the move has ended meanwhile
}

// An accepted evacuation is followed through the cloud's migration records — one listing per
// poll for all the recovery's moves, not a read of every instance every poll — and, once its
// record has ended, confirmed on the instance itself (host, state, no task under way).
Task<Result<void>> Evacuations::Confirm(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  const EngineOptions& o = ctx_.options();
  const MonoMicros deadline = ctx_.clock().Monotonic() + o.evacuation_timeout_micros;
  if (!follow_each_instance_) {
    RecordNews news = co_await Answer<RecordNews>([&](std::function<void(RecordNews)> tell) {
      const int64_t first = FirstLook(o.poll_interval_micros);
      MonoMicros look = ctx_.clock().Monotonic() + first;
      if (auto early = early_news_.find(m->v.instance_uuid); early != early_news_.end()) {
        if (ctx_.clock().Monotonic() - early->second <= kEarlyNewsKept) {
          look = ctx_.clock().Monotonic();  // Nova already said the rebuild ended
        }
        early_news_.erase(early);
      }
      rec->awaiting.push_back({m, deadline, std::move(tell), look, first});
      if (!rec->watching) {
        rec->watching = true;
        rec->scope.Spawn(WatchEvacuations(rec));
      } else if (rec->wake_watcher && look < rec->watcher_due) {
        std::exchange(rec->wake_watcher, nullptr)(true);  // it sleeps until later: sooner
      }
    });
    if (news.verdict == RecordVerdict::kFailed) {
      co_return MakeError(ErrorCode::kAborted, FailedInCloud(news.status));
    }
    if (news.verdict == RecordVerdict::kTimedOut) {
      co_return MakeError(ErrorCode::kDeadlineExceeded,
                          "not active on a new host within " +
                              Seconds(o.evacuation_timeout_micros) + " s");
    }
    // kDone, or kFollowInstance: the cloud cannot list evacuations in one call.
  }
  co_return co_await ConfirmOnInstance(rec, m, deadline);
}

Evacuations::DestPace& Evacuations::PaceOf(const std::string& dest) {
  auto [it, made] = dest_pace_.try_emplace(dest);
  if (made) {
    it->second.window = std::min(kInitialPerDestination, ctx_.options().max_parallel_per_destination);
    dest_slots_.SetLimit(dest, int(it->second.window));
  }
  return it->second;
}

void Evacuations::PaceDestination(const std::string& dest, bool clean, WallMicros issued) {
  constexpr int64_t kSlowMargin = 10'000'000;
  DestPace& p = PaceOf(dest);
  const WallMicros now = ctx_.clock().Now();
  const int64_t took = std::max<int64_t>(0, now - issued);
  const double cap = std::max(1, ctx_.options().max_parallel_per_destination);
  const int before = int(p.window);
  if (clean && (p.fastest < 0 || took < p.fastest)) p.fastest = took;
  const bool slow = clean && took > 4 * p.fastest + kSlowMargin;
  if (!clean || slow) {
    // One burst of trouble cuts once: rebuilds issued before the last cut ran at the old pace.
    if (issued <= p.last_cut) return;
    p.last_cut = now;
    p.growing_fast = false;
    p.window = std::max(1.0, p.window * (clean ? 0.8 : 0.5));
  } else {
    p.window = std::min(cap, p.window + (p.growing_fast ? 1.0 : 1.0 / p.window));
  }
  if (int(p.window) == before) return;
  dest_slots_.SetLimit(dest, int(p.window));
  if (int(p.window) < before) {
    ctx_.Log("warning", "fewer evacuations at once to a destination",
             {{"host", dest},
              {"at_once", std::to_string(int(p.window))},
              {"why", clean ? "a rebuild took " + Seconds(took) + " s" : "a rebuild failed"}});
  }
}

std::string Evacuations::PaceNote() const {
  std::string note = ctx_.compute().PaceNote();
  std::string dests;
  int shown = 0;
  for (const auto& [dest, p] : dest_pace_) {
    if (++shown > 5) {
      dests += ", ...";
      break;
    }
    dests += (dests.empty() ? "" : ", ") + dest + " " + std::to_string(int(p.window));
  }
  if (dests.empty()) return note.empty() ? "" : "Pace: " + note + ".";
  return "Pace: " + (note.empty() ? "" : note + "; ") + "evacuations at once per destination: " +
         dests + ".";
}

bool Evacuations::InstanceNews(const std::string& instance_uuid,
                               const std::map<std::string, std::shared_ptr<Recovery>>& active) {
  const MonoMicros now = ctx_.clock().Monotonic();
  for (const auto& [_, rec] : active) {
    for (Recovery::Awaiting& a : rec->awaiting) {
      if (a.move->v.instance_uuid != instance_uuid || a.move->Ended()) continue;
      a.next_look = now;
      a.news_at = now;
      if (rec->wake_watcher && now < rec->watcher_due) {
        std::exchange(rec->wake_watcher, nullptr)(true);
      }
      return true;
    }
  }
  // Not waiting (yet): the event may have beaten the answer to the evacuate call. Kept a
  // minute, for the moves of the recoveries under way only.
  std::erase_if(early_news_, [&](const auto& e) { return now - e.second > kEarlyNewsKept; });
  for (const auto& [_, rec] : active) {
    for (const auto& m : rec->moves) {
      if (m->v.instance_uuid == instance_uuid && !m->Ended()) {
        early_news_[instance_uuid] = now;
        return false;
      }
    }
  }
  return false;
}

// While moves wait for their records: one listing of the evacuations since the oldest of them
// whenever one of them wants a look (FirstLook, then backing off to the poll interval), and each
// move told what became of its record.
Task<void> Evacuations::WatchEvacuations(std::shared_ptr<Recovery> rec) {
  const EngineOptions& o = ctx_.options();
  for (;;) {
    std::erase_if(rec->awaiting, [](const Recovery::Awaiting& a) { return a.move->Ended(); });
    if (rec->awaiting.empty()) {
      rec->watching = false;
      co_return;
    }
    MonoMicros due = std::numeric_limits<MonoMicros>::max();
    for (const auto& a : rec->awaiting) due = std::min(due, a.next_look);
    if (const MonoMicros now = ctx_.clock().Monotonic(); due > now) {
      rec->watcher_due = due;
      co_await Answer<bool>(ctx_.loop(), due - now, [] { return true; },
                            [&](std::function<void(bool)> wake) { rec->wake_watcher = wake; });
      rec->wake_watcher = nullptr;
      continue;  // due, or woken for a move that wants a look sooner
    }
    WallMicros since = std::numeric_limits<WallMicros>::max();
    for (const auto& a : rec->awaiting) since = std::min(since, a.move->IssuedSince());
    const MonoMicros listed_at = ctx_.clock().Monotonic();
    Result<std::vector<drivers::Migration>> l = co_await ctx_.CallOnce<std::vector<drivers::Migration>>(
        [&](drivers::Callback<std::vector<drivers::Migration>> cb) {
          ctx_.compute().ListEvacuationsSince(since, cb);
        });
    std::vector<Recovery::Awaiting> awaiting = std::move(rec->awaiting);
    rec->awaiting.clear();
    if (!l && l.error().code() == ErrorCode::kUnimplemented) {
      follow_each_instance_ = true;
      rec->watching = false;
      for (auto& a : awaiting) {
        if (!a.move->Ended()) a.tell({RecordVerdict::kFollowInstance, ""});
      }
      co_return;
    }
    std::map<std::string, std::vector<drivers::Migration>> by_instance;
    if (l) {
      for (auto& mig : *l) by_instance[mig.instance_uuid].push_back(std::move(mig));
    }
    const MonoMicros now = ctx_.clock().Monotonic();
    std::vector<std::pair<std::function<void(RecordNews)>, RecordNews>> news;
    for (auto& a : awaiting) {
      Move& m = *a.move;
      if (m.Ended()) continue;
      const drivers::Migration* latest = nullptr;
      if (auto it = by_instance.find(m.v.instance_uuid); it != by_instance.end()) {
        latest = LatestEvacuation(it->second, m.IssuedSince(), m.spent_records);
      }
      const std::string status = latest ? latest->status : "";
      if (RecordFailed(latest)) {
        m.spent_records.insert(latest->id);
        news.push_back({std::move(a.tell), {RecordVerdict::kFailed, status}});
      } else if (status == "done" || status == "completed") {
        news.push_back({std::move(a.tell), {RecordVerdict::kDone, ""}});
      } else if (now >= a.deadline) {
        news.push_back({std::move(a.tell), {RecordVerdict::kTimedOut, ""}});
      } else {
        // Not ended yet (or the listing failed): look again later, a little less soon.
        a.interval = std::min(a.interval * 2, std::max(o.poll_interval_micros, a.interval));
        // News that came while the listing was under way may be newer than the listing.
        // Nova sends rebuild.end just before it marks the record done: after the news, one
        // more look soon.
        const bool news_since = a.news_at >= listed_at;
        const bool had_news = a.news_at >= 0;
        a.news_at = -1;
        a.next_look = news_since ? now
                      : had_news ? now + std::min<int64_t>(a.interval, kAfterNews)
                                 : now + a.interval;
        rec->awaiting.push_back(std::move(a));
      }
    }
    const bool more = !rec->awaiting.empty();
    if (!more) rec->watching = false;
    for (auto& [tell, what] : news) tell(what);
    if (!more) co_return;
  }
}

Task<Result<void>> Evacuations::ConfirmOnInstance(std::shared_ptr<Recovery> rec,
                                                  std::shared_ptr<Move> m, MonoMicros deadline) {
  Result<void> r = co_await ctx_.WaitUntil(
      deadline, [&] { return MovedOff(m); }, "evacuation not confirmed");
  if (!r && r.error().code() == ErrorCode::kDeadlineExceeded) {
    co_return MakeError(ErrorCode::kDeadlineExceeded,
                        "not active on a new host within " +
                            Seconds(ctx_.options().evacuation_timeout_micros) + " s");
  }
  co_return r;
}

// One look at the instance: on its new host with no task under way (done), in error (failed),
// or not yet.
Task<std::optional<Result<void>>> Evacuations::MovedOff(std::shared_ptr<Move> m) {
  const std::string uuid = m->v.instance_uuid;
  Result<drivers::Instance> r = co_await ctx_.CallOnce<drivers::Instance>(
      [&](drivers::Callback<drivers::Instance> cb) { ctx_.compute().GetInstance(uuid, cb); });
  if (!r) co_return std::nullopt;  // keep looking until the deadline
  m->instance = *r;
  if (r->task_state) co_return std::nullopt;
  if (r->vm_state == "error" && r->host != m->v.source_host && m->v.restore_state == "error") {
    // On its new host and in the state it is to be left in: evacuated (and maybe set back to
    // error before a restart).
    m->v.dest_host = r->host;
    co_return Result<void>{};
  }
  if (r->vm_state == "error") {
    co_return Result<void>(MakeError(ErrorCode::kAborted, "the instance went to error during the rebuild"));
  }
  if (r->host != m->v.source_host) {
    m->v.dest_host = r->host;
    co_return Result<void>{};
  }
  // Still on the failed host with no task under way: the rebuild ended without moving it
  // (Nova keeps the instance's state when, say, the named destination is refused). The
  // migration record says whether it failed.
  const WallMicros since = m->IssuedSince();
  Result<std::vector<drivers::Migration>> l = co_await ctx_.CallOnce<std::vector<drivers::Migration>>(
      [&](drivers::Callback<std::vector<drivers::Migration>> cb) {
        ctx_.compute().ListMigrations(uuid, cb);
      });
  if (!l) co_return std::nullopt;
  const drivers::Migration* latest = LatestEvacuation(*l, since, m->spent_records);
  if (RecordFailed(latest)) {
    m->spent_records.insert(latest->id);
    co_return Result<void>(MakeError(ErrorCode::kAborted, FailedInCloud(latest->status)));
  }
  co_return std::nullopt;
}

// The instance runs on its new host: leave it in the state it had before the failure, then end
// the move.
Task<void> Evacuations::Settle(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  const EngineOptions& o = ctx_.options();
  const std::string note = m->attempts == 0 ? ""
                                            : "recovered on attempt " +
                                                  std::to_string(m->attempts + 1) + "; " +
                                                  m->v.message.value_or("");
  const std::string restore = m->v.restore_state.value_or("");
  const bool running = m->instance && m->instance->vm_state == "active";
  if ((restore != "stopped" && restore != "error") || (restore == "stopped" && !running)) {
    co_await EndMove(rec, m, VMoveStatus::kSucceeded, note);
    co_return;
  }
  const std::string uuid = m->v.instance_uuid;
  std::string what;
  if (running) {
    Result<void> stop = co_await ctx_.Call<void>(
        [&](drivers::Callback<void> cb) { ctx_.compute().StopInstance(uuid, cb); });
    if (!stop) {
      what = "evacuated, but could not be stopped: " + stop.error().message();
    } else {
      Result<void> stopped = co_await ctx_.WaitUntil(
          ctx_.clock().Monotonic() + o.power_off_timeout_micros,
          [&] { return InstanceReached(ctx_, uuid, "stopped"); },
          "not stopped within " + Seconds(o.power_off_timeout_micros) + " s");
      if (!stopped) what = "evacuated, but not confirmed stopped: " + stopped.error().message();
    }
  }
  if (what.empty() && restore != "error") {
    what = "stopped on its new host, as it was not running before the failure";
  } else if (what.empty()) {
    Result<void> reset = co_await ctx_.Call<void>(
        [&](drivers::Callback<void> cb) { ctx_.compute().ResetState(uuid, "error", cb); });
    what = reset ? "stopped and set back to error on its new host, as it was before the failure"
                 : "evacuated, but not set back to error: " + reset.error().message();
  }
  std::string message = note.empty() ? what : note + "; " + what;
  co_await EndMove(rec, m, VMoveStatus::kSucceeded, std::move(message));
}

// --- the end of a move -----------------------------------------------------------------------

// Ends the move; first releases the instance's lock if Warden holds it.
Task<void> Evacuations::EndMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                VMoveStatus status, std::string message) {
  if (m->Ended()) co_return;
  if (m->lock_in_flight) m->release_after_lock = true;  // released once the lock is answered
  if (!m->v.warden_locked || m->lock_in_flight) {
    FinishMove(*rec, *m, status, std::move(message));
    co_return;
  }
  m->ending = true;
  Result<void> released = co_await Answer<Result<void>>(
      [&](std::function<void(Result<void>)> done) {
        ctx_.detached().Spawn(ReleaseLock(rec, m, std::move(done)));
      });
  if (!released) {
    message += std::string(message.empty() ? "" : "; ") +
               "Warden's lock on it could not be released: " + released.error().message();
  }
  FinishMove(*rec, *m, status, std::move(message));
}

// Releases Warden's lock on the instance (retrying transient errors), whatever became of the
// recovery: at the move's end, after a cancel, or for a failed unlock found on a later run.
// The move records the lock as released only once the cloud has confirmed it (a deleted
// instance has none). `done` (with `rec`) gets the outcome while the recovery runs, and its
// caller saves the move; otherwise the move is saved here.
Task<void> Evacuations::ReleaseLock(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                    std::function<void(Result<void>)> done) {
  if (m->lock_in_flight) {
    m->release_after_lock = true;
    co_return;
  }
  const EngineOptions& o = ctx_.options();
  const bool answer = done && rec;
  for (int attempt = 1;; ++attempt) {
    Result<void> r = co_await ctx_.CallOnce<void>(
        [&](drivers::Callback<void> cb) { ctx_.compute().UnlockInstance(m->v.instance_uuid, cb); });
    if (r || r.error().code() == ErrorCode::kNotFound) {
      m->v.warden_locked = false;
      if (answer && !rec->finished) {
        done(Result<void>{});
      } else {
        ctx_.SaveMove(*m);
      }
      co_return;
    }
    if (IsRetryable(r.error()) && attempt < o.call_retry.attempts) {
      co_await ctx_.Sleep(o.call_retry.DelayBefore(attempt + 1, ctx_.rng()));
      continue;
    }
    ctx_.Log("warning", "cannot unlock the instance",
             {{"notification", m->v.notification_uuid},
              {"instance", m->v.instance_uuid},
              {"error", r.error().message()}});
    if (answer && !rec->finished) {
      done(std::unexpected(r.error()));
    } else if (answer) {
      ctx_.SaveMove(*m);  // the recovery ended meanwhile: record the move as it is
    }
    co_return;
  }
}

void Evacuations::FinishMove(Recovery& rec, Move& m, VMoveStatus status, std::string message) {
  if (m.done) return;
  m.done = true;
  m.v.status = status;
  if (message.empty()) {
    m.v.message.reset();
  } else {
    m.v.message = message;
  }
  m.v.end_time = ctx_.clock().Now();
  Unreserve(m);
  ctx_.SaveMove(m);
  if (rec.finished) return;
  const int64_t total = rec.moves_total;
  if (status == VMoveStatus::kSucceeded) ++ctx_.stats().evacuations_succeeded;
  if (status == VMoveStatus::kFailed) {
    ++ctx_.stats().evacuations_failed;
    ++rec.moves_failed;
    ctx_.Progress(rec, kTask,
                  "Instance " + m.v.instance_name + " (" + m.v.instance_uuid + "): " + message,
                  ctx_.ProgressOf(rec, kTask), false);
    ctx_.Log("warning", "evacuation failed", rec,
             {{"instance", m.v.instance_uuid}, {"error", message}});
  }
  --rec.moves_left;
  const int64_t finished = std::max<int64_t>(0, total - rec.moves_left);
  const int64_t decile = total > 0 ? finished * 10 / total : 10;
  if (decile > rec.last_reported_decile || rec.moves_left == 0) {
    rec.last_reported_decile = decile;
    const std::string pace = PaceNote();
    ctx_.Progress(rec, kTask,
                  std::to_string(finished) + " of " + std::to_string(total) +
                      " instances done (" + std::to_string(rec.moves_failed) + " failed)." +
                      (pace.empty() ? "" : " " + pace),
                  0.05 + 0.95 * double(finished) / double(std::max<int64_t>(total, 1)));
  }
  if (rec.moves_left == 0 && rec.evacuate_done) {
    auto done = std::exchange(rec.evacuate_done, nullptr);
    if (rec.moves_failed > 0) {
      return done(FailedPrecondition(std::to_string(rec.moves_failed) + " of " +
                                     std::to_string(total) + " evacuations failed."));
    }
    done(TaskResult{Outcome::kContinue, "All " + std::to_string(total) + " instances evacuated."});
  }
}

void Evacuations::Ended(Recovery& rec, NotificationStatus status, const std::string& message) {
  rec.evacuate_done = nullptr;
  rec.awaiting.clear();
  rec.wake_watcher = nullptr;
  for (auto& m : rec.moves) {
    if (m->done) continue;
    // Released without waiting (nothing of this recovery runs after this), and recorded as
    // released only once the cloud confirms it.
    if (m->v.warden_locked && !m->ending) ctx_.detached().Spawn(ReleaseLock(nullptr, m, nullptr));
    if (m->v.status == VMoveStatus::kSucceeded || m->v.status == VMoveStatus::kFailed ||
        m->v.status == VMoveStatus::kIgnored) {
      continue;
    }
    Unreserve(*m);
    m->done = true;
    if (status == NotificationStatus::kFailed) {
      m->v.status = VMoveStatus::kFailed;
      m->v.message = message;
      m->v.end_time = ctx_.clock().Now();
      ctx_.SaveMove(*m);
    }
  }
}

}  // namespace warden::engine
