// Operators' own workflow tasks: `exec` runs a command with the notification as JSON on stdin;
// `http` POSTs the notification as JSON to a URL. Both block, so they run on a thread of their
// own and report through `done` (called once, from that thread): the combined output (exec,
// first 4 KiB) or the response body (http) on success; an error naming the exit status, the
// HTTP status or the timeout otherwise.
#pragma once

#include <functional>
#include <string>

#include "core/domain.h"
#include "core/error.h"
#include "engine/workflow.h"

namespace warden::engine {

void RunCustomTask(const CustomTask& task, const Notification& notification,
                   std::function<void(Result<std::string>)> done);

// The JSON document a custom task receives.
std::string CustomTaskInput(const Notification& notification);

}  // namespace warden::engine
