// The table from task names to the flows' tasks.
#include "engine/flows/flows.h"

#include <map>

namespace warden::engine {

TaskAnswer Flows::Run(std::string name, std::shared_ptr<Recovery> rec) {
  using Builtin = TaskAnswer (*)(TaskContext&, std::shared_ptr<Recovery>);
  static const std::map<std::string_view, Builtin> kBuiltin = {
      {kFenceHost, FenceHost},
      {kDisableComputeService, DisableComputeService},
      {kPrepareInstances, PrepareInstances},
      {kStopInstance, StopInstance},
      {kStartInstance, StartInstance},
      {kConfirmInstanceActive, ConfirmInstanceActive},
      {kRestartProcess, RestartProcess},
      {kDisableComputeNode, DisableComputeNode},
      {kConfirmComputeNodeDisabled, ConfirmComputeNodeDisabled},
  };
  if (name == kEvacuateInstances) co_return co_await evacuations_.EvacuateInstances(rec);
  if (name == kNoOp) co_return TaskResult{};
  if (auto it = kBuiltin.find(name); it != kBuiltin.end()) {
    co_return co_await it->second(ctx_, rec);
  }
  auto custom = ctx_.options().workflows.custom.find(name);
  if (custom == ctx_.options().workflows.custom.end()) {
    co_return Internal("no task named " + name);
  }
  co_return co_await RunCustom(ctx_, rec, custom->second);
}

}  // namespace warden::engine
