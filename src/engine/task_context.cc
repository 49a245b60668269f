// What a workflow task may ask of the engine (see task_context.h).
#include "engine/task_context.h"

#include <algorithm>

#include "core/time.h"

namespace warden::engine {

using json = nlohmann::json;

std::string Seconds(int64_t micros) { return std::to_string((micros + 500'000) / 1'000'000); }

TaskContext::TaskContext(Deps deps)
    : d_(std::move(deps)),
      rng_(d_.options.seed != 0 ? d_.options.seed : uint64_t(d_.loop.clock().Monotonic())) {}

Task<Result<void>> TaskContext::WaitUntil(MonoMicros deadline, Check check, std::string what) {
  for (;;) {
    std::optional<Result<void>> r = co_await check();
    if (r) co_return *r;
    if (clock().Monotonic() >= deadline) co_return MakeError(ErrorCode::kDeadlineExceeded, what);
    co_await Sleep(d_.options.poll_interval_micros);
  }
}

void TaskContext::SaveNotification(Recovery& rec) {
  rec.n.workflow_details_json = rec.details.dump();
  rec.n.meta.updated_at = clock().Now();
  Notification copy = rec.n;
  d_.journal.Persist([copy](store::WriteTx& tx) { return tx.UpdateNotification(copy); });
}

void TaskContext::SaveMove(const Move& m) {
  VMove v = m.v;
  v.meta.updated_at = clock().Now();
  d_.journal.Persist([v](store::WriteTx& tx) { return tx.UpdateVMove(v); });
}

json& TaskContext::Entry(Recovery& rec, const std::string& task) {
  for (auto& e : rec.details) {
    if (e["name"] == task) return e;
  }
  rec.details.push_back({{"name", task},
                         {"progress", 0.0},
                         {"progress_details", json::array()},
                         {"state", "PENDING"}});
  return rec.details.back();
}

double TaskContext::ProgressOf(Recovery& rec, const std::string& task) {
  return Entry(rec, task)["progress"].get<double>();
}

void TaskContext::Progress(Recovery& rec, const std::string& task, const std::string& message,
                           double progress, bool save) {
  json& e = Entry(rec, task);
  e["progress"] = progress;
  // Masakari prints str(utcnow()): "2024-01-01 12:00:00.123456".
  std::string ts = FormatIsoTime(clock().Now());
  std::replace(ts.begin(), ts.end(), 'T', ' ');
  e["progress_details"].push_back(
      {{"timestamp", ts}, {"progress", progress}, {"message", message}});
  if (save) SaveNotification(rec);
}

void TaskContext::SetState(Recovery& rec, const std::string& task, const char* state) {
  Entry(rec, task)["state"] = state;
}

void TaskContext::Log(std::string_view level, std::string_view msg, Fields fields) {
  if (d_.options.log) d_.options.log(level, msg, fields);
}

void TaskContext::Log(std::string_view level, std::string_view msg, const Recovery& rec,
                      Fields fields) {
  fields.insert(fields.begin(), {{"notification", rec.n.uuid}, {"host", rec.host.name}});
  Log(level, msg, std::move(fields));
}

}  // namespace warden::engine
