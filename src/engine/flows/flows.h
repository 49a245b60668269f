// The recovery flows: every task a workflow may name, by flow.
//
//   host_failure.cc      fence the host, disable its compute service, list its instances
//   evacuation.{h,cc}    evacuate them in parallel: plan, issue, follow, confirm, retry
//                        elsewhere, settle, lock and unlock (EvacuateInstancesTask)
//   instance_failure.cc  stop, start, confirm active
//   process_failure.cc   restart through the host's agent, disable the compute node, confirm
//   custom_task.{h,cc}   operators' exec and http tasks
//
// Each task is a coroutine over a TaskContext (what it may ask of the engine) and its
// Recovery; it answers a TaskResult or an error, and the life cycle (recovery_engine.cc) takes
// it from there. A task does not end the recovery itself.
#pragma once

#include <memory>
#include <string>

#include "engine/flows/evacuation.h"
#include "engine/recovery.h"
#include "engine/task_context.h"

namespace warden::engine {

using TaskAnswer = Task<Result<TaskResult>>;

// Host failure (host_failure.cc).
TaskAnswer FenceHost(TaskContext& ctx, std::shared_ptr<Recovery> rec);
TaskAnswer DisableComputeService(TaskContext& ctx, std::shared_ptr<Recovery> rec);
TaskAnswer PrepareInstances(TaskContext& ctx, std::shared_ptr<Recovery> rec);

// Instance failure (instance_failure.cc).
TaskAnswer StopInstance(TaskContext& ctx, std::shared_ptr<Recovery> rec);
TaskAnswer StartInstance(TaskContext& ctx, std::shared_ptr<Recovery> rec);
TaskAnswer ConfirmInstanceActive(TaskContext& ctx, std::shared_ptr<Recovery> rec);

// One look at an instance: success once it is in `vm_state` with no task under way, nullopt
// while not (a failed read included). For TaskContext::WaitUntil.
Task<std::optional<Result<void>>> InstanceReached(TaskContext& ctx, std::string uuid,
                                                  std::string vm_state);

// Process failure (process_failure.cc).
TaskAnswer RestartProcess(TaskContext& ctx, std::shared_ptr<Recovery> rec);
TaskAnswer DisableComputeNode(TaskContext& ctx, std::shared_ptr<Recovery> rec);
TaskAnswer ConfirmComputeNodeDisabled(TaskContext& ctx, std::shared_ptr<Recovery> rec);

// Operators' tasks (custom_task.cc), by their [custom_task:NAME] section.
TaskAnswer RunCustom(TaskContext& ctx, std::shared_ptr<Recovery> rec, CustomTask task);

// Every task by name, for the life cycle.
class Flows {
 public:
  explicit Flows(TaskContext& ctx) : ctx_(ctx), evacuations_(ctx) {}

  // Runs the task `name` (canonical built-in or custom) of rec's workflow.
  TaskAnswer Run(std::string name, std::shared_ptr<Recovery> rec);
  // The recovery ended (finished, failed, cancelled ...): what its tasks hold is let go.
  void Ended(Recovery& rec, NotificationStatus status, const std::string& message) {
    evacuations_.Ended(rec, status, message);
  }
  // Nova said the instance's rebuild ended; `active`: the recoveries under way. Returns
  // whether an evacuation waiting for its record will now look sooner.
  bool InstanceNews(const std::string& instance_uuid,
                    const std::map<std::string, std::shared_ptr<Recovery>>& active) {
    return evacuations_.InstanceNews(instance_uuid, active);
  }

 private:
  TaskContext& ctx_;
  Evacuations evacuations_;
};

}  // namespace warden::engine
