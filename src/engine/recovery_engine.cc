#include "engine/recovery_engine.h"

#include <algorithm>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/flows/flows.h"
#include "engine/headroom.h"
#include "engine/journal.h"
#include "engine/recovery.h"
#include "engine/task_context.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;

enum class Mode { kNew, kRetry, kResume };

}  // namespace

// The life cycle of a notification. What it promises:
// - nothing lost: every change of a notification's status is journalled before it counts,
//   `running` ones are resumed and `new` ones taken at Start(), and a `new` one nobody took
//   is taken again after [DEFAULT] retry_notification_new_status_interval;
// - nothing done twice: one recovery per host at a time (later notifications for the host
//   wait their turn), and the flows journal their intent before they act;
// - an end for everything: `error` is retried on schedule up to a count, then `failed`;
//   unfinished notifications expire; an operator may retry or cancel.
class RecoveryEngine::Impl {
 public:
  Impl(EventLoop& loop, store::Store& store, drivers::ComputeDriver& compute,
       drivers::Fencer& fencer, EngineOptions options, drivers::ProcessRestarter* restarter)
      : loop_(loop),
        store_(store),
        o_(std::move(options)),
        alive_(std::make_shared<bool>(true)),
        journal_(
            loop, store, [this] { Publish(); },
            [this](const Error& e) { Log("error", "journal write failed", {{"error", e.ToString()}}); }),
        ctx_(TaskContext::Deps{
            .loop = loop,
            .store = store,
            .compute = compute,
            .fencer = fencer,
            .restarter = restarter,
            .options = o_,
            .journal = journal_,
            .stats = stats_,
            .detached = detached_,
            .host_under_recovery = [this](const std::string& uuid) {
              return host_owner_.contains(uuid);
            }}),
        flows_(ctx_) {}

  ~Impl() {
    *alive_ = false;
    // Every coroutine ends here: the frames refer to the recoveries, the flows' state and the
    // context, which go next.
    for (auto& [_, rec] : active_) rec->scope.Cancel();
    detached_.Cancel();
  }

  void Start() {
    Log("info", "recovery engine starting", Fields{});
    auto running = ListByStatus({NotificationStatus::kRunning});
    for (const auto& n : running) Process(n.uuid, Mode::kResume);
    auto fresh = ListByStatus({NotificationStatus::kNew});
    for (const auto& n : fresh) Process(n.uuid, Mode::kNew);
    SchedulePeriodic();
  }

  void Process(const std::string& uuid, Mode mode);
  void InstanceNews(const std::string& instance_uuid) {
    if (flows_.InstanceNews(instance_uuid, active_)) ++stats_.instance_news;
  }
  void Retry(const std::string& uuid, const std::string& who,
             std::function<void(Result<Notification>)> done);
  void Cancel(const std::string& uuid, const std::string& who,
              std::function<void(Result<Notification>)> done);
  void Unfence(const std::string& host_uuid, const std::string& who,
               std::function<void(Result<Host>)> done);
  void CheckHeadroom(const std::string& segment_uuid,
                     std::function<void(Result<ha::SegmentHeadroom>)> done);

  Stats Published() const {
    std::lock_guard lock(published_mu_);
    return published_;
  }

  Stats stats() const {
    Stats s = stats_;
    s.active = int64_t(active_.size());
    s.queued = 0;
    for (const auto& [_, q] : waiting_) s.queued += int64_t(q.size());
    s.journal_commits = journal_.commits();
    return s;
  }

  std::function<void()> Guard(std::function<void()> fn) {
    return [alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
      if (auto a = alive.lock(); a && *a) fn();
    };
  }

 private:
  void Log(std::string_view level, std::string_view msg, Fields fields) {
    ctx_.Log(level, msg, std::move(fields));
  }
  void Log(std::string_view level, std::string_view msg, const Recovery& rec, Fields fields = {}) {
    ctx_.Log(level, msg, rec, std::move(fields));
  }
  void Persist(Journal::Write write, std::function<void(Result<void>)> then = nullptr) {
    journal_.Persist(std::move(write), std::move(then));
  }

  // A copy of stats() for other threads (/metrics), refreshed with every journal commit and
  // queue change: every state change of a recovery goes through one of them.
  void Publish() {
    Stats s = stats();
    std::lock_guard lock(published_mu_);
    published_ = s;
  }

  std::vector<Notification> ListByStatus(std::vector<NotificationStatus> statuses) {
    store::NotificationFilter f;
    f.statuses = std::move(statuses);
    store::Page page;
    page.sort = {{"created_at", true}, {"id", true}};
    page.limit = 100000;
    auto r = store::ReadValue<std::vector<Notification>>(
        store_, [&](store::ReadTx& tx) { return tx.ListNotifications(f, page); });
    if (!r) {
      Log("error", "cannot list notifications", {{"error", r.error().ToString()}});
      return {};
    }
    return std::move(*r);
  }

  void Begin(std::shared_ptr<Recovery> rec, Mode mode);
  Task<void> RunTasks(std::shared_ptr<Recovery> rec);
  void Finish(std::shared_ptr<Recovery> rec, NotificationStatus status, std::string message);
  void FinishStored(Notification n, NotificationStatus status, std::string message,
                    std::function<void(Result<Notification>)> done = nullptr);
  void ReleaseHost(const std::string& host_uuid);
  Task<void> UnfenceHost(Host h, std::string who, std::function<void(Result<Host>)> done);
  Task<void> HeadroomOf(std::string segment_uuid);
  void AnswerHeadroom(const std::string& segment_uuid, Result<ha::SegmentHeadroom> answer);
  std::string HeadroomInputs(const std::string& segment_uuid);

  void SchedulePeriodic();
  void ProcessUnfinished();
  void CheckExpired();

  EventLoop& loop_;
  store::Store& store_;
  const EngineOptions o_;
  std::shared_ptr<bool> alive_;
  Stats stats_;
  // The N+1 checks by segment: the one under way and who waits for it, the last answer.
  struct HeadroomCheck {
    std::vector<std::function<void(Result<ha::SegmentHeadroom>)>> waiting;
    std::optional<Result<ha::SegmentHeadroom>> answer;
    MonoMicros answered_at = 0;
    std::string inputs;  // HeadroomInputs when the check began
  };
  static constexpr int64_t kHeadroomReuseMicros = 5'000'000;
  static constexpr size_t kHeadroomListings = 8;
  static constexpr int64_t kHeadroomListingMicros = 30'000'000;  // no listing starts later
  std::map<std::string, HeadroomCheck> headroom_;
  CoroScope detached_;  // work that outlives a recovery: unlocks, unfencing, N+1 checks
  Journal journal_;
  TaskContext ctx_;
  Flows flows_;
  std::map<std::string, std::shared_ptr<Recovery>> active_;  // by notification uuid
  std::map<std::string, std::string> host_owner_;            // host uuid → notification
  std::map<std::string, std::deque<std::pair<std::string, Mode>>> waiting_;  // by host uuid
  std::set<std::string> held_;                               // by the storm guard
  mutable std::mutex published_mu_;
  Stats published_;  // guarded by published_mu_
  WallMicros last_expiry_check_ = 0;
};

// --- taking a notification -------------------------------------------------------------------

void RecoveryEngine::Impl::Process(const std::string& uuid, Mode mode) {
  if (active_.contains(uuid)) return;
  auto rec = std::make_shared<Recovery>();
  TriageInput in;
  in.now = loop_.clock().Now();
  in.first_run = mode == Mode::kNew;
  auto r = store_.Read([&](store::ReadTx& tx) -> Result<void> {
    auto n = tx.GetNotification(uuid);
    if (!n) return std::unexpected(n.error());
    rec->n = *n;
    in.notification = *n;
    auto h = tx.GetHost(n->source_host_uuid);
    if (h) {
      in.host = *h;
      auto s = tx.GetSegment(h->segment_uuid);
      if (s) in.segment = *s;
    }
    if (!in.host || !in.segment) return {};
    store::NotificationFilter same;
    same.source_host_uuid = n->source_host_uuid;
    same.type = n->type;
    same.generated_since = n->generated_time - o_.triage.duplicate_window_seconds * 1'000'000;
    store::Page page;
    page.limit = 1000;
    auto recent = tx.ListNotifications(same, page);
    if (recent) in.same_host_recent = std::move(*recent);
    store::HostFilter hf;
    hf.segment_uuid = in.segment->uuid;
    store::Page all;
    all.limit = 100000;
    auto hosts = tx.ListHosts(hf, all);
    if (hosts) in.segment_hosts = int64_t(hosts->size());
    store::NotificationFilter failing;
    failing.segment_uuid = in.segment->uuid;
    failing.type = NotificationType::kComputeHost;
    failing.statuses = {NotificationStatus::kNew, NotificationStatus::kRunning,
                        NotificationStatus::kError};
    auto f = tx.ListNotifications(failing, all);
    if (f) {
      std::set<std::string> others;
      for (const auto& o : *f) {
        if (o.source_host_uuid != n->source_host_uuid) others.insert(o.source_host_uuid);
      }
      in.segment_hosts_failing = int64_t(others.size());
    }
    return {};
  });
  if (!r) {
    Log("error", "cannot read notification", {{"notification", uuid}, {"error", r.error().ToString()}});
    return;
  }
  const NotificationStatus s = rec->n.status;
  const bool takeable = mode == Mode::kNew     ? s == NotificationStatus::kNew
                        : mode == Mode::kRetry ? (s == NotificationStatus::kError ||
                                                  s == NotificationStatus::kFailed)
                                               : s == NotificationStatus::kRunning;
  if (!takeable) return;  // someone else got to it (cast twice, retried ...)
  if (auto it = host_owner_.find(rec->n.source_host_uuid);
      it != host_owner_.end() && it->second != uuid) {
    waiting_[rec->n.source_host_uuid].push_back({uuid, mode});  // one owner per host
    Publish();
    return;
  }
  if (in.host) rec->host = *in.host;
  if (in.segment) rec->segment = *in.segment;
  rec->payload = json::parse(rec->n.payload_json, nullptr, false);
  if (!rec->payload.is_object()) rec->payload = json::object();
  if (!rec->n.workflow_details_json.empty()) {
    rec->details = json::parse(rec->n.workflow_details_json, nullptr, false);
    if (!rec->details.is_array()) rec->details = json::array();
  }
  if (in.host) in.host_has_fencer = ctx_.fencer().Covers(in.host->name);

  TriageDecision d;
  if (mode == Mode::kResume) {
    d = in.host && in.segment ? TriageDecision{Verdict::kProceed, ""}
                              : Triage(in, o_.triage);  // host or segment gone
  } else {
    d = Triage(in, o_.triage);
  }
  if (d.verdict != Verdict::kHold) held_.erase(uuid);
  if (d.alarm) {
    Log("error", "ALARM", {{"notification", uuid}, {"host", rec->host.name}, {"reason", d.message}});
  }
  switch (d.verdict) {
    case Verdict::kProceed:
      Begin(rec, mode);
      return;
    case Verdict::kIgnore:
      FinishStored(rec->n, NotificationStatus::kIgnored, d.message);
      return;
    case Verdict::kFinish:
      FinishStored(rec->n, NotificationStatus::kFinished, d.message);
      return;
    case Verdict::kHold:
      ++stats_.storm_guard_holds;
      held_.insert(uuid);
      FinishStored(rec->n, NotificationStatus::kError, d.message);
      return;
    case Verdict::kError:
      FinishStored(rec->n, NotificationStatus::kError, d.message);
      return;
  }
}

void RecoveryEngine::Impl::Begin(std::shared_ptr<Recovery> rec, Mode mode) {
  active_[rec->n.uuid] = rec;
  host_owner_[rec->n.source_host_uuid] = rec->n.uuid;
  rec->tasks = o_.workflows.For(rec->n.type, rec->segment.recovery_method);
  rec->n.status = NotificationStatus::kRunning;
  rec->n.message.reset();
  Log("info", mode == Mode::kResume  ? "recovery resumed"
              : mode == Mode::kRetry ? "recovery retried"
                                     : "recovery started",
      *rec,
      {{"type", std::string(ToString(rec->n.type))},
       {"method", std::string(ToString(rec->segment.recovery_method))}});
  if (rec->n.type == NotificationType::kComputeHost) {
    // As Masakari: the failed host goes on maintenance (further notifications for it get 409)
    // and stops being a reserved host.
    const std::string host_uuid = rec->host.uuid;
    const WallMicros now = loop_.clock().Now();
    Persist([host_uuid, now](store::WriteTx& tx) -> Result<void> {
      auto h = tx.GetHost(host_uuid);
      if (!h) return {};  // deleted meanwhile: nothing to mark
      if (h->on_maintenance && !h->reserved) return {};
      h->on_maintenance = true;
      h->reserved = false;
      h->meta.updated_at = now;
      return tx.UpdateHost(*h);
    });
  }
  ctx_.SaveNotification(*rec);
  rec->scope.Spawn(RunTasks(rec));
}

// The workflow's tasks, one after the other from where an earlier run left off; each task's
// state and progress go into recovery_workflow_details.
Task<void> RecoveryEngine::Impl::RunTasks(std::shared_ptr<Recovery> rec) {
  // The tasks start in a later loop turn: what began the recovery (a retry, the start-up scan)
  // finishes first, and answers with the notification `running` even if every task has its
  // answer at once.
  co_await Yield(loop_);
  while (rec->next_task < rec->tasks.size()) {
    const std::string name = rec->tasks[rec->next_task];
    ctx_.SetState(*rec, name, "RUNNING");
    Result<TaskResult> r = co_await flows_.Run(name, rec);
    if (!r) {
      ctx_.SetState(*rec, name, "FAILURE");
      ctx_.Progress(*rec, name, r.error().message(), ctx_.ProgressOf(*rec, name), false);
      Log("error", "task failed", *rec, {{"task", name}, {"error", r.error().message()}});
      Finish(rec, NotificationStatus::kError, name + ": " + r.error().message());
      co_return;
    }
    ctx_.SetState(*rec, name, "SUCCESS");
    if (ctx_.ProgressOf(*rec, name) < 1.0 || !r->message.empty()) {
      ctx_.Progress(*rec, name, r->message.empty() ? "done" : r->message, 1.0, false);
    }
    if (r->outcome == Outcome::kFinishEarly) {
      Finish(rec, NotificationStatus::kFinished, r->message);
      co_return;
    }
    if (r->outcome == Outcome::kIgnore) {
      Finish(rec, NotificationStatus::kIgnored, r->message);
      co_return;
    }
    ++rec->next_task;
    ctx_.SaveNotification(*rec);
  }
  Finish(rec, NotificationStatus::kFinished, "");
}

// Ends the recovery: the flows let go of what they hold, every coroutine of the recovery ends,
// the notification is journalled with its final status, and the host is free for its next
// notification.
void RecoveryEngine::Impl::Finish(std::shared_ptr<Recovery> rec, NotificationStatus status,
                                  std::string message) {
  if (rec->finished) return;
  rec->finished = true;
  flows_.Ended(*rec, status, message);
  // Ends every coroutine of the recovery (the one calling this at its next suspension): the
  // slots its moves hold are free before the host's next notification is taken.
  rec->scope.Cancel();
  rec->n.status = status;
  if (!message.empty()) {
    rec->n.message = message;
  } else {
    rec->n.message.reset();
  }
  ctx_.SaveNotification(*rec);
  Log(status == NotificationStatus::kFinished ? "info" : "warning", "recovery ended", *rec,
      {{"status", std::string(ToString(status))}, {"message", message}});
  active_.erase(rec->n.uuid);
  ReleaseHost(rec->n.source_host_uuid);
}

void RecoveryEngine::Impl::FinishStored(Notification n, NotificationStatus status,
                                        std::string message,
                                        std::function<void(Result<Notification>)> done) {
  n.status = status;
  n.message = message;
  n.meta.updated_at = loop_.clock().Now();
  Log(status == NotificationStatus::kError ? "warning" : "info", "notification triaged",
      {{"notification", n.uuid}, {"status", std::string(ToString(status))}, {"message", message}});
  Persist([n](store::WriteTx& tx) { return tx.UpdateNotification(n); },
          [n, done](Result<void> r) {
            if (!done) return;
            if (!r) return done(std::unexpected(r.error()));
            done(n);
          });
  ReleaseHost(n.source_host_uuid);
}

void RecoveryEngine::Impl::ReleaseHost(const std::string& host_uuid) {
  auto it = host_owner_.find(host_uuid);
  if (it != host_owner_.end() && !active_.contains(it->second)) host_owner_.erase(it);
  if (host_owner_.contains(host_uuid)) return;
  auto w = waiting_.find(host_uuid);
  if (w == waiting_.end() || w->second.empty()) return;
  auto [next, mode] = w->second.front();
  w->second.pop_front();
  if (w->second.empty()) waiting_.erase(w);
  Publish();
  loop_.Post(Guard([this, next, mode] { Process(next, mode); }));
}

// --- retry and cancel ------------------------------------------------------------------------

void RecoveryEngine::Impl::Retry(const std::string& uuid, const std::string& who,
                                 std::function<void(Result<Notification>)> done) {
  auto r = store::ReadValue<Notification>(
      store_, [&](store::ReadTx& tx) { return tx.GetNotification(uuid); });
  if (!r) return done(std::unexpected(r.error()));
  Notification current = std::move(*r);
  if (current.status != NotificationStatus::kError && current.status != NotificationStatus::kFailed) {
    return done(FailedPrecondition("Notification " + uuid + " is " +
                                   std::string(ToString(current.status)) +
                                   "; only error or failed notifications can be retried."));
  }
  if (active_.contains(uuid)) return done(FailedPrecondition("Notification " + uuid + " is running."));
  held_.erase(uuid);
  Log("info", "retry requested", {{"notification", uuid}, {"by", who}});
  // An operator's retry starts the count of automatic retries again.
  current.error_retries = 0;
  current.meta.updated_at = loop_.clock().Now();
  Persist([current](store::WriteTx& tx) { return tx.UpdateNotification(current); },
          [this, uuid, done](Result<void> w) {
            if (!w) return done(std::unexpected(w.error()));
            Process(uuid, Mode::kRetry);
            // Answer once what Process wrote is durable, with the notification as it now is.
            journal_.WhenDurable([this, uuid, done](Result<void> w2) {
              if (!w2) return done(std::unexpected(w2.error()));
              done(store::ReadValue<Notification>(
                  store_, [&](store::ReadTx& tx) { return tx.GetNotification(uuid); }));
            });
          });
}

void RecoveryEngine::Impl::Unfence(const std::string& host_uuid, const std::string& who,
                                   std::function<void(Result<Host>)> done) {
  auto h = store::ReadValue<Host>(store_, [&](store::ReadTx& tx) { return tx.GetHost(host_uuid); });
  if (!h) return done(std::unexpected(h.error()));
  if (auto owner = host_owner_.find(h->uuid); owner != host_owner_.end()) {
    return done(FailedPrecondition("A recovery of host " + h->name + " is under way (notification " +
                                   owner->second + "); wait for it or cancel it first."));
  }
  Log("info", "unfence requested", {{"host", h->name}, {"by", who}});
  detached_.Spawn(UnfenceHost(std::move(*h), who, std::move(done)));
}

// forced_down first: an enabled service that Nova still counts as down takes no instances, and
// a failure in between leaves the host out of service rather than half in. The calls get the
// engine's timeout and retries.
Task<void> RecoveryEngine::Impl::UnfenceHost(Host h, std::string who,
                                             std::function<void(Result<Host>)> done) {
  const std::string host = h.name;
  const std::string uuid = h.uuid;
  auto fail = [&](const std::string& step, const Error& e) {
    Log("error", "unfence failed", {{"host", host}, {"step", step}, {"error", e.message()}});
    done(MakeError(e.code(), "Unfencing host " + host + ": " + step + " failed: " + e.message()));
  };
  Result<void> up = co_await ctx_.Call<void>(
      [&](drivers::Callback<void> cb) { ctx_.compute().SetForcedDown(host, false, cb); });
  if (!up) {
    fail("clearing forced_down", up.error());
    co_return;
  }
  Result<void> enabled = co_await ctx_.Call<void>(
      [&](drivers::Callback<void> cb) { ctx_.compute().SetServiceEnabled(host, true, "", cb); });
  if (!enabled) {
    fail("enabling the compute service", enabled.error());
    co_return;
  }
  const WallMicros now = loop_.clock().Now();
  Journal::Write clear = [uuid, now](store::WriteTx& tx) -> Result<void> {
    auto h = tx.GetHost(uuid);
    if (!h) return std::unexpected(h.error());
    if (!h->on_maintenance) return {};
    h->on_maintenance = false;
    h->meta.updated_at = now;
    return tx.UpdateHost(*h);
  };
  Result<void> w = co_await journal_.Commit(std::move(clear));
  if (!w) {
    fail("clearing on_maintenance", w.error());
    co_return;
  }
  Log("info", "host unfenced", {{"host", host}, {"by", who}});
  done(store::ReadValue<Host>(store_, [&](store::ReadTx& tx) { return tx.GetHost(uuid); }));
}

// What an N+1 check's answer depends on in the store: the segment and the candidate hosts as
// last changed — not the journal's writes of a recovery under way, which change nothing here.
std::string RecoveryEngine::Impl::HeadroomInputs(const std::string& segment_uuid) {
  std::string inputs;
  Result<void> read = store_.Read([&](store::ReadTx& tx) -> Result<void> {
    auto seg = tx.GetSegment(segment_uuid);
    if (!seg) return std::unexpected(seg.error());
    inputs = seg->name + " " + std::string(ToString(seg->recovery_method)) + " " +
             std::to_string(seg->meta.updated_at.value_or(seg->meta.created_at));
    store::HostFilter f;
    if (o_.stay_in_segment) f.segment_uuid = seg->uuid;
    auto hosts = tx.ListHosts(f, {.limit = 1'000'000});
    if (!hosts) return std::unexpected(hosts.error());
    for (const Host& h : *hosts) {
      inputs += "|" + h.uuid + " " + h.name + " " + h.segment_uuid + " " +
                (h.reserved ? "r" : "-") + (h.on_maintenance ? "m" : "-") + " " +
                std::to_string(h.meta.updated_at.value_or(h.meta.created_at));
    }
    return {};
  });
  return read ? inputs : "";  // unreadable: never reused
}

// One N+1 check per segment at a time: who asks while one runs waits for its answer, and an
// answer is reused for a few seconds while its inputs in the store are unchanged (an overview
// opened by several operators, or refreshed, asks the cloud once).
void RecoveryEngine::Impl::CheckHeadroom(const std::string& segment_uuid,
                                         std::function<void(Result<ha::SegmentHeadroom>)> done) {
  const MonoMicros now = loop_.clock().Monotonic();
  std::erase_if(headroom_, [&](const auto& kv) {
    return kv.second.waiting.empty() && now - kv.second.answered_at > kHeadroomReuseMicros;
  });
  HeadroomCheck& check = headroom_[segment_uuid];
  if (!check.waiting.empty()) {
    check.waiting.push_back(std::move(done));
    return;
  }
  const std::string inputs = HeadroomInputs(segment_uuid);
  if (check.answer && !inputs.empty() && check.inputs == inputs &&
      now - check.answered_at <= kHeadroomReuseMicros) {
    return done(*check.answer);
  }
  check.inputs = inputs;
  check.waiting.push_back(std::move(done));
  detached_.Spawn(HeadroomOf(segment_uuid));
}

void RecoveryEngine::Impl::AnswerHeadroom(const std::string& segment_uuid,
                                          Result<ha::SegmentHeadroom> answer) {
  HeadroomCheck& check = headroom_[segment_uuid];
  check.answer = std::move(answer);
  check.answered_at = loop_.clock().Monotonic();
  auto waiting = std::move(check.waiting);
  check.waiting.clear();
  for (auto& w : waiting) w(*check.answer);
}

// The N+1 check reads the store once, then asks the cloud for its hosts' sizes and its compute
// services (at once), then each segment host's instances (kHeadroomListings at a time, none
// started after 30 s), each call tried once: a check is a look, not a recovery, and must not
// hold its askers long nor load a cloud that is busy recovering. With the driver's 30 s call
// timeout an answer comes within about 90 s whatever the cloud does. The capacity promised to evacuations still under way
// is not deducted: a check during a recovery sees the cloud as it reports itself.
Task<void> RecoveryEngine::Impl::HeadroomOf(std::string segment_uuid) {
  HeadroomInput in;
  std::vector<Host> candidates;
  Result<void> read = store_.Read([&](store::ReadTx& tx) -> Result<void> {
    auto seg = tx.GetSegment(segment_uuid);
    if (!seg) return std::unexpected(seg.error());
    in.segment = std::move(*seg);
    const store::Page all{.limit = 1'000'000};
    auto hosts = tx.ListHosts({.segment_uuid = in.segment.uuid}, all);
    if (!hosts) return std::unexpected(hosts.error());
    in.segment_hosts = std::move(*hosts);
    if (o_.stay_in_segment) {
      candidates = in.segment_hosts;
      return {};
    }
    auto everywhere = tx.ListHosts({}, all);
    if (!everywhere) return std::unexpected(everywhere.error());
    candidates = std::move(*everywhere);
    return {};
  });
  if (!read) co_return AnswerHeadroom(segment_uuid, std::unexpected(read.error()));
  in.now = loop_.clock().Now();

  std::optional<Result<std::vector<drivers::HostResources>>> res;
  std::optional<Result<std::vector<drivers::ComputeService>>> services;
  std::vector<Task<void>> sizing;
  sizing.push_back([](Impl* self, auto* out) -> Task<void> {
    *out = co_await self->ctx_.CallOnce<std::vector<drivers::HostResources>>(
        [&](drivers::Callback<std::vector<drivers::HostResources>> cb) {
          self->ctx_.compute().ListHostResources(cb);
        });
  }(this, &res));
  sizing.push_back([](Impl* self, auto* out) -> Task<void> {
    *out = co_await self->ctx_.CallOnce<std::vector<drivers::ComputeService>>(
        [&](drivers::Callback<std::vector<drivers::ComputeService>> cb) {
          self->ctx_.compute().ListServices(cb);
        });
  }(this, &services));
  co_await WhenAll(detached_, std::move(sizing));
  if (!services || !*services) {
    // Whatever the cloud said, to the asker it is the cloud being unavailable (never a 404 or
    // a 401 that would read as the asker's own fault).
    co_return AnswerHeadroom(
        segment_uuid, Unavailable("Cannot list the cloud's compute services: " +
                                  (services ? services->error().message() : "no answer")));
  }
  if (res && *res) {
    for (const auto& r : **res) in.resources[r.host] = r;
  } else {
    in.capacity_error = res ? res->error().message() : "no answer";
  }
  in.candidates = Candidates(
      candidates, res && *res ? &**res : nullptr, **services, {},
      [this](const std::string& uuid) { return host_owner_.contains(uuid); }, &in.unusable_because);

  if (in.capacity_error.empty()) {  // with capacity unknown nothing is planned: no listing
    // kHeadroomListings at a time, each host as soon as one ends; none started after the
    // deadline (their hosts are reported not listed), so a hanging cloud bounds the check.
    const MonoMicros deadline = loop_.clock().Monotonic() + kHeadroomListingMicros;
    size_t next = 0;
    std::vector<Task<void>> listers;
    for (size_t k = 0; k < std::min(kHeadroomListings, in.segment_hosts.size()); ++k) {
      listers.push_back([](Impl* self, HeadroomInput* in, size_t* next,
                           MonoMicros deadline) -> Task<void> {
        while (*next < in->segment_hosts.size() && self->loop_.clock().Monotonic() < deadline) {
          const std::string host = in->segment_hosts[(*next)++].name;
          Result<std::vector<drivers::Instance>> r =
              co_await self->ctx_.CallOnce<std::vector<drivers::Instance>>(
                  [&](drivers::Callback<std::vector<drivers::Instance>> cb) {
                    self->ctx_.compute().ListInstances(host, cb);
                  });
          in->instances.insert_or_assign(host, std::move(r));
        }
      }(this, &in, &next, deadline));
    }
    co_await WhenAll(detached_, std::move(listers));
  }
  AnswerHeadroom(segment_uuid, engine::CheckHeadroom(in, o_));
}

void RecoveryEngine::Impl::Cancel(const std::string& uuid, const std::string& who,
                                  std::function<void(Result<Notification>)> done) {
  const std::string message = "Cancelled by " + who + ".";
  if (auto it = active_.find(uuid); it != active_.end()) {
    auto rec = it->second;
    Log("warning", "cancel requested", *rec, {{"by", who}});
    Finish(rec, NotificationStatus::kFailed, message);
    Notification n = rec->n;
    journal_.WhenDurable([n, done](Result<void> w) {
      if (!w) return done(std::unexpected(w.error()));
      done(n);
    });
    return;
  }
  auto r = store::ReadValue<Notification>(
      store_, [&](store::ReadTx& tx) { return tx.GetNotification(uuid); });
  if (!r) return done(std::unexpected(r.error()));
  Notification current = std::move(*r);
  if (current.status != NotificationStatus::kNew && current.status != NotificationStatus::kError &&
      current.status != NotificationStatus::kRunning) {
    return done(FailedPrecondition("Notification " + uuid + " is " +
                                   std::string(ToString(current.status)) +
                                   "; only new, running or error notifications can be cancelled."));
  }
  for (auto& [host, q] : waiting_) {
    std::erase_if(q, [&](const auto& e) { return e.first == uuid; });
  }
  held_.erase(uuid);
  Log("warning", "cancel requested", {{"notification", uuid}, {"by", who}});
  FinishStored(current, NotificationStatus::kFailed, message, std::move(done));
}

// --- periodic work ---------------------------------------------------------------------------

void RecoveryEngine::Impl::SchedulePeriodic() {
  loop_.RunAfter(o_.process_unfinished_interval_micros, Guard([this] {
                   ProcessUnfinished();
                   SchedulePeriodic();
                 }));
}

void RecoveryEngine::Impl::ProcessUnfinished() {
  const WallMicros now = loop_.clock().Now();
  for (const auto& n : ListByStatus({NotificationStatus::kError})) {
    if (active_.contains(n.uuid)) continue;
    if (held_.contains(n.uuid)) {
      Process(n.uuid, Mode::kRetry);  // the storm guard decides again; not a retry spent
      continue;
    }
    if (n.error_retries >= o_.max_error_retries) {
      FinishStored(n, NotificationStatus::kFailed,
                   "Gave up after " + std::to_string(o_.max_error_retries) +
                       " retries; last error: " + n.message.value_or("unknown"));
      continue;
    }
    // The retry is counted durably before it starts: a restart does not grant another.
    Notification counted = n;
    ++counted.error_retries;
    counted.meta.updated_at = now;
    Persist([counted](store::WriteTx& tx) { return tx.UpdateNotification(counted); },
            [this, uuid = n.uuid](Result<void> w) {
              if (!w || active_.contains(uuid)) return;
              // Still in error once counted (not expired or cancelled meanwhile)?
              auto cur = store::ReadValue<Notification>(
                  store_, [&](store::ReadTx& tx) { return tx.GetNotification(uuid); });
              if (cur && cur->status == NotificationStatus::kError) Process(uuid, Mode::kRetry);
            });
  }
  for (const auto& n : ListByStatus({NotificationStatus::kNew})) {
    if (active_.contains(n.uuid)) continue;
    if (n.meta.created_at <= now - o_.retry_new_after_micros) Process(n.uuid, Mode::kNew);
  }
  if (now - last_expiry_check_ >= o_.check_expired_interval_micros) {
    last_expiry_check_ = now;
    CheckExpired();
  }
}

void RecoveryEngine::Impl::CheckExpired() {
  const WallMicros now = loop_.clock().Now();
  for (const auto& n : ListByStatus({NotificationStatus::kNew, NotificationStatus::kRunning,
                                     NotificationStatus::kError})) {
    if (n.generated_time > now - o_.expire_after_micros) continue;
    const std::string message =
        "Expired: unfinished " + Seconds(now - n.generated_time) + " s after it was generated.";
    if (auto it = active_.find(n.uuid); it != active_.end()) {
      Finish(it->second, NotificationStatus::kFailed, message);
    } else {
      FinishStored(n, NotificationStatus::kFailed, message);
    }
  }
}

// --- RecoveryEngine --------------------------------------------------------------------------

RecoveryEngine::RecoveryEngine(EventLoop& loop, store::Store& store,
                               drivers::ComputeDriver& compute, drivers::Fencer& fencer,
                               EngineOptions options, drivers::ProcessRestarter* restarter)
    : impl_(std::make_unique<Impl>(loop, store, compute, fencer, std::move(options), restarter)),
      loop_(loop) {}

RecoveryEngine::~RecoveryEngine() = default;

void RecoveryEngine::Start() {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl] { impl->Start(); }));
}

void RecoveryEngine::NotificationCreated(const std::string& uuid) {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl, uuid] { impl->Process(uuid, Mode::kNew); }));
}

void RecoveryEngine::InstanceNews(const std::string& instance_uuid) {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl, instance_uuid] { impl->InstanceNews(instance_uuid); }));
}

void RecoveryEngine::Retry(const std::string& uuid, const std::string& who,
                           std::function<void(Result<Notification>)> done) {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl, uuid, who, done] { impl->Retry(uuid, who, done); }));
}

void RecoveryEngine::Cancel(const std::string& uuid, const std::string& who,
                            std::function<void(Result<Notification>)> done) {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl, uuid, who, done] { impl->Cancel(uuid, who, done); }));
}

void RecoveryEngine::CheckHeadroom(const std::string& segment_uuid,
                                   std::function<void(Result<ha::SegmentHeadroom>)> done) {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl, segment_uuid, done] { impl->CheckHeadroom(segment_uuid, done); }));
}

void RecoveryEngine::Unfence(const std::string& host_uuid, const std::string& who,
                             std::function<void(Result<Host>)> done) {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl, host_uuid, who, done] { impl->Unfence(host_uuid, who, done); }));
}

RecoveryEngine::Stats RecoveryEngine::stats() const { return impl_->stats(); }
RecoveryEngine::Stats RecoveryEngine::PublishedStats() const { return impl_->Published(); }

}  // namespace warden::engine
