// `warden notification watch`: following a recovery until its notification is final.
//
// What is shown is computed by pure functions from the API's JSON documents (the notification
// at microversion 1.1 or later, with recovery_workflow_details, and its vmoves list with the
// summary), so that it is tested without a server. WatchNotification is the polling loop; its
// HTTP calls, output, clock and waiting are injected.
//
// The functions accept any JSON: a missing or mistyped field is shown as absent, never thrown.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace warden::cli {

// A notification's moves by status, as the vmoves list's "summary" reports them.
struct MoveCounts {
  int64_t total = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t running = 0;
  int64_t pending = 0;
  int64_t ignored = 0;

  int64_t Done() const { return succeeded + failed + ignored; }
};
MoveCounts MoveCountsFrom(const nlohmann::json& summary);

// "total 60: 58 succeeded, 1 failed, 1 running, 0 pending" (and ", N ignored" when N > 0).
std::string MoveSummaryLine(const MoveCounts& c);

// "[##########..........] 31/60  succeeded 30  failed 1  running 12  pending 17": the moves
// done (succeeded, failed or ignored) over all of them; "ignored N" is added when N > 0.
// REQUIRES: width > 0.
std::string MoveProgressBar(const MoveCounts& c, int width = 20);

// The task of recovery_workflow_details the recovery is in: the last one RUNNING, else the
// last one; described as "NAME STATE PERCENT%: last progress message". Empty without tasks.
std::string CurrentPhase(const nlohmann::json& workflow_details);

// finished, ignored, error and failed: the engine will not change the notification again.
bool IsFinalNotificationStatus(std::string_view status);
// 0 for finished and ignored, 1 for error and failed (and anything else final).
int ExitCodeForFinalStatus(std::string_view status);

// The lines shown while watching: status, phase and moves. `vmoves` is the vmoves list with
// its summary, or null for a notification that moves no VMs (not COMPUTE_HOST).
std::vector<std::string> ProgressLines(const nlohmann::json& notification,
                                       const nlohmann::json& vmoves);

// The text that replaces `shown` lines last written on a terminal with `next`: the cursor goes
// up, each line is cleared and rewritten, leftover lines are cleared. Lines are cut to
// `columns` (0: not cut) so that none wraps and the count stays true.
std::string RedrawInPlace(size_t shown, const std::vector<std::string>& next, size_t columns);

// The closing report: a table of the moves (instance, source → destination, status, duration
// in seconds, message), then the notification's final status and message. `moves` is an
// array of vmoves; empty, the table is left out.
std::string FinalReport(const nlohmann::json& notification, const nlohmann::json& moves);

struct WatchIo {
  // Each returns nullopt when the call failed, having told the user why.
  std::function<std::optional<nlohmann::json>()> fetch_notification;  // the notification
  std::function<std::optional<nlohmann::json>()> fetch_summary;       // vmoves list + summary
  std::function<std::optional<nlohmann::json>()> fetch_all_moves;     // array of every move
  std::function<void(const std::string&)> out;                        // standard output
  std::function<void(const std::string&)> err;                        // standard error
  std::function<void(MonoMicros)> wait;                               // sleeps this long
};

struct WatchOptions {
  MonoMicros interval = 500'000;
  MonoMicros timeout = 0;  // 0: wait for ever
  bool terminal = false;   // redraw in place; otherwise append lines only when they change
  size_t columns = 0;      // the terminal's width, 0 if unknown
};

// Polls until the notification is final, then prints the final report. Returns the exit code:
// ExitCodeForFinalStatus, or 2 when a call failed or the timeout passed first.
int WatchNotification(const WatchIo& io, const WatchOptions& options, const Clock& clock);

}  // namespace warden::cli
