#include "cli/watch.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/table.h"
#include "core/time.h"

namespace warden::cli {
namespace {

using json = nlohmann::json;

std::string Text(const json& j, std::string_view key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Count(const json& j, std::string_view key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// "12.3s" from the vmove's start and end times; empty unless both are known.
std::string Duration(const json& move) {
  auto start = ParseIsoTime(Text(move, "start_time"));
  auto end = ParseIsoTime(Text(move, "end_time"));
  if (!start || !end) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs", double(*end - *start) / 1e6);
  return text;
}

}  // namespace

MoveCounts MoveCountsFrom(const json& summary) {
  return MoveCounts{.total = Count(summary, "total"),
                    .succeeded = Count(summary, "succeeded"),
                    .failed = Count(summary, "failed"),
                    .running = Count(summary, "running"),
                    .pending = Count(summary, "pending"),
                    .ignored = Count(summary, "ignored")};
}

std::string MoveSummaryLine(const MoveCounts& c) {
  std::string line = "total " + std::to_string(c.total) + ": " + std::to_string(c.succeeded) +
                     " succeeded, " + std::to_string(c.failed) + " failed, " +
                     std::to_string(c.running) + " running, " + std::to_string(c.pending) +
                     " pending";
  if (c.ignored > 0) line += ", " + std::to_string(c.ignored) + " ignored";
  return line;
}

std::string MoveProgressBar(const MoveCounts& c, int width) {
  const int64_t done = std::clamp<int64_t>(c.Done(), 0, c.total);
  // Rounded down, so the bar is full only when every move is done.
  const int filled = c.total > 0 ? int(done * width / c.total) : 0;
  std::string line = "[" + std::string(size_t(filled), '#') +
                     std::string(size_t(width - filled), '.') + "] " + std::to_string(c.Done()) +
                     "/" + std::to_string(c.total) + "  succeeded " + std::to_string(c.succeeded) +
                     "  failed " + std::to_string(c.failed) + "  running " +
                     std::to_string(c.running) + "  pending " + std::to_string(c.pending);
  if (c.ignored > 0) line += "  ignored " + std::to_string(c.ignored);
  return line;
}

std::string CurrentPhase(const json& workflow_details) {
  if (!workflow_details.is_array() || workflow_details.empty()) return "";
  const json* task = &workflow_details.back();
  for (auto it = workflow_details.rbegin(); it != workflow_details.rend(); ++it) {
    if (Text(*it, "state") == "RUNNING") {
      task = &*it;
      break;
    }
  }
  std::string phase = Text(*task, "name");
  if (phase.empty()) phase = "(unnamed task)";
  if (std::string state = Text(*task, "state"); !state.empty()) phase += " " + state;
  if (task->is_object() && task->contains("progress") && (*task)["progress"].is_number()) {
    double progress = std::clamp((*task)["progress"].get<double>(), 0.0, 1.0);
    phase += " " + std::to_string(int(std::lround(progress * 100))) + "%";
  }
  if (task->is_object() && task->contains("progress_details")) {
    const json& details = (*task)["progress_details"];
    if (details.is_array() && !details.empty()) {
      if (std::string message = Text(details.back(), "message"); !message.empty()) {
        phase += ": " + message;
      }
    }
  }
  return phase;
}

bool IsFinalNotificationStatus(std::string_view status) {
  return status == "finished" || status == "ignored" || status == "error" || status == "failed";
}

int ExitCodeForFinalStatus(std::string_view status) {
  return status == "finished" || status == "ignored" ? 0 : 1;
}

std::vector<std::string> ProgressLines(const json& notification, const json& vmoves) {
  std::string status = Text(notification, "status");
  std::string phase;
  if (notification.is_object() && notification.contains("recovery_workflow_details")) {
    phase = CurrentPhase(notification["recovery_workflow_details"]);
  }
  std::string moves = "moves: ";
  if (vmoves.is_object() && vmoves.contains("summary")) {
    moves += MoveProgressBar(MoveCountsFrom(vmoves["summary"]));
  } else {
    moves += "none (" +
             (Text(notification, "type").empty() ? std::string("unknown type")
                                                 : Text(notification, "type")) +
             " notification)";
  }
  return {"status: " + (status.empty() ? std::string("unknown") : status),
          "phase: " + (phase.empty() ? std::string("-") : phase), moves};
}

std::string RedrawInPlace(size_t shown, const std::vector<std::string>& next, size_t columns) {
  std::string out;
  if (shown > 0) out += "\x1b[" + std::to_string(shown) + "A";  // back to the first line shown
  for (const std::string& line : next) {
    out += "\r\x1b[2K" + (columns > 0 ? FitToWidth(line, columns) : line) + "\n";
  }
  for (size_t i = next.size(); i < shown; ++i) out += "\r\x1b[2K\n";
  return out;
}

std::string FinalReport(const json& notification, const json& moves) {
  std::string out;
  if (moves.is_array() && !moves.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& m : moves) {
      std::string dest = Text(m, "dest_host");
      rows.push_back({Text(m, "instance_name"),
                      Text(m, "source_host") + " → " + (dest.empty() ? "?" : dest),
                      Text(m, "status"), Duration(m), Text(m, "message")});
    }
    out += FormatTable({"instance", "source → destination", "status", "duration", "message"}, rows);
  }
  std::string status = Text(notification, "status");
  out += "status: " + (status.empty() ? std::string("unknown") : status) + "\n";
  if (std::string message = Text(notification, "message"); !message.empty()) {
    out += "message: " + message + "\n";
  }
  return out;
}

int WatchNotification(const WatchIo& io, const WatchOptions& options, const Clock& clock) {
  const MonoMicros started = clock.Monotonic();
  std::vector<std::string> shown;
  while (true) {
    auto notification = io.fetch_notification();
    if (!notification) return 2;
    const bool moves_vms = Text(*notification, "type") == "COMPUTE_HOST";
    json vmoves;  // null: no moves to show
    if (moves_vms) {
      auto summary = io.fetch_summary();
      if (!summary) return 2;
      vmoves = std::move(*summary);
    }
    std::vector<std::string> lines = ProgressLines(*notification, vmoves);
    if (lines != shown) {
      if (options.terminal) {
        io.out(RedrawInPlace(shown.size(), lines, options.columns));
      } else {
        std::string block;
        for (const std::string& line : lines) block += line + "\n";
        io.out(block);
      }
      shown = std::move(lines);
    }
    const std::string status = Text(*notification, "status");
    if (IsFinalNotificationStatus(status)) {
      json moves = json::array();
      if (moves_vms) {
        auto all = io.fetch_all_moves();
        if (!all) return 2;
        moves = std::move(*all);
      }
      io.out("\n" + FinalReport(*notification, moves));
      return ExitCodeForFinalStatus(status);
    }
    MonoMicros wait = options.interval;
    if (options.timeout > 0) {
      const MonoMicros left = started + options.timeout - clock.Monotonic();
      if (left <= 0) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", double(options.timeout) / 1e6);
        io.err("warden: timed out after " + std::string(seconds) + "s; the notification is " +
               (status.empty() ? std::string("in an unknown state") : status) + "\n");
        return 2;
      }
      wait = std::min(wait, left);
    }
    io.wait(wait);
  }
}

}  // namespace warden::cli
