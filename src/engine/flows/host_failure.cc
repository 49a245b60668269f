// The host failure flow up to the evacuation: fence the host (FenceHostTask), tell Nova it is
// down and disable its compute service (DisableComputeServiceTask), list the instances to move
// and record a VM move for each (PrepareHAEnabledInstancesTask). The moves themselves are in
// evacuation.cc.
#include <algorithm>

#include "core/uuid.h"
#include "engine/flows/flows.h"

namespace warden::engine {
namespace {

// The state a move leaves an instance in on its new host, decided from its state on the failed
// host. Nova rebuilds an evacuated instance active, except a stopped one, which stays stopped;
// an instance that was not running for its owner (stopped, paused, suspended, rescued, a
// resize awaiting confirmation with the guest off) is stopped again, and one in error is left
// in error (stopped) as Masakari does, so that its owner still sees it needs attention.
std::string RestoreStateFor(const drivers::Instance& i) {
  if (i.vm_state == "active" || i.vm_state == "building") return "active";
  if (i.vm_state == "error") return "error";
  if (i.vm_state == "resized")
    return i.power_state == drivers::kPowerRunning ? "active" : "stopped";
  return "stopped";
}

// Deleted instances are gone for their owner; recovering one would bring it back.
bool IsDeleted(const drivers::Instance& i) {
  return i.vm_state == "soft-delete" || i.vm_state == "deleted";  // Nova's vm_states
}

// Whether the BMC reports the host off; a fencer that knows it cannot confirm (every fencing
// level failed) says so with a non-retryable error: no point polling to the deadline.
Task<std::optional<Result<void>>> PoweredOff(TaskContext& ctx, std::string host) {
  Result<drivers::PowerState> s = co_await ctx.CallOnce<drivers::PowerState>(
      [&](drivers::Callback<drivers::PowerState> cb) { ctx.fencer().GetPowerState(host, cb); });
  if (s && *s == drivers::PowerState::kOff) co_return Result<void>{};
  if (!s && s.error().code() == ErrorCode::kFailedPrecondition) {
    co_return Result<void>(std::unexpected(s.error()));
  }
  co_return std::nullopt;
}

}  // namespace

InstanceChoice ChooseInstances(const std::string& host, std::vector<drivers::Instance> listed,
                               const EngineOptions& o) {
  InstanceChoice out;
  std::vector<drivers::Instance> other;
  for (auto& i : listed) {
    if (i.host != host) continue;  // exact host only, whatever the driver matched
    if (IsDeleted(i)) {
      ++out.skipped_deleted;
    } else if (o.ignore_instances_in_error_state && i.vm_state == "error") {
      ++out.skipped_error;
    } else if (IsHaEnabled(i, o.ha_enabled_key)) {
      out.instances.push_back(std::move(i));
    } else if (o.evacuate_all_instances) {
      other.push_back(std::move(i));
    } else {
      ++out.skipped_non_ha;
    }
  }
  out.ha = int64_t(out.instances.size());
  for (auto& i : other) out.instances.push_back(std::move(i));
  return out;
}

// Fence before evacuate: the host is powered off through its BMC and the power state confirmed
// off, or nothing is moved. A host without a fencer is trusted off only on the monitor's word
// (host_status NORMAL), if the operator allowed it.
TaskAnswer FenceHost(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const std::string host = rec->host.name;
  const std::string task(kFenceHost);
  const EngineOptions& o = ctx.options();
  if (!ctx.fencer().Covers(host)) {
    auto status = rec->payload.find("host_status");
    const bool normal = status != rec->payload.end() && *status == "NORMAL";
    if (o.triage.unfenced_hosts != UnfencedHosts::kTrustHostStatus || !normal) {
      co_return FailedPrecondition("Host " + host +
                                   " has no fencer and is not confirmed off; nothing is evacuated.");
    }
    rec->fence_confirmed = true;
    ctx.Progress(*rec, task,
                 "Host " + host +
                     " has no fencer: the monitor's host_status NORMAL is taken as confirmation "
                     "that it is powered off.",
                 1.0);
    co_return TaskResult{};
  }

  ctx.Progress(*rec, task, "Powering off host " + host + " through its BMC.", 0.1);
  const MonoMicros deadline = ctx.clock().Monotonic() + o.fence_timeout_micros;
  Result<void> off = co_await ctx.Call<void>(
      [&](drivers::Callback<void> cb) { ctx.fencer().PowerOff(host, cb); });
  if (!off) {
    ctx.Log("error", "ALARM fencing failed", *rec, {{"error", off.error().message()}});
    co_return FailedPrecondition("Fencing host " + host + " failed: " + off.error().message() +
                                 ". Nothing is evacuated.");
  }

  ctx.Progress(*rec, task, "Power off accepted; waiting for the BMC to report it off.", 0.5);
  Result<void> confirmed = co_await ctx.WaitUntil(
      deadline, [&] { return PoweredOff(ctx, host); }, "power off not confirmed");
  if (!confirmed && confirmed.error().code() == ErrorCode::kFailedPrecondition) {
    ctx.Log("error", "ALARM fencing failed", *rec, {{"error", confirmed.error().message()}});
    co_return FailedPrecondition("Fencing host " + host + " failed: " +
                                 confirmed.error().message() + ". Nothing is evacuated.");
  }
  if (!confirmed) {
    ctx.Log("error", "ALARM fencing not confirmed", *rec, {});
    co_return FailedPrecondition("Host " + host + " did not confirm power off within " +
                                 Seconds(o.fence_timeout_micros) + " s. Nothing is evacuated.");
  }

  rec->fence_confirmed = true;
  ctx.Progress(*rec, task, "Host " + host + " is powered off (confirmed by its BMC).", 1.0, false);
  co_return TaskResult{};
}

// forced_down first: Nova then counts the service as down at once, so disabling it does not
// wait on an RPC to a dead nova-compute, and evacuation is allowed without any sleep. Only a
// confirmed fence may tell Nova the host is dead.
TaskAnswer DisableComputeService(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const std::string host = rec->host.name;
  const std::string task(kDisableComputeService);
  std::string before;
  if (!rec->fence_confirmed) {
    ctx.Progress(*rec, task, "Host " + host + " is not fenced: it is not marked forced down.", 0.2);
    before = "Not forced down (the host is not fenced). ";
  } else {
    ctx.Progress(*rec, task, "Marking the compute service of " + host + " forced down.", 0.2);
    Result<void> f = co_await ctx.Call<void>(
        [&](drivers::Callback<void> cb) { ctx.compute().SetForcedDown(host, true, cb); });
    if (!f) co_return std::unexpected(f.error());
    before = "Forced down. ";
  }

  ctx.Progress(*rec, task, "Disabling the compute service of " + host + ".", 0.6);
  Result<void> r = co_await ctx.Call<void>([&](drivers::Callback<void> cb) {
    ctx.compute().SetServiceEnabled(host, false, ctx.options().service_disable_reason, cb);
  });
  if (!r) co_return std::unexpected(r.error());
  co_return TaskResult{Outcome::kContinue, before + "Compute service of " + host + " disabled."};
}

// The instances to move, HA-enabled first, each recorded as a pending VM move before anything
// moves. A recovery that already recorded its moves (a resume, a retry) continues with them.
TaskAnswer PrepareInstances(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const std::string task(kPrepareInstances);
  auto recorded = store::ReadValue<std::vector<VMove>>(ctx.store(), [&](store::ReadTx& tx) {
    store::VMoveFilter f;
    f.notification_uuid = rec->n.uuid;
    store::Page page;
    page.limit = 1'000'000;
    return tx.ListVMoves(f, page);
  });
  if (!recorded) co_return std::unexpected(recorded.error());
  if (!recorded->empty()) {
    std::sort(recorded->begin(), recorded->end(),
              [](const VMove& a, const VMove& b) { return a.meta.id < b.meta.id; });
    rec->moves.clear();
    for (auto& v : *recorded) {
      auto m = std::make_shared<Move>();
      m->v = std::move(v);
      rec->moves.push_back(m);
    }
    co_return TaskResult{Outcome::kContinue, "Continuing with the " +
                                                 std::to_string(rec->moves.size()) +
                                                 " VM moves recorded earlier."};
  }

  const std::string host = rec->host.name;
  ctx.Progress(*rec, task, "Listing the instances of " + host + ".", 0.1);
  Result<std::vector<drivers::Instance>> listed = co_await ctx.Call<std::vector<drivers::Instance>>(
      [&](drivers::Callback<std::vector<drivers::Instance>> cb) {
        ctx.compute().ListInstances(host, cb);
      });
  if (!listed) co_return std::unexpected(listed.error());

  InstanceChoice chosen = ChooseInstances(host, std::move(*listed), ctx.options());
  if (chosen.instances.empty()) {
    co_return TaskResult{Outcome::kFinishEarly, "No instances to evacuate on " + host + "."};
  }

  const WallMicros now = ctx.clock().Now();
  auto moves = std::make_shared<std::vector<std::shared_ptr<Move>>>();
  for (auto& i : chosen.instances) {
    auto m = std::make_shared<Move>();
    m->v.uuid = NewUuid();
    m->v.notification_uuid = rec->n.uuid;
    m->v.instance_uuid = i.uuid;
    m->v.instance_name = i.name;
    m->v.source_host = host;
    m->v.type = VMoveType::kEvacuation;
    m->v.status = VMoveStatus::kPending;
    m->v.meta.created_at = now;
    m->original_state = i.vm_state;
    m->v.restore_state = RestoreStateFor(i);
    m->instance = std::move(i);
    moves->push_back(m);
  }
  std::string msg = std::to_string(moves->size()) + " instances to evacuate (" +
                    std::to_string(chosen.ha) + " HA-enabled first)";
  if (chosen.skipped_error > 0) {
    msg += "; " + std::to_string(chosen.skipped_error) + " in error skipped";
  }
  if (chosen.skipped_deleted > 0) {
    msg += "; " + std::to_string(chosen.skipped_deleted) + " deleted skipped";
  }
  if (chosen.skipped_non_ha > 0) {
    msg += "; " + std::to_string(chosen.skipped_non_ha) + " not HA-enabled skipped";
  }
  msg += ".";

  Journal::Write insert = [moves](store::WriteTx& tx) -> Result<void> {
    for (auto& m : *moves) {
      auto v = tx.InsertVMove(m->v);
      if (!v) return std::unexpected(v.error());
      m->v = std::move(*v);
    }
    return {};
  };
  Result<void> w = co_await ctx.journal().Commit(std::move(insert));
  if (!w) co_return std::unexpected(w.error());
  rec->moves = std::move(*moves);
  co_return TaskResult{Outcome::kContinue, msg};
}

}  // namespace warden::engine
