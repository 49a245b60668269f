#include "cli/watch.h"

#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>

#include "cli/table.h"

namespace warden::cli {
namespace {

using json = nlohmann::json;

json Summary(int succeeded, int failed, int running, int pending, int ignored = 0,
             const std::string& status = "running") {
  return {{"notification_status", status},
          {"total", succeeded + failed + running + pending + ignored},
          {"succeeded", succeeded},
          {"failed", failed},
          {"pending", pending},
          {"running", running},
          {"ignored", ignored}};
}

json Task(const std::string& name, const std::string& state, double progress,
          std::vector<std::string> messages = {}) {
  json details = json::array();
  for (const auto& m : messages) {
    details.push_back(
        {{"timestamp", "2026-01-01T00:00:00.000000"}, {"progress", 0.5}, {"message", m}});
  }
  return {{"name", name}, {"state", state}, {"progress", progress}, {"progress_details", details}};
}

TEST(MoveCounts, SummaryLineAsTheOperatorReadsIt) {
  MoveCounts c = MoveCountsFrom(Summary(58, 1, 1, 0));
  EXPECT_EQ(c.total, 60);
  EXPECT_EQ(MoveSummaryLine(c), "total 60: 58 succeeded, 1 failed, 1 running, 0 pending");
  EXPECT_EQ(MoveSummaryLine(MoveCountsFrom(Summary(1, 0, 0, 0, 2))),
            "total 3: 1 succeeded, 0 failed, 0 running, 0 pending, 2 ignored");
  // Anything else counts as nothing rather than failing.
  EXPECT_EQ(MoveCountsFrom(json("nonsense")).total, 0);
  EXPECT_EQ(MoveCountsFrom({{"total", "many"}, {"failed", 2}}).failed, 2);
}

TEST(MoveCounts, ProgressBarShowsMovesDoneOverAll) {
  EXPECT_EQ(MoveProgressBar(MoveCountsFrom(Summary(30, 1, 12, 17))),
            "[##########..........] 31/60  succeeded 30  failed 1  running 12  pending 17");
  EXPECT_EQ(MoveProgressBar(MoveCountsFrom(Summary(0, 0, 0, 0))),
            "[....................] 0/0  succeeded 0  failed 0  running 0  pending 0");
  EXPECT_EQ(MoveProgressBar(MoveCountsFrom(Summary(2, 0, 0, 0, 1)), 6),
            "[######] 3/3  succeeded 2  failed 0  running 0  pending 0  ignored 1");
  // Full only when everything is done.
  EXPECT_EQ(MoveProgressBar(MoveCountsFrom(Summary(99, 0, 1, 0)), 10).substr(0, 12),
            "[#########.]");
}

TEST(Phase, TheLastRunningTaskElseTheLastOne) {
  json tasks = json::array(
      {Task("PrepareHAEnabledInstancesTask", "SUCCESS", 1.0, {"prepared"}),
       Task("EvacuateInstancesTask", "RUNNING", 0.52, {"started", "Evacuated instance web-3"}),
       Task("ConfirmEvacuationTask", "PENDING", 0.0)});
  EXPECT_EQ(CurrentPhase(tasks), "EvacuateInstancesTask RUNNING 52%: Evacuated instance web-3");
  tasks[1]["state"] = "FAILURE";
  EXPECT_EQ(CurrentPhase(tasks), "ConfirmEvacuationTask PENDING 0%");
  EXPECT_EQ(CurrentPhase(json::array()), "");
  EXPECT_EQ(CurrentPhase(json()), "");
  EXPECT_EQ(CurrentPhase(json::array({json::object()})), "(unnamed task)");
  EXPECT_EQ(CurrentPhase(json::array({{{"name", "T"}, {"progress", 7}}})), "T 100%");
}

TEST(Status, FinalStatusesAndExitCodes) {
  for (const char* s : {"finished", "ignored", "error", "failed"}) {
    EXPECT_TRUE(IsFinalNotificationStatus(s)) << s;
  }
  for (const char* s : {"new", "running", "", "FINISHED"}) {
    EXPECT_FALSE(IsFinalNotificationStatus(s)) << s;
  }
  EXPECT_EQ(ExitCodeForFinalStatus("finished"), 0);
  EXPECT_EQ(ExitCodeForFinalStatus("ignored"), 0);
  EXPECT_EQ(ExitCodeForFinalStatus("error"), 1);
  EXPECT_EQ(ExitCodeForFinalStatus("failed"), 1);
}

TEST(Progress, LinesFromTheTwoDocuments) {
  json notification = {
      {"status", "running"},
      {"type", "COMPUTE_HOST"},
      {"recovery_workflow_details",
       json::array({Task("EvacuateInstancesTask", "RUNNING", 0.25, {"evacuating"})})}};
  json vmoves = {{"vmoves", json::array()}, {"summary", Summary(3, 0, 1, 8)}};
  EXPECT_EQ(
      ProgressLines(notification, vmoves),
      (std::vector<std::string>{
          "status: running", "phase: EvacuateInstancesTask RUNNING 25%: evacuating",
          "moves: [#####...............] 3/12  succeeded 3  failed 0  running 1  pending 8"}));
  // Before any task, and for a notification that moves no VMs.
  json vm = {{"status", "new"}, {"type", "VM"}, {"recovery_workflow_details", json::array()}};
  EXPECT_EQ(ProgressLines(vm, json()),
            (std::vector<std::string>{"status: new", "phase: -", "moves: none (VM notification)"}));
  EXPECT_EQ(ProgressLines(json(), json()).front(), "status: unknown");
}

TEST(Progress, RedrawReplacesTheLinesShownInPlace) {
  EXPECT_EQ(RedrawInPlace(0, {"a", "b"}, 0), "\r\x1b[2Ka\n\r\x1b[2Kb\n");
  EXPECT_EQ(RedrawInPlace(2, {"c", "d"}, 0), "\x1b[2A\r\x1b[2Kc\n\r\x1b[2Kd\n");
  // Fewer lines than before: the rest are cleared.
  EXPECT_EQ(RedrawInPlace(3, {"e"}, 0), "\x1b[3A\r\x1b[2Ke\n\r\x1b[2K\n\r\x1b[2K\n");
  // Cut to the terminal's width, counting characters rather than bytes.
  EXPECT_EQ(RedrawInPlace(0, {"abcdef", "é→xyz"}, 3), "\r\x1b[2Kabc\n\r\x1b[2Ké→x\n");
}

TEST(Table, ColumnsAlignWithMultibyteCharacters) {
  EXPECT_EQ(FormatTable({"a", "bb"}, {{"→", "x"}, {"long", ""}}),
            "+------+----+\n"
            "| a    | bb |\n"
            "+------+----+\n"
            "| →    | x  |\n"
            "| long |    |\n"
            "+------+----+\n");
  EXPECT_EQ(DisplayWidth("é→x"), 3u);
  EXPECT_EQ(FitToWidth("é→x", 2), "é→");
  EXPECT_EQ(FitToWidth("ab", 5), "ab");
}

TEST(Report, MovesTableThenFinalStatusAndMessage) {
  json notification = {{"status", "error"}, {"message", "1 instance could not be evacuated"}};
  json moves = json::array({{{"instance_name", "web-1"},
                             {"source_host", "c1"},
                             {"dest_host", "c2"},
                             {"status", "succeeded"},
                             {"start_time", "2026-01-01T00:00:01.000000"},
                             {"end_time", "2026-01-01T00:00:13.500000"},
                             {"message", nullptr}},
                            {{"instance_name", "db-1"},
                             {"source_host", "c1"},
                             {"dest_host", nullptr},
                             {"status", "failed"},
                             {"start_time", "2026-01-01T00:00:02.000000"},
                             {"end_time", nullptr},
                             {"message", "no valid host"}}});
  EXPECT_EQ(FinalReport(notification, moves),
            "+----------+----------------------+-----------+----------+---------------+\n"
            "| instance | source → destination | status    | duration | message       |\n"
            "+----------+----------------------+-----------+----------+---------------+\n"
            "| web-1    | c1 → c2              | succeeded | 12.5s    |               |\n"
            "| db-1     | c1 → ?               | failed    |          | no valid host |\n"
            "+----------+----------------------+-----------+----------+---------------+\n"
            "status: error\n"
            "message: 1 instance could not be evacuated\n");
  EXPECT_EQ(FinalReport({{"status", "finished"}, {"message", nullptr}}, json::array()),
            "status: finished\n");
}

// The loop, over scripted answers and a simulated clock.
class WatchLoop : public testing::Test {
 protected:
  void SetUp() override {
    io_.fetch_notification = [this]() -> std::optional<json> {
      ++notification_calls_;
      if (notifications_.empty()) return std::nullopt;
      json n = notifications_.front();
      if (notifications_.size() > 1) notifications_.pop_front();
      return n;
    };
    io_.fetch_summary = [this]() -> std::optional<json> {
      json s = summaries_.front();
      if (summaries_.size() > 1) summaries_.pop_front();
      return s;
    };
    io_.fetch_all_moves = [this]() -> std::optional<json> { return all_moves_; };
    io_.out = [this](const std::string& text) { out_ += text; };
    io_.err = [this](const std::string& text) { err_ += text; };
    io_.wait = [this](MonoMicros micros) {
      waits_.push_back(micros);
      clock_.Advance(micros);
    };
  }

  static json Note(const std::string& status, const std::string& type = "COMPUTE_HOST") {
    return {{"status", status}, {"type", type}, {"recovery_workflow_details", json::array()}};
  }
  static json Moves(int succeeded, int failed, int running, int pending) {
    return {{"vmoves", json::array()}, {"summary", Summary(succeeded, failed, running, pending)}};
  }

  WatchIo io_;
  SimulatedClock clock_;
  std::deque<json> notifications_, summaries_;
  json all_moves_ = json::array();
  int notification_calls_ = 0;
  std::string out_, err_;
  std::vector<MonoMicros> waits_;
};

TEST_F(WatchLoop, PrintsOnlyChangesUntilFinalThenTheReport) {
  notifications_ = {Note("running"), Note("running"), Note("running"), Note("error")};
  summaries_ = {Moves(0, 0, 1, 1), Moves(0, 0, 1, 1), Moves(1, 0, 0, 1), Moves(1, 1, 0, 0)};
  all_moves_ = json::array({{{"instance_name", "vm"}, {"status", "failed"}}});
  int code = WatchNotification(io_, {.interval = 500'000}, clock_);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(notification_calls_, 4);
  EXPECT_EQ(waits_, (std::vector<MonoMicros>{500'000, 500'000, 500'000}));
  // The second poll changed nothing, so three blocks, and no terminal escapes.
  const std::string bar0 = "moves: [....................] 0/2";
  EXPECT_NE(out_.find(bar0), std::string::npos) << out_;
  EXPECT_EQ(out_.find(bar0), out_.rfind(bar0)) << out_;
  EXPECT_NE(out_.find("status: error\nphase: -\nmoves: [####################] 2/2"),
            std::string::npos)
      << out_;
  EXPECT_EQ(out_.find('\x1b'), std::string::npos);
  EXPECT_NE(out_.find("| vm       |"), std::string::npos) << out_;
  EXPECT_TRUE(out_.ends_with("status: error\n")) << out_;
  EXPECT_EQ(err_, "");
}

TEST_F(WatchLoop, FinishedAndIgnoredExitZero) {
  notifications_ = {Note("finished")};
  summaries_ = {Moves(2, 0, 0, 0)};
  EXPECT_EQ(WatchNotification(io_, {}, clock_), 0);
  EXPECT_TRUE(waits_.empty());
  notifications_ = {Note("ignored", "PROCESS")};  // moves nothing: no vmoves call needed
  summaries_.clear();
  EXPECT_EQ(WatchNotification(io_, {}, clock_), 0);
  EXPECT_NE(out_.find("moves: none (PROCESS notification)"), std::string::npos) << out_;
}

TEST_F(WatchLoop, OnATerminalRedrawsInPlace) {
  notifications_ = {Note("running"), Note("finished")};
  summaries_ = {Moves(0, 0, 1, 0), Moves(1, 0, 0, 0)};
  EXPECT_EQ(WatchNotification(io_, {.terminal = true, .columns = 16}, clock_), 0);
  EXPECT_TRUE(out_.starts_with("\r\x1b[2Kstatus: running\n")) << out_;
  EXPECT_NE(out_.find("\x1b[3A\r\x1b[2Kstatus: finished\n"), std::string::npos) << out_;
  EXPECT_NE(out_.find("\r\x1b[2Kmoves: [########\n"), std::string::npos) << out_;
}

TEST_F(WatchLoop, TimesOutWithExitTwo) {
  notifications_ = {Note("running")};
  summaries_ = {Moves(0, 0, 1, 0)};
  int code = WatchNotification(io_, {.interval = 400'000, .timeout = 1'000'000}, clock_);
  EXPECT_EQ(code, 2);
  // Polls at 0, 0.4, 0.8 and 1.0 s: the last wait is cut to the deadline.
  EXPECT_EQ(waits_, (std::vector<MonoMicros>{400'000, 400'000, 200'000}));
  EXPECT_EQ(err_, "warden: timed out after 1s; the notification is running\n");
}

TEST_F(WatchLoop, AFailedCallEndsWithExitTwo) {
  notifications_.clear();
  EXPECT_EQ(WatchNotification(io_, {}, clock_), 2);
  EXPECT_EQ(out_, "");
}

}  // namespace
}  // namespace warden::cli
