// The process failure flow (a PROCESS notification): restart the process through the host's
// `warden agent` (RestartProcessTask, Warden's own), and where that cannot be done, Masakari's
// answer — disable the host's compute service (DisableComputeNodeTask) and confirm it
// disabled (ConfirmComputeNodeDisabledTask).
#include "engine/flows/flows.h"

namespace warden::engine {
namespace {

std::string ProcessName(const nlohmann::json& payload) {
  auto it = payload.find("process_name");
  return it != payload.end() && it->is_string() ? it->get<std::string>() : "";
}

// As Masakari: a host whose compute service is taken out of service goes on maintenance, so
// that later recoveries do not choose it and its further notifications get 409 until an
// operator returns it (`warden host unfence`, or on_maintenance = false).
Task<Result<void>> PutOnMaintenance(TaskContext& ctx, std::string host_uuid) {
  const WallMicros now = ctx.clock().Now();
  Journal::Write maintain = [host_uuid, now](store::WriteTx& tx) -> Result<void> {
    auto h = tx.GetHost(host_uuid);
    if (!h) return {};  // deleted meanwhile: nothing to mark
    if (h->on_maintenance) return {};
    h->on_maintenance = true;
    h->meta.updated_at = now;
    return tx.UpdateHost(*h);
  };
  co_return co_await ctx.journal().Commit(std::move(maintain));
}

Task<std::optional<Result<void>>> ServiceDisabled(TaskContext& ctx, std::string host) {
  Result<drivers::ComputeService> s = co_await ctx.CallOnce<drivers::ComputeService>(
      [&](drivers::Callback<drivers::ComputeService> cb) { ctx.compute().GetService(host, cb); });
  if (s && !s->enabled) co_return Result<void>{};
  co_return std::nullopt;
}

}  // namespace

// Asks the host's agent to restart the process. Restarted and confirmed: the recovery ends
// here and the compute service stays enabled. Anything else (no agent, a process the agent
// does not manage, the agent unreachable, the restart failed) is no error of the recovery:
// the next tasks (Masakari's: disable the compute service) run, with the reason recorded.
TaskAnswer RestartProcess(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const std::string process = ProcessName(rec->payload);
  const std::string host = rec->host.name;
  if (process.empty()) {
    co_return TaskResult{Outcome::kContinue,
                         "No process_name in the notification: nothing to restart."};
  }
  drivers::ProcessRestarter* restarter = ctx.restarter();
  if (restarter == nullptr) {
    co_return TaskResult{Outcome::kContinue, "No agent configured ([process_failure] agent_url): " +
                                                 process + " not restarted."};
  }
  ctx.Progress(*rec, std::string(kRestartProcess),
               "asking the agent of " + host + " to restart " + process, 0.2);
  // The agent client bounds the restart's time itself.
  Result<std::string> r = co_await Answer<Result<std::string>>(
      [&](std::function<void(Result<std::string>)> done) {
        restarter->Restart(host, process, rec->n.uuid, std::move(done));
      });
  if (r) {
    co_return TaskResult{Outcome::kFinishEarly,
                         *r + "; the compute service of " + host + " stays enabled."};
  }
  co_return TaskResult{Outcome::kContinue, "Restart of " + process + " through the agent of " +
                                               host + " failed: " + r.error().message()};
}

TaskAnswer DisableComputeNode(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const std::string process = ProcessName(rec->payload);
  if (process != "nova-compute") {
    // Unlike Masakari, the host is not put on maintenance for a process it cannot act on.
    co_return TaskResult{Outcome::kFinishEarly,
                         "No recovery action for process '" + process + "'."};
  }
  const std::string host = rec->host.name;
  Result<drivers::ComputeService> s = co_await ctx.Call<drivers::ComputeService>(
      [&](drivers::Callback<drivers::ComputeService> cb) { ctx.compute().GetService(host, cb); });
  if (!s) co_return std::unexpected(s.error());
  std::string done = "Compute service of " + host + " is already disabled";
  if (s->enabled) {
    Result<void> r = co_await ctx.Call<void>([&](drivers::Callback<void> cb) {
      ctx.compute().SetServiceEnabled(host, false, ctx.options().process_disable_reason, cb);
    });
    if (!r) co_return std::unexpected(r.error());
    done = "Compute service of " + host + " disabled";
  }
  Result<void> maintained = co_await PutOnMaintenance(ctx, rec->host.uuid);
  if (!maintained) co_return std::unexpected(maintained.error());
  co_return TaskResult{Outcome::kContinue, done + "; the host is on maintenance."};
}

TaskAnswer ConfirmComputeNodeDisabled(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const std::string host = rec->host.name;
  Result<void> w = co_await ctx.WaitUntil(ctx.clock().Monotonic() + ctx.options().call_timeout_micros,
                                          [&] { return ServiceDisabled(ctx, host); },
                                          "still enabled");
  if (!w) {
    co_return MakeError(w.error().code(), "Compute service of " + host + " is still enabled.");
  }
  co_return TaskResult{Outcome::kContinue, "Compute service of " + host + " is disabled."};
}

}  // namespace warden::engine
