// The instance failure flow (a VM notification): stop the instance (StopInstanceTask), start it
// again (StartInstanceTask), and confirm it active (ConfirmInstanceActiveTask), as Masakari's
// instance failure flow does.
#include "engine/flows/flows.h"

namespace warden::engine {
namespace {

std::string InstanceUuid(const nlohmann::json& payload) {
  auto it = payload.find("instance_uuid");
  return it != payload.end() && it->is_string() ? it->get<std::string>() : "";
}

// One look at an instance starting: active (done), in error (failed), or not yet.
Task<std::optional<Result<void>>> Active(TaskContext& ctx, std::string uuid) {
  Result<drivers::Instance> s = co_await ctx.CallOnce<drivers::Instance>(
      [&](drivers::Callback<drivers::Instance> cb) { ctx.compute().GetInstance(uuid, cb); });
  if (s && s->vm_state == "active" && !s->task_state) co_return Result<void>{};
  if (s && s->vm_state == "error") {
    co_return Result<void>(
        MakeError(ErrorCode::kAborted, "the instance went to error while starting"));
  }
  co_return std::nullopt;
}

}  // namespace

Task<std::optional<Result<void>>> InstanceReached(TaskContext& ctx, std::string uuid,
                                                  std::string vm_state) {
  Result<drivers::Instance> s = co_await ctx.CallOnce<drivers::Instance>(
      [&](drivers::Callback<drivers::Instance> cb) { ctx.compute().GetInstance(uuid, cb); });
  if (s && s->vm_state == vm_state && !s->task_state) co_return Result<void>{};
  co_return std::nullopt;
}

// Stops the instance and waits until it is stopped; decides first whether it is to be
// recovered at all (HA-enabled, not paused or rescued, not in error unless allowed).
TaskAnswer StopInstance(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const EngineOptions& o = ctx.options();
  const std::string uuid = InstanceUuid(rec->payload);
  const std::string task(kStopInstance);
  Result<drivers::Instance> got = co_await ctx.Call<drivers::Instance>(
      [&](drivers::Callback<drivers::Instance> cb) { ctx.compute().GetInstance(uuid, cb); });
  if (!got) co_return std::unexpected(got.error());
  const drivers::Instance& i = *got;
  if (!IsHaEnabled(i, o.ha_enabled_key) && !o.process_all_instances) {
    co_return TaskResult{Outcome::kFinishEarly,
                         "Instance " + uuid + " is not HA-enabled (" + o.ha_enabled_key +
                             ") and [instance_failure] process_all_instances is false; "
                             "nothing done."};
  }
  if (i.vm_state == "paused" || i.vm_state == "rescued") {
    co_return TaskResult{Outcome::kIgnore,
                         "Instance " + uuid + " is " + i.vm_state + "; not recovered."};
  }
  if (i.vm_state == "error" && !o.recover_ignoring_error_instances) {
    co_return TaskResult{Outcome::kIgnore,
                         "Instance " + uuid +
                             " is in error state and [instance_failure] "
                             "recover_ignoring_error_instances is false."};
  }
  if (i.vm_state == "stopped" && !i.task_state) {
    co_return TaskResult{Outcome::kContinue, "Instance " + uuid + " is already stopped."};
  }

  if (i.vm_state == "resized" || i.vm_state == "error") {
    // A resized instance is reset to active before it can be stopped (as Masakari); an error
    // one is reset to stopped so that it can be started.
    const std::string to = i.vm_state == "resized" ? "active" : "stopped";
    ctx.Progress(*rec, task,
                 "Resetting instance " + uuid + " from " + i.vm_state + " to " + to + ".", 0.2);
    Result<void> reset = co_await ctx.Call<void>(
        [&](drivers::Callback<void> cb) { ctx.compute().ResetState(uuid, to, cb); });
    if (!reset) co_return std::unexpected(reset.error());
    if (to == "stopped") {
      co_return TaskResult{Outcome::kContinue, "Instance " + uuid + " reset to stopped."};
    }
  } else {
    ctx.Progress(*rec, task, "Stopping instance " + uuid + ".", 0.3);
  }

  Result<void> stop = co_await ctx.Call<void>(
      [&](drivers::Callback<void> cb) { ctx.compute().StopInstance(uuid, cb); });
  // Refused because it is already stopped is fine: the wait below tells.
  if (!stop && stop.error().code() != ErrorCode::kFailedPrecondition) {
    co_return std::unexpected(stop.error());
  }
  Result<void> stopped = co_await ctx.WaitUntil(
      ctx.clock().Monotonic() + o.power_off_timeout_micros,
      [&] { return InstanceReached(ctx, uuid, "stopped"); }, "not stopped");
  if (!stopped) {
    co_return MakeError(ErrorCode::kDeadlineExceeded, "Instance " + uuid + " did not stop within " +
                                                          Seconds(o.power_off_timeout_micros) +
                                                          " s.");
  }
  co_return TaskResult{Outcome::kContinue, "Instance " + uuid + " is stopped."};
}

TaskAnswer StartInstance(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const std::string uuid = InstanceUuid(rec->payload);
  ctx.Progress(*rec, std::string(kStartInstance), "Starting instance " + uuid + ".", 0.3);
  Result<void> r = co_await ctx.Call<void>(
      [&](drivers::Callback<void> cb) { ctx.compute().StartInstance(uuid, cb); });
  if (!r && r.error().code() != ErrorCode::kFailedPrecondition) {
    co_return std::unexpected(r.error());
  }
  co_return TaskResult{Outcome::kContinue, "Start of instance " + uuid + " requested."};
}

TaskAnswer ConfirmInstanceActive(TaskContext& ctx, std::shared_ptr<Recovery> rec) {
  const EngineOptions& o = ctx.options();
  const std::string uuid = InstanceUuid(rec->payload);
  Result<void> w = co_await ctx.WaitUntil(ctx.clock().Monotonic() + o.power_on_timeout_micros,
                                          [&] { return Active(ctx, uuid); }, "not active");
  if (!w) {
    const std::string why = w.error().code() == ErrorCode::kDeadlineExceeded
                                ? "not within " + Seconds(o.power_on_timeout_micros) + " s"
                                : w.error().message();
    co_return MakeError(w.error().code(), "Instance " + uuid + " is not active: " + why + ".");
  }
  co_return TaskResult{Outcome::kContinue, "Instance " + uuid + " is active again."};
}

}  // namespace warden::engine
