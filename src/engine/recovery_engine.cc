#include "engine/recovery_engine.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "core/time.h"
#include "core/uuid.h"
#include "engine/custom_task.h"
#include "engine/planner.h"

namespace warden::engine {
namespace {

using json = nlohmann::json;
using drivers::Callback;
using Fields = std::vector<std::pair<std::string, std::string>>;

enum class Outcome { kContinue, kFinishEarly, kIgnore };
struct TaskResult {
  Outcome outcome = Outcome::kContinue;
  std::string message;
};
using TaskDone = std::function<void(Result<TaskResult>)>;

enum class Mode { kNew, kRetry, kResume };

bool IsHaEnabled(const drivers::Instance& i, const std::string& key) {
  auto it = i.metadata.find(key);
  if (it == i.metadata.end()) return false;
  return ParseBoolString(it->second).value_or(false);
}

// The state a move leaves an instance in on its new host, decided from its state on the failed
// host. Nova rebuilds an evacuated instance active, except a stopped one, which stays stopped;
// an instance that was not running for its owner (stopped, paused, suspended, rescued, a
// resize awaiting confirmation with the guest off) is stopped again, and one in error is left
// in error (stopped) as Masakari does, so that its owner still sees it needs attention.
std::string RestoreStateFor(const drivers::Instance& i) {
  if (i.vm_state == "active" || i.vm_state == "building") return "active";
  if (i.vm_state == "error") return "error";
  if (i.vm_state == "resized")
    return i.power_state == drivers::kPowerRunning ? "active" : "stopped";
  return "stopped";
}

// The newest evacuation record made since `since` (null if none), leaving out the records an
// earlier attempt already failed with. Newest by the cloud's creation time, then its id order
// (Nova's times have whole seconds).
const drivers::Migration* LatestEvacuation(const std::vector<drivers::Migration>& all,
                                           WallMicros since, const std::set<std::string>& spent) {
  const drivers::Migration* latest = nullptr;
  for (const auto& mig : all) {
    if (mig.type != "evacuation" || mig.created_at < since || spent.contains(mig.id)) continue;
    if (!latest || std::tie(mig.created_at, mig.seq) > std::tie(latest->created_at, latest->seq)) {
      latest = &mig;
    }
  }
  return latest;
}

// Deleted instances are gone for their owner; recovering one would bring it back.
bool IsDeleted(const drivers::Instance& i) {
  return i.vm_state == "soft-delete" || i.vm_state == "deleted";  // Nova's vm_states
}

// "priority=N" among the host's control_attributes (space, comma or semicolon separated).
int HostPriority(const Host& h) {
  const std::string& a = h.control_attributes;
  size_t pos = a.find("priority=");
  if (pos == std::string::npos || (pos > 0 && std::string(" ,;").find(a[pos - 1]) == std::string::npos)) {
    return 0;
  }
  try {
    return std::stoi(a.substr(pos + 9));
  } catch (...) {
    return 0;
  }
}

std::string Seconds(int64_t micros) { return std::to_string((micros + 500'000) / 1'000'000); }

}  // namespace

struct RecoveryEngine::Move {
  VMove v;
  std::optional<drivers::Instance> instance;
  int attempts = 0;
  std::set<std::string> tried;  // destinations that failed for it
  std::string original_state;
  bool holds_segment_slot = false;
  std::string dest_slot;     // the destination whose slot it holds
  std::string planned_dest;  // chosen by the planner, before the move starts
  std::string reserved_dest; // whose capacity this move holds in the engine's ledger
  int calls = 0;             // evacuate calls in this attempt
  WallMicros issued_at = 0;  // last evacuate call in this process
  bool lock_sent = false;    // the lock call was made in this process
  bool lock_in_flight = false;      // ... and not answered yet
  bool release_after_lock = false;  // the move ended meanwhile: unlock once it is answered
  bool ending = false;              // EndMove is releasing the instance's lock
  bool done = false;
  std::set<std::string> spent_records;  // migration records earlier attempts failed with

  bool Ended() const { return done || ending; }

  // Migrations of this move are those created since it started (or was last issued here).
  // Nova stamps them with its own clock: 30 s of slack keep a Nova whose clock is behind
  // Warden's from hiding them (the newest record wins, so earlier attempts in the window do
  // not count).
  WallMicros IssuedSince() const {
    return std::max(v.start_time.value_or(0), issued_at) - 30'000'000;
  }
};

struct RecoveryEngine::Recovery {
  Notification n;
  Host host;
  Segment segment;
  json payload;
  std::vector<std::string> tasks;
  size_t next_task = 0;
  json details = json::array();
  bool fence_confirmed = false;
  bool finished = false;
  std::vector<std::shared_ptr<Move>> moves;
  int64_t moves_total = 0;  // moves the evacuation task works on in this run
  int64_t moves_left = 0;
  int64_t moves_failed = 0;
  int64_t last_reported_decile = -1;
  TaskDone evacuate_done;
  // Moves whose evacuation was accepted, waiting for its migration record to end (with each
  // one's deadline); one listing of the cloud's evacuations per poll follows them all.
  std::vector<std::pair<std::shared_ptr<Move>, MonoMicros>> awaiting;
  bool watching = false;
};

class RecoveryEngine::Impl {
 public:
  Impl(EventLoop& loop, store::Store& store, drivers::ComputeDriver& compute,
       drivers::Fencer& fencer, EngineOptions options, drivers::ProcessRestarter* restarter)
      : loop_(loop),
        store_(store),
        compute_(compute),
        fencer_(fencer),
        restarter_(restarter),
        o_(std::move(options)),
        rng_(o_.seed != 0 ? o_.seed : uint64_t(loop.clock().Monotonic())),
        alive_(std::make_shared<bool>(true)) {}

  ~Impl() {
    *alive_ = false;
    // A recovery under way refers to itself through the evacuation's continuation: without
    // this, it and its moves would outlive the engine.
    for (auto& [_, rec] : active_) Unlink(*rec);
  }

  // --- public entry points (on the loop) ---------------------------------------------------

  void Start() {
    Log("info", "recovery engine starting", Fields{});
    auto running = ListByStatus({NotificationStatus::kRunning});
    for (const auto& n : running) Process(n.uuid, Mode::kResume);
    auto fresh = ListByStatus({NotificationStatus::kNew});
    for (const auto& n : fresh) Process(n.uuid, Mode::kNew);
    SchedulePeriodic();
  }

  void Process(const std::string& uuid, Mode mode);
  // Drops the evacuation task's continuation, which captures the recovery itself: nothing of
  // an ended recovery runs it, and the cycle would keep the recovery and its moves in memory
  // for good (a cancel or a failure in the middle of an evacuation).
  static void Unlink(Recovery& rec) { rec.evacuate_done = nullptr; }
  void Retry(const std::string& uuid, const std::string& who,
             std::function<void(Result<Notification>)> done);
  void Cancel(const std::string& uuid, const std::string& who,
              std::function<void(Result<Notification>)> done);
  void Unfence(const std::string& host_uuid, const std::string& who,
               std::function<void(Result<Host>)> done);

  Stats Published() const {
    std::lock_guard lock(published_mu_);
    return published_;
  }

  Stats stats() const {
    Stats s = stats_;
    s.active = int64_t(active_.size());
    s.queued = 0;
    for (const auto& [_, q] : waiting_) s.queued += int64_t(q.size());
    return s;
  }

  std::function<void()> Guard(std::function<void()> fn) {
    return [alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
      if (auto a = alive.lock(); a && *a) fn();
    };
  }
  template <typename T>
  Callback<T> Guard(std::shared_ptr<Recovery> rec, std::function<void(Result<T>)> fn) {
    return [alive = std::weak_ptr<bool>(alive_), rec, fn = std::move(fn)](Result<T> r) {
      auto a = alive.lock();
      if (!a || !*a || rec->finished) return;
      fn(std::move(r));
    };
  }

 private:
  // --- logging, journal --------------------------------------------------------------------

  void Log(std::string_view level, std::string_view msg, Fields fields) {
    if (o_.log) o_.log(level, msg, fields);
  }
  void Log(std::string_view level, std::string_view msg, const Recovery& rec, Fields fields = {}) {
    fields.insert(fields.begin(), {{"notification", rec.n.uuid}, {"host", rec.host.name}});
    Log(level, msg, fields);
  }

  // Queues a write. One journal transaction is in flight at a time; everything queued
  // meanwhile commits together in the next one, in order. `then` runs on the loop once
  // durable (or failed).
  void Persist(std::function<Result<void>(store::WriteTx&)> fn,
               std::function<void(Result<void>)> then = nullptr) {
    journal_.push_back({std::move(fn), std::move(then)});
    if (journal_.size() == 1 && !journal_in_flight_) loop_.Post(Guard([this] { FlushJournal(); }));
  }

  // A copy of stats() for other threads (/metrics), refreshed with every journal commit and
  // queue change: every state change of a recovery goes through one of them.
  void Publish() {
    Stats s = stats();
    std::lock_guard lock(published_mu_);
    published_ = s;
  }

  void FlushJournal() {
    Publish();
    if (journal_in_flight_ || journal_.empty()) return;
    auto batch = std::make_shared<std::vector<JournalEntry>>(std::move(journal_));
    journal_.clear();
    journal_in_flight_ = true;
    ++stats_.journal_commits;
    store_.WriteAsync(
        [batch](store::WriteTx& tx) -> Result<void> {
          for (auto& e : *batch) {
            if (auto r = e.fn(tx); !r) return r;
          }
          return {};
        },
        BindToLoop<Result<void>>(loop_, [this, batch, alive = std::weak_ptr<bool>(alive_)](
                                            Result<void> r) {
          auto a = alive.lock();
          if (!a || !*a) return;
          journal_in_flight_ = false;
          if (!r) Log("error", "journal write failed", {{"error", r.error().ToString()}});
          for (auto& e : *batch) {
            if (e.then) e.then(r);
          }
          FlushJournal();
        }));
  }

  void SaveNotification(Recovery& rec) {
    rec.n.workflow_details_json = rec.details.dump();
    rec.n.meta.updated_at = loop_.clock().Now();
    Notification copy = rec.n;
    Persist([copy](store::WriteTx& tx) { return tx.UpdateNotification(copy); });
  }
  void SaveMove(const Move& m) {
    VMove v = m.v;
    v.meta.updated_at = loop_.clock().Now();
    Persist([v](store::WriteTx& tx) { return tx.UpdateVMove(v); });
  }

  // --- progress details (Masakari 1.1's recovery_workflow_details) -------------------------

  json& Entry(Recovery& rec, const std::string& task) {
    for (auto& e : rec.details) {
      if (e["name"] == task) return e;
    }
    rec.details.push_back({{"name", task},
                           {"progress", 0.0},
                           {"progress_details", json::array()},
                           {"state", "PENDING"}});
    return rec.details.back();
  }
  void Progress(Recovery& rec, const std::string& task, const std::string& message,
                double progress, bool save = true) {
    json& e = Entry(rec, task);
    e["progress"] = progress;
    // Masakari prints str(utcnow()): "2024-01-01 12:00:00.123456".
    std::string ts = FormatIsoTime(loop_.clock().Now());
    std::replace(ts.begin(), ts.end(), 'T', ' ');
    e["progress_details"].push_back(
        {{"timestamp", ts}, {"progress", progress}, {"message", message}});
    if (save) SaveNotification(rec);
  }
  void SetState(Recovery& rec, const std::string& task, const char* state) {
    Entry(rec, task)["state"] = state;
  }

  // --- reading the store -------------------------------------------------------------------

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

  // --- running a notification --------------------------------------------------------------

  void Begin(std::shared_ptr<Recovery> rec, Mode mode);
  void RunNext(std::shared_ptr<Recovery> rec);
  void Finish(std::shared_ptr<Recovery> rec, NotificationStatus status, std::string message);
  void FinishStored(Notification n, NotificationStatus status, std::string message,
                    std::function<void(Result<Notification>)> done = nullptr);
  void ReleaseHost(const std::string& host_uuid);
  void RunTask(std::shared_ptr<Recovery> rec, const std::string& name, TaskDone done);

  // Calls op with a deadline and the retry policy for transient errors.
  template <typename T>
  void Call(std::shared_ptr<Recovery> rec, std::function<void(Callback<T>)> op,
            std::function<void(Result<T>)> done, const RetryPolicy& policy, int attempt = 1);
  // Polls check every poll interval until it returns a value or the deadline passes.
  void WaitFor(std::shared_ptr<Recovery> rec, MonoMicros deadline,
               std::function<void(std::function<void(std::optional<Result<void>>)>)> check,
               std::function<void(Result<void>)> done, std::string what);

  // Tasks.
  void FenceHost(std::shared_ptr<Recovery> rec, TaskDone done);
  void DisableComputeService(std::shared_ptr<Recovery> rec, TaskDone done);
  void PrepareInstances(std::shared_ptr<Recovery> rec, TaskDone done);
  void EvacuateInstances(std::shared_ptr<Recovery> rec, TaskDone done);
  void StopInstance(std::shared_ptr<Recovery> rec, TaskDone done);
  void StartInstance(std::shared_ptr<Recovery> rec, TaskDone done);
  void ConfirmInstanceActive(std::shared_ptr<Recovery> rec, TaskDone done);
  void DisableComputeNode(std::shared_ptr<Recovery> rec, TaskDone done);
  void ConfirmComputeNodeDisabled(std::shared_ptr<Recovery> rec, TaskDone done);
  void RestartProcess(std::shared_ptr<Recovery> rec, TaskDone done);

  // Evacuation of one instance.
  void PlanAndStart(std::shared_ptr<Recovery> rec, std::vector<std::shared_ptr<Move>> moves);
  void Capacity(std::shared_ptr<Recovery> rec,
                std::function<void(Result<std::vector<HostCapacity>>)> done);
  void JoinAggregatesOf(std::shared_ptr<Recovery> rec, const std::string& reserved,
                        std::function<void()> then);
  void StartMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  // Takes a slot on dest, journals the move ongoing there, then issues it.
  void StartOnDestination(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m, std::string dest);
  void IssueMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  void ReconcileMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  void ConfirmMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  void WatchEvacuations(std::shared_ptr<Recovery> rec);
  void ConfirmOnInstance(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                         MonoMicros deadline);
  void SettleMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m);
  void ReleaseLock(std::shared_ptr<Move> m, std::function<void(Result<void>)> done = nullptr,
                   int attempt = 1);
  template <typename T>
  void CallDetached(std::function<void(Callback<T>)> op, std::function<void(Result<T>)> done);
  void FinishMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m, VMoveStatus status,
                  std::string message);
  void RetryMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m, std::string why);
  void EndMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m, VMoveStatus status,
               std::string message);

  // Bounded concurrency: per segment, then per destination.
  void Acquire(std::map<std::string, int>& counts,
               std::map<std::string, std::deque<std::function<void()>>>& waiters,
               const std::string& key, int limit, std::function<void()> fn) {
    if (counts[key] < limit) {
      ++counts[key];
      fn();
    } else {
      waiters[key].push_back(std::move(fn));
    }
  }
  void Release(std::map<std::string, int>& counts,
               std::map<std::string, std::deque<std::function<void()>>>& waiters,
               const std::string& key) {
    auto& q = waiters[key];
    if (!q.empty()) {
      auto fn = std::move(q.front());
      q.pop_front();
      loop_.Post(Guard(std::move(fn)));
    } else {
      --counts[key];
    }
  }
  // Capacity promised to a move's destination until the move ends or moves on; the
  // planner sees it deducted, so concurrent recoveries do not overcommit one host.
  void Reserve(Move& m, const std::string& dest) {
    Unreserve(m);
    m.reserved_dest = dest;
    AddFlavor(inflight_[dest], m.instance->flavor, 1);
  }
  void Unreserve(Move& m) {
    if (m.reserved_dest.empty()) return;
    AddFlavor(inflight_[m.reserved_dest], m.instance->flavor, -1);
    m.reserved_dest.clear();
  }
  static void AddFlavor(drivers::Flavor& to, const drivers::Flavor& f, int sign) {
    to.vcpus += sign * f.vcpus;
    to.ram_mb += sign * f.ram_mb;
    to.disk_gb += sign * f.disk_gb;
  }
  void ReleaseSlots(Move& m) {
    if (!m.dest_slot.empty()) {
      Release(dest_count_, dest_waiters_, m.dest_slot);
      m.dest_slot.clear();
    }
    Unreserve(m);
  }
  // The plan request for `moves` of rec over a capacity snapshot; hosts that already failed a
  // move are not candidates for it (only meaningful for a single move).
  PlanRequest PlanRequestFor(const Recovery& rec, std::vector<HostCapacity> hosts,
                             const std::vector<std::shared_ptr<Move>>& moves) const {
    PlanRequest req;
    req.method = rec.segment.recovery_method;
    req.segment_uuid = rec.segment.uuid;
    req.stay_in_segment = o_.stay_in_segment;
    req.hosts = std::move(hosts);
    if (moves.size() == 1) {
      for (auto& h : req.hosts) {
        if (moves[0]->tried.contains(h.name)) h.usable = false;
      }
    }
    for (const auto& m : moves) {
      const auto& f = m->instance->flavor;
      req.instances.push_back({m->v.instance_uuid, Flavor{f.vcpus, f.ram_mb, f.disk_gb},
                               IsHaEnabled(*m->instance, o_.ha_enabled_key)});
    }
    return req;
  }
  void SchedulePeriodic();
  void ProcessUnfinished();
  void CheckExpired();

  struct JournalEntry {
    std::function<Result<void>(store::WriteTx&)> fn;
    std::function<void(Result<void>)> then;
  };

  EventLoop& loop_;
  store::Store& store_;
  drivers::ComputeDriver& compute_;
  drivers::Fencer& fencer_;
  drivers::ProcessRestarter* const restarter_;  // may be null
  const EngineOptions o_;
  std::mt19937_64 rng_;
  std::shared_ptr<bool> alive_;
  std::vector<JournalEntry> journal_;
  bool journal_in_flight_ = false;
  std::map<std::string, std::shared_ptr<Recovery>> active_;    // by notification uuid
  std::map<std::string, std::string> host_owner_;              // host uuid → notification
  std::map<std::string, std::deque<std::pair<std::string, Mode>>> waiting_;  // by host uuid
  std::set<std::string> held_;                                 // by the storm guard
  std::map<std::string, int> segment_count_, dest_count_;
  std::map<std::string, std::deque<std::function<void()>>> segment_waiters_, dest_waiters_;
  std::map<std::string, drivers::Flavor> inflight_;  // capacity promised to moves under way
  bool follow_each_instance_ = false;  // the cloud cannot list evacuations in one call
  Stats stats_;
  mutable std::mutex published_mu_;
  Stats published_;  // guarded by published_mu_
  WallMicros last_expiry_check_ = 0;
};

// --- processing ------------------------------------------------------------------------------

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
  if (in.host) in.host_has_fencer = fencer_.Covers(in.host->name);

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
  SaveNotification(*rec);
  RunNext(rec);
}

void RecoveryEngine::Impl::RunNext(std::shared_ptr<Recovery> rec) {
  if (rec->finished) return;
  if (rec->next_task >= rec->tasks.size()) {
    Finish(rec, NotificationStatus::kFinished, "");
    return;
  }
  const std::string name = rec->tasks[rec->next_task];
  SetState(*rec, name, "RUNNING");
  RunTask(rec, name, [this, rec, name](Result<TaskResult> r) {
    if (rec->finished) return;
    if (!r) {
      SetState(*rec, name, "FAILURE");
      Progress(*rec, name, r.error().message(), Entry(*rec, name)["progress"].get<double>(), false);
      Log("error", "task failed", *rec, {{"task", name}, {"error", r.error().message()}});
      Finish(rec, NotificationStatus::kError, name + ": " + r.error().message());
      return;
    }
    SetState(*rec, name, "SUCCESS");
    if (Entry(*rec, name)["progress"].get<double>() < 1.0 || !r->message.empty()) {
      Progress(*rec, name, r->message.empty() ? "done" : r->message, 1.0, false);
    }
    switch (r->outcome) {
      case Outcome::kContinue:
        ++rec->next_task;
        SaveNotification(*rec);
        RunNext(rec);
        return;
      case Outcome::kFinishEarly:
        Finish(rec, NotificationStatus::kFinished, r->message);
        return;
      case Outcome::kIgnore:
        Finish(rec, NotificationStatus::kIgnored, r->message);
        return;
    }
  });
}

void RecoveryEngine::Impl::RunTask(std::shared_ptr<Recovery> rec, const std::string& name,
                                   TaskDone done) {
  if (name == kFenceHost) return FenceHost(rec, std::move(done));
  if (name == kDisableComputeService) return DisableComputeService(rec, std::move(done));
  if (name == kPrepareInstances) return PrepareInstances(rec, std::move(done));
  if (name == kEvacuateInstances) return EvacuateInstances(rec, std::move(done));
  if (name == kStopInstance) return StopInstance(rec, std::move(done));
  if (name == kStartInstance) return StartInstance(rec, std::move(done));
  if (name == kConfirmInstanceActive) return ConfirmInstanceActive(rec, std::move(done));
  if (name == kRestartProcess) return RestartProcess(rec, std::move(done));
  if (name == kDisableComputeNode) return DisableComputeNode(rec, std::move(done));
  if (name == kConfirmComputeNodeDisabled) return ConfirmComputeNodeDisabled(rec, std::move(done));
  if (name == kNoOp) {
    loop_.Post(Guard([done] { done(TaskResult{}); }));
    return;
  }
  auto it = o_.workflows.custom.find(name);
  if (it == o_.workflows.custom.end()) {
    loop_.Post(Guard([done, name] { done(Internal("no task named " + name)); }));
    return;
  }
  const CustomTask task = it->second;
  Progress(*rec, name, "running custom task " + name, 0.1);
  Notification n = rec->n;
  // Each attempt's answer holds the function that makes the next attempt; the function itself
  // holds only a weak reference to itself (a strong one would be a cycle: never freed).
  auto attempt = std::make_shared<std::function<void(int)>>();
  std::weak_ptr<std::function<void(int)>> self = attempt;
  *attempt = [this, rec, task, n, done, self](int k) {
    auto attempt = self.lock();  // alive: whoever calls it holds it
    RunCustomTask(
        task, n,
        BindToLoop<Result<std::string>>(
            loop_, [this, rec, task, done, attempt, k,
                    alive = std::weak_ptr<bool>(alive_)](Result<std::string> r) {
              // The engine may be gone by the time the task's thread answers.
              auto a = alive.lock();
              if (!a || !*a || rec->finished) return;
              if (r) {
                done(TaskResult{Outcome::kContinue, r->empty() ? "custom task succeeded" : *r});
              } else if (k < task.retry.attempts) {
                Progress(*rec, task.name,
                         "attempt " + std::to_string(k) + " failed: " + r.error().message(), 0.1);
                loop_.RunAfter(task.retry.DelayBefore(k + 1, rng_),
                               Guard([attempt, k] { (*attempt)(k + 1); }));
              } else {
                done(std::unexpected(r.error()));
              }
            }));
  };
  (*attempt)(1);
}

void RecoveryEngine::Impl::Finish(std::shared_ptr<Recovery> rec, NotificationStatus status,
                                  std::string message) {
  if (rec->finished) return;
  rec->finished = true;
  Unlink(*rec);
  // Moves not finished are failed with the notification (cancel, or a task error elsewhere).
  for (auto& m : rec->moves) {
    if (m->done) continue;
    // Released without waiting (nothing of this recovery runs after this), and recorded
    // as released only once the cloud confirms it.
    if (m->v.warden_locked && !m->ending) ReleaseLock(m);
    if (m->v.status == VMoveStatus::kSucceeded || m->v.status == VMoveStatus::kFailed ||
        m->v.status == VMoveStatus::kIgnored) {
      continue;
    }
    if (m->holds_segment_slot) Release(segment_count_, segment_waiters_, rec->segment.uuid);
    ReleaseSlots(*m);
    m->done = true;
    if (status == NotificationStatus::kFailed) {
      m->v.status = VMoveStatus::kFailed;
      m->v.message = message;
      m->v.end_time = loop_.clock().Now();
      SaveMove(*m);
    }
  }
  rec->n.status = status;
  if (!message.empty()) {
    rec->n.message = message;
  } else {
    rec->n.message.reset();
  }
  SaveNotification(*rec);
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
            Persist([](store::WriteTx&) -> Result<void> { return {}; },
                    [this, uuid, done](Result<void> w2) {
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
  // A recovery record of its own, so that the calls get the engine's timeout and retries.
  auto rec = std::make_shared<Recovery>();
  rec->host = *h;
  const std::string host = h->name;
  const std::string uuid = h->uuid;
  auto fail = [this, host, done](const std::string& step, const Error& e) {
    Log("error", "unfence failed", {{"host", host}, {"step", step}, {"error", e.message()}});
    done(MakeError(e.code(), "Unfencing host " + host + ": " + step + " failed: " + e.message()));
  };
  // forced_down first: an enabled service that Nova still counts as down takes no instances,
  // and a failure in between leaves the host out of service rather than half in.
  Call<void>(
      rec, [this, host](Callback<void> cb) { compute_.SetForcedDown(host, false, cb); },
      [this, rec, host, uuid, who, done, fail](Result<void> f) {
        if (!f) return fail("clearing forced_down", f.error());
        Call<void>(
            rec, [this, host](Callback<void> cb) { compute_.SetServiceEnabled(host, true, "", cb); },
            [this, host, uuid, who, done, fail](Result<void> e) {
              if (!e) return fail("enabling the compute service", e.error());
              const WallMicros now = loop_.clock().Now();
              Persist(
                  [uuid, now](store::WriteTx& tx) -> Result<void> {
                    auto h = tx.GetHost(uuid);
                    if (!h) return std::unexpected(h.error());
                    if (!h->on_maintenance) return {};
                    h->on_maintenance = false;
                    h->meta.updated_at = now;
                    return tx.UpdateHost(*h);
                  },
                  [this, host, uuid, who, done, fail](Result<void> w) {
                    if (!w) return fail("clearing on_maintenance", w.error());
                    Log("info", "host unfenced", {{"host", host}, {"by", who}});
                    done(store::ReadValue<Host>(
                        store_, [&](store::ReadTx& tx) { return tx.GetHost(uuid); }));
                  });
            },
            o_.call_retry);
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::Cancel(const std::string& uuid, const std::string& who,
                                  std::function<void(Result<Notification>)> done) {
  const std::string message = "Cancelled by " + who + ".";
  if (auto it = active_.find(uuid); it != active_.end()) {
    auto rec = it->second;
    Log("warning", "cancel requested", *rec, {{"by", who}});
    Finish(rec, NotificationStatus::kFailed, message);
    Notification n = rec->n;
    Persist([](store::WriteTx&) -> Result<void> { return {}; },
            [n, done](Result<void> w) {
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

// --- calls and waits -------------------------------------------------------------------------

template <typename T>
void RecoveryEngine::Impl::Call(std::shared_ptr<Recovery> rec,
                                std::function<void(Callback<T>)> op,
                                std::function<void(Result<T>)> done, const RetryPolicy& policy,
                                int attempt) {
  auto answered = std::make_shared<bool>(false);
  auto timer = std::make_shared<TimerId>(0);
  auto handle = [this, rec, op, done, policy, attempt, answered, timer](Result<T> r) {
    if (*answered || rec->finished) return;
    *answered = true;
    loop_.Cancel(*timer);
    if (!r && IsRetryable(r.error()) && attempt < policy.attempts) {
      loop_.RunAfter(policy.DelayBefore(attempt + 1, rng_),
                     Guard([this, rec, op, done, policy, attempt] {
                       Call<T>(rec, op, done, policy, attempt + 1);
                     }));
      return;
    }
    done(std::move(r));
  };
  *timer = loop_.RunAfter(o_.call_timeout_micros, Guard([handle, this] {
                            handle(MakeError(ErrorCode::kDeadlineExceeded,
                                             "no answer within " + Seconds(o_.call_timeout_micros) +
                                                 " s"));
                          }));
  op(Guard<T>(rec, handle));
}

// One call with the call timeout, answered whatever became of the recovery (only the engine's
// end drops it).
template <typename T>
void RecoveryEngine::Impl::CallDetached(std::function<void(Callback<T>)> op,
                                        std::function<void(Result<T>)> done) {
  auto answered = std::make_shared<bool>(false);
  auto timer = std::make_shared<TimerId>(0);
  auto handle = [this, done, answered, timer](Result<T> r) {
    if (*answered) return;
    *answered = true;
    loop_.Cancel(*timer);
    done(std::move(r));
  };
  *timer = loop_.RunAfter(
      o_.call_timeout_micros, Guard([this, handle] {
        handle(MakeError(ErrorCode::kDeadlineExceeded,
                         "no answer within " + Seconds(o_.call_timeout_micros) + " s"));
      }));
  op([alive = std::weak_ptr<bool>(alive_), handle](Result<T> r) {
    auto a = alive.lock();
    if (a && *a) handle(std::move(r));
  });
}

void RecoveryEngine::Impl::WaitFor(
    std::shared_ptr<Recovery> rec, MonoMicros deadline,
    std::function<void(std::function<void(std::optional<Result<void>>)>)> check,
    std::function<void(Result<void>)> done, std::string what) {
  check([this, rec, deadline, check, done, what](std::optional<Result<void>> r) {
    if (rec->finished) return;
    if (r) return done(*r);
    if (loop_.clock().Monotonic() >= deadline) {
      return done(MakeError(ErrorCode::kDeadlineExceeded, what));
    }
    loop_.RunAfter(o_.poll_interval_micros, Guard([this, rec, deadline, check, done, what] {
                     WaitFor(rec, deadline, check, done, what);
                   }));
  });
}

// --- host failure ----------------------------------------------------------------------------

void RecoveryEngine::Impl::FenceHost(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string host = rec->host.name;
  const std::string task(kFenceHost);
  if (!fencer_.Covers(host)) {
    auto status = rec->payload.find("host_status");
    const bool normal = status != rec->payload.end() && *status == "NORMAL";
    if (o_.triage.unfenced_hosts == UnfencedHosts::kTrustHostStatus && normal) {
      rec->fence_confirmed = true;
      Progress(*rec, task,
               "Host " + host +
                   " has no fencer: the monitor's host_status NORMAL is taken as confirmation "
                   "that it is powered off.",
               1.0);
      loop_.Post(Guard([done] { done(TaskResult{}); }));
    } else {
      loop_.Post(Guard([done, host] {
        done(FailedPrecondition("Host " + host +
                                " has no fencer and is not confirmed off; nothing is evacuated."));
      }));
    }
    return;
  }
  Progress(*rec, task, "Powering off host " + host + " through its BMC.", 0.1);
  const MonoMicros deadline = loop_.clock().Monotonic() + o_.fence_timeout_micros;
  Call<void>(
      rec, [this, host](Callback<void> cb) { fencer_.PowerOff(host, cb); },
      [this, rec, host, task, deadline, done](Result<void> r) {
        if (!r) {
          Log("error", "ALARM fencing failed", *rec, {{"error", r.error().message()}});
          return done(FailedPrecondition("Fencing host " + host + " failed: " +
                                         r.error().message() + ". Nothing is evacuated."));
        }
        Progress(*rec, task, "Power off accepted; waiting for the BMC to report it off.", 0.5);
        WaitFor(
            rec, deadline,
            [this, rec, host](std::function<void(std::optional<Result<void>>)> cb) {
              Call<drivers::PowerState>(
                  rec,
                  [this, host](Callback<drivers::PowerState> c) { fencer_.GetPowerState(host, c); },
                  [cb](Result<drivers::PowerState> s) {
                    if (s && *s == drivers::PowerState::kOff) return cb(Result<void>{});
                    // A fencer that knows it cannot confirm (every fencing level failed)
                    // says so with a non-retryable error: no point polling to the deadline.
                    if (!s && s.error().code() == ErrorCode::kFailedPrecondition) {
                      return cb(Result<void>(std::unexpected(s.error())));
                    }
                    cb(std::nullopt);
                  },
                  RetryPolicy{.attempts = 1});
            },
            [this, rec, host, task, done](Result<void> w) {
              if (!w && w.error().code() == ErrorCode::kFailedPrecondition) {
                Log("error", "ALARM fencing failed", *rec, {{"error", w.error().message()}});
                return done(FailedPrecondition("Fencing host " + host + " failed: " +
                                               w.error().message() + ". Nothing is evacuated."));
              }
              if (!w) {
                Log("error", "ALARM fencing not confirmed", *rec, {});
                return done(FailedPrecondition(
                    "Host " + host + " did not confirm power off within " +
                    Seconds(o_.fence_timeout_micros) + " s. Nothing is evacuated."));
              }
              rec->fence_confirmed = true;
              Progress(*rec, task, "Host " + host + " is powered off (confirmed by its BMC).", 1.0,
                       false);
              done(TaskResult{});
            },
            "power off not confirmed");
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::DisableComputeService(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string host = rec->host.name;
  const std::string task(kDisableComputeService);
  auto disable = [this, rec, host, task, done](std::string before) {
    Progress(*rec, task, "Disabling the compute service of " + host + ".", 0.6);
    Call<void>(
        rec,
        [this, host](Callback<void> cb) {
          compute_.SetServiceEnabled(host, false, o_.service_disable_reason, cb);
        },
        [host, before, done](Result<void> r) {
          if (!r) return done(std::unexpected(r.error()));
          done(TaskResult{Outcome::kContinue, before + "Compute service of " + host + " disabled."});
        },
        o_.call_retry);
  };
  if (!rec->fence_confirmed) {
    // forced_down tells Nova the host is dead; only a confirmed fence may say so.
    Progress(*rec, task, "Host " + host + " is not fenced: it is not marked forced down.", 0.2);
    return disable("Not forced down (the host is not fenced). ");
  }
  // forced_down first: Nova then counts the service as down at once, so disabling it does not
  // wait on an RPC to a dead nova-compute, and evacuation is allowed without any sleep.
  Progress(*rec, task, "Marking the compute service of " + host + " forced down.", 0.2);
  Call<void>(
      rec, [this, host](Callback<void> cb) { compute_.SetForcedDown(host, true, cb); },
      [disable, done](Result<void> f) {
        if (!f) return done(std::unexpected(f.error()));
        disable("Forced down. ");
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::PrepareInstances(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string task(kPrepareInstances);
  auto r = store::ReadValue<std::vector<VMove>>(store_, [&](store::ReadTx& tx) {
    store::VMoveFilter f;
    f.notification_uuid = rec->n.uuid;
    store::Page page;
    page.limit = 1'000'000;
    return tx.ListVMoves(f, page);
  });
  if (!r) {
    loop_.Post(Guard([done, r] { done(std::unexpected(r.error())); }));
    return;
  }
  std::vector<VMove> existing = std::move(*r);
  if (!existing.empty()) {
    std::sort(existing.begin(), existing.end(),
              [](const VMove& a, const VMove& b) { return a.meta.id < b.meta.id; });
    rec->moves.clear();
    for (auto& v : existing) {
      auto m = std::make_shared<Move>();
      m->v = std::move(v);
      rec->moves.push_back(m);
    }
    const std::string msg =
        "Continuing with the " + std::to_string(rec->moves.size()) + " VM moves recorded earlier.";
    loop_.Post(Guard([done, msg] { done(TaskResult{Outcome::kContinue, msg}); }));
    return;
  }
  const std::string host = rec->host.name;
  Progress(*rec, task, "Listing the instances of " + host + ".", 0.1);
  Call<std::vector<drivers::Instance>>(
      rec, [this, host](Callback<std::vector<drivers::Instance>> cb) {
        compute_.ListInstances(host, cb);
      },
      [this, rec, host, task, done](Result<std::vector<drivers::Instance>> l) {
        if (!l) return done(std::unexpected(l.error()));
        std::vector<drivers::Instance> ha, other;
        int64_t skipped_error = 0, skipped_non_ha = 0, skipped_deleted = 0;
        for (auto& i : *l) {
          if (i.host != host) continue;  // exact host only, whatever the driver matched
          if (IsDeleted(i)) {
            ++skipped_deleted;
            continue;
          }
          if (o_.ignore_instances_in_error_state && i.vm_state == "error") {
            ++skipped_error;
            continue;
          }
          if (IsHaEnabled(i, o_.ha_enabled_key)) {
            ha.push_back(std::move(i));
          } else if (o_.evacuate_all_instances) {
            other.push_back(std::move(i));
          } else {
            ++skipped_non_ha;
          }
        }
        const int64_t n_ha = int64_t(ha.size());
        for (auto& i : other) ha.push_back(std::move(i));
        if (ha.empty()) {
          return done(TaskResult{Outcome::kFinishEarly,
                                 "No instances to evacuate on " + host + "."});
        }
        const WallMicros now = loop_.clock().Now();
        auto moves = std::make_shared<std::vector<std::shared_ptr<Move>>>();
        for (auto& i : ha) {
          auto m = std::make_shared<Move>();
          m->v.uuid = NewUuid();
          m->v.notification_uuid = rec->n.uuid;
          m->v.instance_uuid = i.uuid;
          m->v.instance_name = i.name;
          m->v.source_host = host;
          m->v.type = VMoveType::kEvacuation;
          m->v.status = VMoveStatus::kPending;
          m->v.meta.created_at = now;
          m->original_state = i.vm_state;
          m->v.restore_state = RestoreStateFor(i);
          m->instance = std::move(i);
          moves->push_back(m);
        }
        std::string msg = std::to_string(moves->size()) + " instances to evacuate (" +
                          std::to_string(n_ha) + " HA-enabled first)";
        if (skipped_error > 0) msg += "; " + std::to_string(skipped_error) + " in error skipped";
        if (skipped_deleted > 0) {
          msg += "; " + std::to_string(skipped_deleted) + " deleted skipped";
        }
        if (skipped_non_ha > 0) {
          msg += "; " + std::to_string(skipped_non_ha) + " not HA-enabled skipped";
        }
        msg += ".";
        Persist(
            [moves](store::WriteTx& tx) -> Result<void> {
              for (auto& m : *moves) {
                auto v = tx.InsertVMove(m->v);
                if (!v) return std::unexpected(v.error());
                m->v = std::move(*v);
              }
              return {};
            },
            Guard<void>(rec, [rec, moves, msg, done](Result<void> w) {
              if (!w) return done(std::unexpected(w.error()));
              rec->moves = *moves;
              done(TaskResult{Outcome::kContinue, msg});
            }));
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::EvacuateInstances(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string host = rec->host.name;
  if (!rec->fence_confirmed) {
    loop_.Post(Guard([done, host] {
      done(FailedPrecondition("Host " + host +
                              " is not confirmed fenced; refusing to evacuate its instances."));
    }));
    return;
  }
  std::vector<std::shared_ptr<Move>> to_plan, to_resume;
  for (auto& m : rec->moves) {
    m->done = false;
    switch (m->v.status) {
      case VMoveStatus::kSucceeded:
      case VMoveStatus::kIgnored:
        m->done = true;
        if (m->v.warden_locked) ReleaseLock(m);  // an unlock that failed before
        break;
      case VMoveStatus::kOngoing:
        to_resume.push_back(m);
        break;
      case VMoveStatus::kFailed:  // a retry of the notification tries them again
      case VMoveStatus::kPending:
        m->v.status = VMoveStatus::kPending;
        m->v.dest_host.reset();
        m->v.end_time.reset();
        m->attempts = 0;
        m->tried.clear();
        to_plan.push_back(m);
        break;
    }
  }
  rec->moves_left = int64_t(to_plan.size() + to_resume.size());
  rec->moves_total = rec->moves_left;
  rec->moves_failed = 0;
  rec->last_reported_decile = 0;
  if (rec->moves_left == 0) {
    loop_.Post(Guard([done] { done(TaskResult{Outcome::kContinue, "Every instance was already evacuated."}); }));
    return;
  }
  rec->evacuate_done = std::move(done);
  Progress(*rec, std::string(kEvacuateInstances),
           "Evacuating " + std::to_string(rec->moves_left) + " instances (method " +
               std::string(ToString(rec->segment.recovery_method)) + ", up to " +
               std::to_string(o_.max_parallel_evacuations) + " at a time).",
           0.05);
  // Instances recorded before a restart: their flavor and state come from the cloud again.
  auto missing = std::make_shared<int64_t>(0);
  auto all = std::make_shared<std::vector<std::shared_ptr<Move>>>(to_plan);
  all->insert(all->end(), to_resume.begin(), to_resume.end());
  auto go = [this, rec, to_plan, to_resume] {
    for (auto& m : to_resume) {
      if (!m->Ended()) StartMove(rec, m);
    }
    std::vector<std::shared_ptr<Move>> plan;
    for (auto& m : to_plan) {
      if (!m->Ended()) plan.push_back(m);
    }
    if (!plan.empty()) PlanAndStart(rec, std::move(plan));
  };
  for (auto& m : *all) {
    if (!m->instance) ++*missing;
  }
  if (*missing == 0) return go();
  for (auto& m : *all) {
    if (m->instance) continue;
    Call<drivers::Instance>(
        rec,
        [this, uuid = m->v.instance_uuid](Callback<drivers::Instance> cb) {
          compute_.GetInstance(uuid, cb);
        },
        [this, rec, m, missing, go](Result<drivers::Instance> r) {
          if (r) {
            m->instance = *r;
            if (m->original_state.empty()) m->original_state = r->vm_state;
          } else if (r.error().code() == ErrorCode::kNotFound) {
            EndMove(rec, m, VMoveStatus::kIgnored, "The instance no longer exists.");
          } else {
            EndMove(rec, m, VMoveStatus::kFailed, "Cannot read the instance: " + r.error().message());
          }
          if (--*missing == 0 && !rec->finished) go();
        },
        o_.call_retry);
  }
}

void RecoveryEngine::Impl::Capacity(std::shared_ptr<Recovery> rec,
                                    std::function<void(Result<std::vector<HostCapacity>>)> done) {
  auto r = store::ReadValue<std::vector<Host>>(store_, [&](store::ReadTx& tx) {
    store::HostFilter f;
    if (o_.stay_in_segment) f.segment_uuid = rec->segment.uuid;
    store::Page page;
    page.limit = 1'000'000;
    return tx.ListHosts(f, page);
  });
  if (!r) {
    loop_.Post(Guard([done, r] { done(std::unexpected(r.error())); }));
    return;
  }
  std::vector<Host> hosts = std::move(*r);
  Call<std::vector<drivers::HostResources>>(
      rec, [this](Callback<std::vector<drivers::HostResources>> cb) { compute_.ListHostResources(cb); },
      [this, rec, hosts, done](Result<std::vector<drivers::HostResources>> res) {
        if (!res) return done(std::unexpected(res.error()));
        auto out = std::make_shared<std::vector<HostCapacity>>();
        std::map<std::string, drivers::HostResources> by_name;
        for (auto& h : *res) by_name[h.host] = h;
        std::vector<std::pair<Host, drivers::HostResources>> candidates;
        for (const Host& h : hosts) {
          if (h.uuid == rec->host.uuid) continue;
          auto it = by_name.find(h.name);
          if (it == by_name.end()) continue;
          candidates.push_back({h, it->second});
        }
        if (candidates.empty()) return done(*out);
        // One listing of the compute services, not a call per candidate host.
        Call<std::vector<drivers::ComputeService>>(
            rec,
            [this](Callback<std::vector<drivers::ComputeService>> cb) {
              compute_.ListServices(cb);
            },
            [this, candidates, out, done](Result<std::vector<drivers::ComputeService>> l) {
              if (!l) return done(std::unexpected(l.error()));
              std::map<std::string, const drivers::ComputeService*> service;
              for (const auto& svc : *l) service[svc.host] = &svc;
              for (const auto& [h, res_h] : candidates) {
                HostCapacity c;
                c.name = h.name;
                c.segment_uuid = h.segment_uuid;
                c.reserved = h.reserved;
                c.priority = HostPriority(h);
                const drivers::Flavor& f = inflight_[h.name];
                c.free_vcpus = res_h.total.vcpus - res_h.used.vcpus - f.vcpus;
                c.free_ram_mb = res_h.total.ram_mb - res_h.used.ram_mb - f.ram_mb;
                c.free_disk_gb = res_h.total.disk_gb - res_h.used.disk_gb - f.disk_gb;
                auto it = service.find(h.name);
                const drivers::ComputeService* svc = it == service.end() ? nullptr : it->second;
                c.usable = svc && svc->up && !svc->forced_down && (h.reserved || svc->enabled) &&
                           !h.on_maintenance && !host_owner_.contains(h.uuid);
                out->push_back(std::move(c));
              }
              std::sort(out->begin(), out->end(), [](const HostCapacity& a, const HostCapacity& b) {
                return a.name < b.name;
              });
              done(std::move(*out));
            },
            o_.call_retry);
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::PlanAndStart(std::shared_ptr<Recovery> rec,
                                        std::vector<std::shared_ptr<Move>> moves) {
  Capacity(rec, [this, rec, moves](Result<std::vector<HostCapacity>> caps) {
    if (!caps) {
      for (auto& m : moves) {
        EndMove(rec, m, VMoveStatus::kFailed,
                "Cannot read the cloud's capacity: " + caps.error().message());
      }
      return;
    }
    EvacuationPlan plan = PlanEvacuation(PlanRequestFor(*rec, std::move(*caps), moves));
    auto start = [this, rec, moves, plan] {
      for (size_t i = 0; i < moves.size(); ++i) {
        auto& m = moves[i];
        const Placement& p = plan.placements[i];
        if (!p.destination) {
          EndMove(rec, m, VMoveStatus::kFailed, p.reason);
          continue;
        }
        m->v.dest_host = *p.destination;
        Reserve(*m, *p.destination);
        m->planned_dest = *p.destination;
        StartMove(rec, m);
      }
    };
    if (plan.reserved_hosts_used.empty()) return start();
    // Reserved hosts are brought into service before anything is sent to them; as in
    // Masakari they then stop being reserved, which is reported here.
    auto left = std::make_shared<size_t>(plan.reserved_hosts_used.size());
    for (const std::string& name : plan.reserved_hosts_used) {
      Progress(*rec, std::string(kEvacuateInstances),
               "Reserved host " + name + " is used and is no longer reserved.", 0.05);
      const std::string segment = rec->segment.uuid;
      const WallMicros now = loop_.clock().Now();
      Persist([name, segment, now](store::WriteTx& tx) -> Result<void> {
        auto h = tx.FindHostByName(name);
        if (!h || !*h) return {};
        (*h)->reserved = false;
        (*h)->meta.updated_at = now;
        return tx.UpdateHost(**h);
      });
      auto enable = [this, rec, name, left, start] {
        Call<void>(
            rec,
            [this, name](Callback<void> cb) { compute_.SetServiceEnabled(name, true, "", cb); },
            [this, rec, name, left, start](Result<void> r) {
              if (!r) {
                Log("warning", "cannot enable reserved host", *rec,
                    {{"reserved_host", name}, {"error", r.error().message()}});
              }
              if (--*left == 0) start();
            },
            o_.call_retry);
      };
      if (!o_.add_reserved_host_to_aggregate) {
        enable();
        continue;
      }
      JoinAggregatesOf(rec, name, std::move(enable));
    }
  });
}

void RecoveryEngine::Impl::JoinAggregatesOf(std::shared_ptr<Recovery> rec,
                                            const std::string& reserved,
                                            std::function<void()> then) {
  const std::string failed = rec->host.name;
  Call<std::vector<drivers::Aggregate>>(
      rec, [this](Callback<std::vector<drivers::Aggregate>> cb) { compute_.ListAggregates(cb); },
      [this, rec, failed, reserved, then](Result<std::vector<drivers::Aggregate>> list) {
        if (!list) {
          Log("warning", "cannot list aggregates", *rec, {{"error", list.error().message()}});
          return then();
        }
        std::vector<drivers::Aggregate> joins;
        for (const auto& a : *list) {
          const auto has = [&](const std::string& h) {
            return std::find(a.hosts.begin(), a.hosts.end(), h) != a.hosts.end();
          };
          if (has(failed) && !has(reserved)) joins.push_back(a);
        }
        if (joins.empty()) return then();
        auto left = std::make_shared<size_t>(joins.size());
        for (const auto& a : joins) {
          Progress(*rec, std::string(kEvacuateInstances),
                   "Adding reserved host " + reserved + " to aggregate " + a.name + ".", 0.05);
          Call<void>(
              rec,
              [this, id = a.id, reserved](Callback<void> cb) {
                compute_.AddHostToAggregate(id, reserved, cb);
              },
              [this, rec, name = a.name, reserved, left, then](Result<void> r) {
                if (!r) {
                  Log("warning", "cannot add reserved host to aggregate", *rec,
                      {{"reserved_host", reserved}, {"aggregate", name},
                       {"error", r.error().message()}});
                }
                if (--*left == 0) then();
              },
              o_.call_retry);
        }
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::StartMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  const std::string segment = rec->segment.uuid;
  Acquire(segment_count_, segment_waiters_, segment, o_.max_parallel_evacuations,
          [this, rec, m, segment] {
            if (rec->finished || m->Ended()) {
              Release(segment_count_, segment_waiters_, segment);
              return;
            }
            m->holds_segment_slot = true;
            const bool resumed = m->v.status == VMoveStatus::kOngoing;
            StartOnDestination(rec, m, resumed ? m->v.dest_host.value_or("") : m->planned_dest);
          });
}

void RecoveryEngine::Impl::StartOnDestination(std::shared_ptr<Recovery> rec,
                                              std::shared_ptr<Move> m, std::string dest) {
  auto with_dest = [this, rec, m, dest] {
    if (rec->finished || m->Ended()) {
      if (!dest.empty()) Release(dest_count_, dest_waiters_, dest);
      return;
    }
    m->dest_slot = dest;
    // A move found `ongoing` after a restart may have been issued: look before acting.
    if (m->v.status == VMoveStatus::kOngoing && m->calls == 0 && m->attempts == 0) {
      return ReconcileMove(rec, m);
    }
    m->v.status = VMoveStatus::kOngoing;
    m->v.dest_host = dest;
    if (!m->v.start_time) m->v.start_time = loop_.clock().Now();
    // The lock is recorded before it is taken: after a crash, Warden still knows the lock is
    // its own to release. An instance its owner locked is left locked and unlocked alike.
    if (o_.lock_instances && !m->v.warden_locked && m->instance && !m->instance->locked) {
      m->v.warden_locked = true;
    }
    if (m->attempts == 0) m->v.message.reset();
    VMove v = m->v;
    v.meta.updated_at = loop_.clock().Now();
    // The intent is durable before the call: after a crash, an `ongoing` move is reconciled
    // against the cloud, never blindly issued again.
    Persist([v](store::WriteTx& tx) { return tx.UpdateVMove(v); },
            Guard<void>(rec, [this, rec, m](Result<void> w) {
              if (!w) return EndMove(rec, m, VMoveStatus::kFailed, "journal write failed");
              IssueMove(rec, m);
            }));
  };
  if (dest.empty()) return with_dest();
  Acquire(dest_count_, dest_waiters_, dest, o_.max_parallel_per_destination, std::move(with_dest));
}

void RecoveryEngine::Impl::IssueMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  if (m->v.warden_locked && !m->lock_sent) {
    m->lock_sent = true;
    m->lock_in_flight = true;
    const std::string reason =
        "Warden: evacuating from " + m->v.source_host + " (notification " + rec->n.uuid + ")";
    // One try: the lock protects the move from its owner, and a slow or refused lock must not
    // hold the evacuation back. Answered even after the recovery ended, so that a lock that
    // lands after a cancel is released.
    CallDetached<void>([this, uuid = m->v.instance_uuid,
                        reason](Callback<void> cb) { compute_.LockInstance(uuid, reason, cb); },
                       [this, rec, m](Result<void> r) {
                         m->lock_in_flight = false;
                         if (m->release_after_lock) {
                           m->release_after_lock = false;
                           return ReleaseLock(m);
                         }
                         if (rec->finished || m->Ended()) return;
                         if (!r) {
                           Log("warning", "cannot lock the instance", *rec,
                               {{"instance", m->v.instance_uuid}, {"error", r.error().message()}});
                         }
                         IssueMove(rec, m);
                       });
    return;
  }
  auto issue = [this, rec, m] {
    ++stats_.evacuations_issued;
    ++m->calls;
    m->issued_at = loop_.clock().Now();
    std::optional<std::string> dest = m->v.dest_host;
    Call<void>(
        rec,
        [this, uuid = m->v.instance_uuid, dest](Callback<void> cb) {
          compute_.Evacuate(uuid, dest, cb);
        },
        [this, rec, m](Result<void> r) {
          if (r) return ConfirmMove(rec, m);
          if (IsRetryable(r.error())) {
            // The call may have been accepted even though its answer was lost: look before
            // calling again.
            loop_.RunAfter(o_.call_retry.DelayBefore(m->calls + 1, rng_),
                           Guard([this, rec, m] { ReconcileMove(rec, m); }));
            return;
          }
          RetryMove(rec, m, "evacuation refused: " + r.error().message());
        },
        RetryPolicy{.attempts = 1});
  };
  const std::string& st = m->instance ? m->instance->vm_state : m->original_state;
  const bool task = m->instance && m->instance->task_state.has_value();
  if (st == "active" || st == "stopped" || st == "error") {
    if (!task) return issue();
  }
  // Nova evacuates only active, stopped or error instances with no task under way; as
  // Masakari does, reset the others to error first.
  Call<void>(
      rec,
      [this, uuid = m->v.instance_uuid](Callback<void> cb) { compute_.ResetState(uuid, "error", cb); },
      [this, rec, m, issue](Result<void> r) {
        if (!r) return RetryMove(rec, m, "cannot reset the instance's state: " + r.error().message());
        if (m->instance) {
          m->instance->vm_state = "error";
          m->instance->task_state.reset();
        }
        issue();
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::ReconcileMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  Call<drivers::Instance>(
      rec,
      [this, uuid = m->v.instance_uuid](Callback<drivers::Instance> cb) {
        compute_.GetInstance(uuid, cb);
      },
      [this, rec, m](Result<drivers::Instance> r) {
        if (!r) {
          if (r.error().code() == ErrorCode::kNotFound) {
            return EndMove(rec, m, VMoveStatus::kIgnored, "The instance no longer exists.");
          }
          return RetryMove(rec, m, "cannot read the instance: " + r.error().message());
        }
        m->instance = *r;
        if (r->host != m->v.source_host || r->task_state) return ConfirmMove(rec, m);
        const WallMicros since = m->IssuedSince();
        Call<std::vector<drivers::Migration>>(
            rec,
            [this, uuid = m->v.instance_uuid](Callback<std::vector<drivers::Migration>> cb) {
              compute_.ListMigrations(uuid, cb);
            },
            [this, rec, m, since](Result<std::vector<drivers::Migration>> l) {
              if (!l) return RetryMove(rec, m, "cannot list migrations: " + l.error().message());
              const drivers::Migration* latest = LatestEvacuation(*l, since, m->spent_records);
              if (latest == nullptr) {
                if (m->calls >= o_.call_retry.attempts) {
                  return RetryMove(rec, m,
                                   "the cloud did not accept the evacuation after " +
                                       std::to_string(m->calls) + " calls");
                }
                return IssueMove(rec, m);  // never accepted: safe to call again
              }
              if (latest->status == "error" || latest->status == "failed") {
                m->spent_records.insert(latest->id);
                return RetryMove(
                    rec, m,
                    "the evacuation failed in the cloud (migration " + latest->status + ")");
              }
              ConfirmMove(rec, m);
            },
            o_.call_retry);
      },
      o_.call_retry);
}

// An accepted evacuation is followed through the cloud's migration records — one listing per
// poll for all the recovery's moves, not a read of every instance every poll — and, once its
// record has ended, confirmed on the instance itself (host, state, no task under way).
void RecoveryEngine::Impl::ConfirmMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  const MonoMicros deadline = loop_.clock().Monotonic() + o_.evacuation_timeout_micros;
  if (follow_each_instance_) return ConfirmOnInstance(rec, m, deadline);
  rec->awaiting.emplace_back(m, deadline);
  if (rec->watching) return;
  rec->watching = true;
  loop_.RunAfter(o_.poll_interval_micros, Guard([this, rec] { WatchEvacuations(rec); }));
}

void RecoveryEngine::Impl::WatchEvacuations(std::shared_ptr<Recovery> rec) {
  std::erase_if(rec->awaiting, [](const auto& a) { return a.first->Ended(); });
  if (rec->finished || rec->awaiting.empty()) {
    rec->watching = false;
    return;
  }
  WallMicros since = std::numeric_limits<WallMicros>::max();
  for (const auto& [m, _] : rec->awaiting) since = std::min(since, m->IssuedSince());
  Call<std::vector<drivers::Migration>>(
      rec,
      [this, since](Callback<std::vector<drivers::Migration>> cb) {
        compute_.ListEvacuationsSince(since, cb);
      },
      [this, rec](Result<std::vector<drivers::Migration>> l) {
        auto awaiting = std::move(rec->awaiting);
        rec->awaiting.clear();
        if (!l && l.error().code() == ErrorCode::kUnimplemented) {
          // The cloud cannot list evacuations in one call: follow each instance instead.
          follow_each_instance_ = true;
          rec->watching = false;
          for (auto& [m, deadline] : awaiting) {
            if (!m->Ended()) ConfirmOnInstance(rec, m, deadline);
          }
          return;
        }
        std::map<std::string, std::vector<drivers::Migration>> by_instance;
        if (l) {
          for (auto& mig : *l) by_instance[mig.instance_uuid].push_back(std::move(mig));
        }
        const MonoMicros now = loop_.clock().Monotonic();
        std::vector<std::function<void()>> next;
        for (auto& [m, deadline] : awaiting) {
          if (m->Ended()) continue;
          const drivers::Migration* latest = nullptr;
          if (auto it = by_instance.find(m->v.instance_uuid); it != by_instance.end()) {
            latest = LatestEvacuation(it->second, m->IssuedSince(), m->spent_records);
          }
          const std::string status = latest ? latest->status : "";
          if (status == "error" || status == "failed") {
            m->spent_records.insert(latest->id);
            next.push_back([this, rec, m, status] {
              RetryMove(rec, m, "the evacuation failed in the cloud (migration " + status + ")");
            });
          } else if (status == "done" || status == "completed") {
            next.push_back([this, rec, m, d = deadline] { ConfirmOnInstance(rec, m, d); });
          } else if (now >= deadline) {
            next.push_back([this, rec, m] {
              RetryMove(rec, m,
                        "not active on a new host within " + Seconds(o_.evacuation_timeout_micros) +
                            " s");
            });
          } else {
            rec->awaiting.emplace_back(m, deadline);  // a failed listing: look again next poll
          }
        }
        if (rec->awaiting.empty()) {
          rec->watching = false;
        } else {
          loop_.RunAfter(o_.poll_interval_micros, Guard([this, rec] { WatchEvacuations(rec); }));
        }
        for (auto& f : next) f();
      },
      RetryPolicy{.attempts = 1});
}

void RecoveryEngine::Impl::ConfirmOnInstance(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                             MonoMicros deadline) {
  auto failed = std::make_shared<std::string>();
  WaitFor(
      rec, deadline,
      [this, rec, m, failed](std::function<void(std::optional<Result<void>>)> cb) {
        Call<drivers::Instance>(
            rec,
            [this, uuid = m->v.instance_uuid](Callback<drivers::Instance> c) {
              compute_.GetInstance(uuid, c);
            },
            [this, rec, m, cb, failed](Result<drivers::Instance> r) {
              if (!r) return cb(std::nullopt);  // keep looking until the deadline
              m->instance = *r;
              if (r->task_state) return cb(std::nullopt);
              if (r->vm_state == "error" && r->host != m->v.source_host &&
                  m->v.restore_state == "error") {
                // On its new host and in the state it is to be left in: evacuated (and maybe
                // set back to error before a restart).
                m->v.dest_host = r->host;
                return cb(Result<void>{});
              }
              if (r->vm_state == "error") {
                *failed = "the instance went to error during the rebuild";
                return cb(MakeError(ErrorCode::kAborted, *failed));
              }
              if (r->host != m->v.source_host) {
                m->v.dest_host = r->host;
                return cb(Result<void>{});
              }
              // Still on the failed host with no task under way: the rebuild ended without
              // moving it (Nova keeps the instance's state when, say, the named destination
              // is refused). The migration record says whether it failed.
              const WallMicros since = m->IssuedSince();
              Call<std::vector<drivers::Migration>>(
                  rec,
                  [this, uuid = m->v.instance_uuid](Callback<std::vector<drivers::Migration>> c) {
                    compute_.ListMigrations(uuid, c);
                  },
                  [m, cb, since](Result<std::vector<drivers::Migration>> l) {
                    if (!l) return cb(std::nullopt);
                    const drivers::Migration* latest =
                        LatestEvacuation(*l, since, m->spent_records);
                    if (latest && (latest->status == "error" || latest->status == "failed")) {
                      m->spent_records.insert(latest->id);
                      return cb(MakeError(
                          ErrorCode::kAborted,
                          "the evacuation failed in the cloud (migration " + latest->status + ")"));
                    }
                    cb(std::nullopt);
                  },
                  RetryPolicy{.attempts = 1});
            },
            RetryPolicy{.attempts = 1});
      },
      [this, rec, m](Result<void> r) {
        if (r) return SettleMove(rec, m);
        RetryMove(rec, m,
                  r.error().code() == ErrorCode::kDeadlineExceeded
                      ? "not active on a new host within " + Seconds(o_.evacuation_timeout_micros) + " s"
                      : r.error().message());
      },
      "evacuation not confirmed");
}

void RecoveryEngine::Impl::RetryMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                     std::string why) {
  if (m->Ended() || rec->finished) return;
  ++m->attempts;
  if (m->v.dest_host) m->tried.insert(*m->v.dest_host);
  ReleaseSlots(*m);
  if (m->attempts >= o_.evacuation_attempts) {
    return EndMove(rec, m, VMoveStatus::kFailed,
                   why + " (gave up after " + std::to_string(m->attempts) + " attempts)");
  }
  m->v.message = "attempt " + std::to_string(m->attempts) + " failed: " + why + "; retrying";
  SaveMove(*m);
  Log("warning", "evacuation attempt failed", *rec,
      {{"instance", m->v.instance_uuid}, {"attempt", std::to_string(m->attempts)}, {"error", why}});
  m->calls = 0;
  loop_.RunAfter(o_.call_retry.DelayBefore(m->attempts + 1, rng_), Guard([this, rec, m] {
                   if (rec->finished || m->Ended()) return;
                   if (!m->instance) return ReconcileMove(rec, m);
                   Capacity(rec, [this, rec, m](Result<std::vector<HostCapacity>> caps) {
                     if (!caps) {
                       return EndMove(rec, m, VMoveStatus::kFailed,
                                      "cannot read the cloud's capacity: " + caps.error().message());
                     }
                     EvacuationPlan plan = PlanEvacuation(PlanRequestFor(*rec, std::move(*caps), {m}));
                     const Placement& p = plan.placements[0];
                     if (!p.destination) return EndMove(rec, m, VMoveStatus::kFailed, p.reason);
                     Reserve(*m, *p.destination);
                     StartOnDestination(rec, m, *p.destination);
                   });
                 }));
}

// The instance runs on its new host: leave it in the state it had before the failure, then end
// the move.
void RecoveryEngine::Impl::SettleMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m) {
  std::string note = m->attempts == 0 ? ""
                                      : "recovered on attempt " + std::to_string(m->attempts + 1) +
                                            "; " + m->v.message.value_or("");
  const std::string restore = m->v.restore_state.value_or("");
  const bool running = m->instance && m->instance->vm_state == "active";
  if ((restore != "stopped" && restore != "error") || (restore == "stopped" && !running)) {
    return EndMove(rec, m, VMoveStatus::kSucceeded, note);
  }
  auto end = [this, rec, m, note](std::string what) {
    EndMove(rec, m, VMoveStatus::kSucceeded, note.empty() ? what : note + "; " + what);
  };
  auto reset = [this, rec, m, end, restore] {
    if (restore != "error") {
      return end("stopped on its new host, as it was not running before the failure");
    }
    Call<void>(
        rec,
        [this, uuid = m->v.instance_uuid](Callback<void> cb) {
          compute_.ResetState(uuid, "error", cb);
        },
        [end](Result<void> r) {
          if (!r) return end("evacuated, but not set back to error: " + r.error().message());
          end("stopped and set back to error on its new host, as it was before the failure");
        },
        o_.call_retry);
  };
  if (!running) return reset();
  Call<void>(
      rec,
      [this, uuid = m->v.instance_uuid](Callback<void> cb) { compute_.StopInstance(uuid, cb); },
      [this, rec, m, end, reset](Result<void> r) {
        if (!r) return end("evacuated, but could not be stopped: " + r.error().message());
        WaitFor(
            rec, loop_.clock().Monotonic() + o_.power_off_timeout_micros,
            [this, rec, m](std::function<void(std::optional<Result<void>>)> cb) {
              Call<drivers::Instance>(
                  rec,
                  [this, uuid = m->v.instance_uuid](Callback<drivers::Instance> c) {
                    compute_.GetInstance(uuid, c);
                  },
                  [cb](Result<drivers::Instance> i) {
                    if (i && i->vm_state == "stopped" && !i->task_state) return cb(Result<void>{});
                    cb(std::nullopt);
                  },
                  RetryPolicy{.attempts = 1});
            },
            [end, reset](Result<void> w) {
              if (!w) return end("evacuated, but not confirmed stopped: " + w.error().message());
              reset();
            },
            "not stopped within " + Seconds(o_.power_off_timeout_micros) + " s");
      },
      o_.call_retry);
}

// Ends the move; first releases the instance's lock if Warden holds it.
void RecoveryEngine::Impl::EndMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                   VMoveStatus status, std::string message) {
  if (m->Ended()) return;
  if (m->lock_in_flight) m->release_after_lock = true;  // released once the lock is answered
  if (!m->v.warden_locked || m->lock_in_flight)
    return FinishMove(rec, m, status, std::move(message));
  m->ending = true;
  ReleaseLock(m, [this, rec, m, status, message](Result<void> r) {
    if (rec->finished) return SaveMove(*m);  // Finish ended the move meanwhile: record the release
    std::string text = message;
    if (!r) {
      text += std::string(text.empty() ? "" : "; ") +
              "Warden's lock on it could not be released: " + r.error().message();
    }
    FinishMove(rec, m, status, std::move(text));
  });
}

// Releases Warden's lock on the instance (retrying transient errors), whatever became of the
// recovery: at the move's end, after a cancel, or for a failed unlock found on a later run.
// The move records the lock as released only once the cloud has confirmed it (a deleted
// instance has none). `done` gets the outcome and saves the move itself; without it the move
// is saved here.
void RecoveryEngine::Impl::ReleaseLock(std::shared_ptr<Move> m,
                                       std::function<void(Result<void>)> done, int attempt) {
  if (m->lock_in_flight) {
    m->release_after_lock = true;
    return;
  }
  CallDetached<void>(
      [this, uuid = m->v.instance_uuid](Callback<void> cb) { compute_.UnlockInstance(uuid, cb); },
      [this, m, done, attempt](Result<void> r) {
        if (r || r.error().code() == ErrorCode::kNotFound) {
          m->v.warden_locked = false;
          if (done) return done(Result<void>{});
          return SaveMove(*m);
        }
        if (IsRetryable(r.error()) && attempt < o_.call_retry.attempts) {
          loop_.RunAfter(o_.call_retry.DelayBefore(attempt + 1, rng_),
                         Guard([this, m, done, attempt] { ReleaseLock(m, done, attempt + 1); }));
          return;
        }
        Log("warning", "cannot unlock the instance",
            {{"notification", m->v.notification_uuid},
             {"instance", m->v.instance_uuid},
             {"error", r.error().message()}});
        if (done) done(std::unexpected(r.error()));
      });
}

void RecoveryEngine::Impl::FinishMove(std::shared_ptr<Recovery> rec, std::shared_ptr<Move> m,
                                      VMoveStatus status, std::string message) {
  if (m->done) return;
  m->done = true;
  m->v.status = status;
  if (message.empty()) {
    m->v.message.reset();
  } else {
    m->v.message = message;
  }
  m->v.end_time = loop_.clock().Now();
  ReleaseSlots(*m);
  if (m->holds_segment_slot) {
    m->holds_segment_slot = false;
    Release(segment_count_, segment_waiters_, rec->segment.uuid);
  }
  SaveMove(*m);
  if (rec->finished) return;
  const std::string task(kEvacuateInstances);
  const int64_t total = rec->moves_total;
  if (status == VMoveStatus::kSucceeded) ++stats_.evacuations_succeeded;
  if (status == VMoveStatus::kFailed) {
    ++stats_.evacuations_failed;
    ++rec->moves_failed;
    Progress(*rec, task, "Instance " + m->v.instance_name + " (" + m->v.instance_uuid + "): " + message,
             Entry(*rec, task)["progress"].get<double>(), false);
    Log("warning", "evacuation failed", *rec, {{"instance", m->v.instance_uuid}, {"error", message}});
  }
  --rec->moves_left;
  const int64_t finished = std::max<int64_t>(0, total - rec->moves_left);
  const int64_t decile = total > 0 ? finished * 10 / total : 10;
  if (decile > rec->last_reported_decile || rec->moves_left == 0) {
    rec->last_reported_decile = decile;
    Progress(*rec, task,
             std::to_string(finished) + " of " + std::to_string(total) + " instances done (" +
                 std::to_string(rec->moves_failed) + " failed).",
             0.05 + 0.95 * double(finished) / double(std::max<int64_t>(total, 1)));
  }
  if (rec->moves_left == 0 && rec->evacuate_done) {
    auto done = std::move(rec->evacuate_done);
    rec->evacuate_done = nullptr;
    if (rec->moves_failed > 0) {
      return done(FailedPrecondition(std::to_string(rec->moves_failed) + " of " +
                                     std::to_string(total) + " evacuations failed."));
    }
    done(TaskResult{Outcome::kContinue, "All " + std::to_string(total) + " instances evacuated."});
  }
}

// --- instance failure ------------------------------------------------------------------------

namespace {
std::string InstanceUuid(const json& payload) {
  auto it = payload.find("instance_uuid");
  return it != payload.end() && it->is_string() ? it->get<std::string>() : "";
}
}  // namespace

void RecoveryEngine::Impl::StopInstance(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string uuid = InstanceUuid(rec->payload);
  const std::string task(kStopInstance);
  Call<drivers::Instance>(
      rec, [this, uuid](Callback<drivers::Instance> cb) { compute_.GetInstance(uuid, cb); },
      [this, rec, uuid, task, done](Result<drivers::Instance> r) {
        if (!r) return done(std::unexpected(r.error()));
        const drivers::Instance i = *r;
        if (!IsHaEnabled(i, o_.ha_enabled_key) && !o_.process_all_instances) {
          return done(TaskResult{Outcome::kFinishEarly,
                                 "Instance " + uuid + " is not HA-enabled (" + o_.ha_enabled_key +
                                     ") and [instance_failure] process_all_instances is false; "
                                     "nothing done."});
        }
        if (i.vm_state == "paused" || i.vm_state == "rescued") {
          return done(TaskResult{Outcome::kIgnore,
                                 "Instance " + uuid + " is " + i.vm_state + "; not recovered."});
        }
        if (i.vm_state == "error" && !o_.recover_ignoring_error_instances) {
          return done(TaskResult{Outcome::kIgnore,
                                 "Instance " + uuid +
                                     " is in error state and [instance_failure] "
                                     "recover_ignoring_error_instances is false."});
        }
        auto wait_stopped = [this, rec, uuid, done] {
          WaitFor(
              rec, loop_.clock().Monotonic() + o_.power_off_timeout_micros,
              [this, rec, uuid](std::function<void(std::optional<Result<void>>)> cb) {
                Call<drivers::Instance>(
                    rec, [this, uuid](Callback<drivers::Instance> c) { compute_.GetInstance(uuid, c); },
                    [cb](Result<drivers::Instance> s) {
                      if (s && s->vm_state == "stopped" && !s->task_state) return cb(Result<void>{});
                      cb(std::nullopt);
                    },
                    RetryPolicy{.attempts = 1});
              },
              [uuid, done, this](Result<void> w) {
                if (!w) {
                  return done(MakeError(ErrorCode::kDeadlineExceeded,
                                        "Instance " + uuid + " did not stop within " +
                                            Seconds(o_.power_off_timeout_micros) + " s."));
                }
                done(TaskResult{Outcome::kContinue, "Instance " + uuid + " is stopped."});
              },
              "not stopped");
        };
        auto stop = [this, rec, uuid, wait_stopped, done] {
          Call<void>(
              rec, [this, uuid](Callback<void> cb) { compute_.StopInstance(uuid, cb); },
              [wait_stopped, done](Result<void> s) {
                // Refused because it is already stopped is fine: the wait below tells.
                if (!s && s.error().code() != ErrorCode::kFailedPrecondition) {
                  return done(std::unexpected(s.error()));
                }
                wait_stopped();
              },
              o_.call_retry);
        };
        if (i.vm_state == "stopped" && !i.task_state) {
          return done(TaskResult{Outcome::kContinue, "Instance " + uuid + " is already stopped."});
        }
        if (i.vm_state == "resized" || i.vm_state == "error") {
          // A resized instance is reset to active before it can be stopped (as Masakari); an
          // error one is reset to stopped so that it can be started.
          const std::string to = i.vm_state == "resized" ? "active" : "stopped";
          Progress(*rec, task, "Resetting instance " + uuid + " from " + i.vm_state + " to " + to + ".",
                   0.2);
          return Call<void>(
              rec, [this, uuid, to](Callback<void> cb) { compute_.ResetState(uuid, to, cb); },
              [to, stop, done, uuid](Result<void> s) {
                if (!s) return done(std::unexpected(s.error()));
                if (to == "stopped") {
                  return done(TaskResult{Outcome::kContinue, "Instance " + uuid + " reset to stopped."});
                }
                stop();
              },
              o_.call_retry);
        }
        Progress(*rec, task, "Stopping instance " + uuid + ".", 0.3);
        stop();
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::StartInstance(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string uuid = InstanceUuid(rec->payload);
  Progress(*rec, std::string(kStartInstance), "Starting instance " + uuid + ".", 0.3);
  Call<void>(
      rec, [this, uuid](Callback<void> cb) { compute_.StartInstance(uuid, cb); },
      [uuid, done](Result<void> r) {
        if (!r && r.error().code() != ErrorCode::kFailedPrecondition) {
          return done(std::unexpected(r.error()));
        }
        done(TaskResult{Outcome::kContinue, "Start of instance " + uuid + " requested."});
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::ConfirmInstanceActive(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string uuid = InstanceUuid(rec->payload);
  WaitFor(
      rec, loop_.clock().Monotonic() + o_.power_on_timeout_micros,
      [this, rec, uuid](std::function<void(std::optional<Result<void>>)> cb) {
        Call<drivers::Instance>(
            rec, [this, uuid](Callback<drivers::Instance> c) { compute_.GetInstance(uuid, c); },
            [cb](Result<drivers::Instance> s) {
              if (s && s->vm_state == "active" && !s->task_state) return cb(Result<void>{});
              if (s && s->vm_state == "error") {
                return cb(MakeError(ErrorCode::kAborted, "the instance went to error while starting"));
              }
              cb(std::nullopt);
            },
            RetryPolicy{.attempts = 1});
      },
      [this, uuid, done](Result<void> w) {
        if (!w) {
          return done(MakeError(w.error().code(),
                                "Instance " + uuid + " is not active: " +
                                    (w.error().code() == ErrorCode::kDeadlineExceeded
                                         ? "not within " + Seconds(o_.power_on_timeout_micros) + " s"
                                         : w.error().message()) +
                                    "."));
        }
        done(TaskResult{Outcome::kContinue, "Instance " + uuid + " is active again."});
      },
      "not active");
}

// --- process failure -------------------------------------------------------------------------

// Asks the host's agent to restart the process. Restarted and confirmed: the recovery ends
// here and the compute service stays enabled. Anything else (no agent, a process the agent
// does not manage, the agent unreachable, the restart failed) is no error of the recovery:
// the next tasks (Masakari's: disable the compute service) run, with the reason recorded.
void RecoveryEngine::Impl::RestartProcess(std::shared_ptr<Recovery> rec, TaskDone done) {
  auto it = rec->payload.find("process_name");
  const std::string process =
      it != rec->payload.end() && it->is_string() ? it->get<std::string>() : "";
  const std::string host = rec->host.name;
  auto go_on = [this, done](std::string why) {
    loop_.Post(Guard([done, why] { done(TaskResult{Outcome::kContinue, why}); }));
  };
  if (process.empty()) return go_on("No process_name in the notification: nothing to restart.");
  if (restarter_ == nullptr) {
    return go_on("No agent configured ([process_failure] agent_url): " + process +
                 " not restarted.");
  }
  Progress(*rec, std::string(kRestartProcess),
           "asking the agent of " + host + " to restart " + process, 0.2);
  restarter_->Restart(
      host, process, rec->n.uuid, [this, rec, done, process, host](Result<std::string> r) {
        if (rec->finished || !*alive_) return;
        if (r) {
          done(TaskResult{Outcome::kFinishEarly,
                          *r + "; the compute service of " + host + " stays enabled."});
          return;
        }
        done(TaskResult{Outcome::kContinue, "Restart of " + process + " through the agent of " +
                                                host + " failed: " + r.error().message()});
      });
}

void RecoveryEngine::Impl::DisableComputeNode(std::shared_ptr<Recovery> rec, TaskDone done) {
  auto it = rec->payload.find("process_name");
  const std::string process = it != rec->payload.end() && it->is_string() ? it->get<std::string>() : "";
  if (process != "nova-compute") {
    // Unlike Masakari, the host is not put on maintenance for a process it cannot act on.
    loop_.Post(Guard([done, process] {
      done(TaskResult{Outcome::kFinishEarly, "No recovery action for process '" + process + "'."});
    }));
    return;
  }
  const std::string host = rec->host.name;
  Call<drivers::ComputeService>(
      rec, [this, host](Callback<drivers::ComputeService> cb) { compute_.GetService(host, cb); },
      [this, rec, host, done](Result<drivers::ComputeService> s) {
        if (!s) return done(std::unexpected(s.error()));
        if (!s->enabled) {
          return done(TaskResult{Outcome::kContinue,
                                 "Compute service of " + host + " is already disabled."});
        }
        Call<void>(
            rec,
            [this, host](Callback<void> cb) {
              compute_.SetServiceEnabled(host, false, o_.process_disable_reason, cb);
            },
            [host, done](Result<void> r) {
              if (!r) return done(std::unexpected(r.error()));
              done(TaskResult{Outcome::kContinue, "Compute service of " + host + " disabled."});
            },
            o_.call_retry);
      },
      o_.call_retry);
}

void RecoveryEngine::Impl::ConfirmComputeNodeDisabled(std::shared_ptr<Recovery> rec, TaskDone done) {
  const std::string host = rec->host.name;
  WaitFor(
      rec, loop_.clock().Monotonic() + o_.call_timeout_micros,
      [this, rec, host](std::function<void(std::optional<Result<void>>)> cb) {
        Call<drivers::ComputeService>(
            rec, [this, host](Callback<drivers::ComputeService> c) { compute_.GetService(host, c); },
            [cb](Result<drivers::ComputeService> s) {
              if (s && !s->enabled) return cb(Result<void>{});
              cb(std::nullopt);
            },
            RetryPolicy{.attempts = 1});
      },
      [host, done](Result<void> w) {
        if (!w) return done(MakeError(w.error().code(), "Compute service of " + host + " is still enabled."));
        done(TaskResult{Outcome::kContinue, "Compute service of " + host + " is disabled."});
      },
      "still enabled");
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

void RecoveryEngine::Unfence(const std::string& host_uuid, const std::string& who,
                             std::function<void(Result<Host>)> done) {
  Impl* impl = impl_.get();
  loop_.Post(impl->Guard([impl, host_uuid, who, done] { impl->Unfence(host_uuid, who, done); }));
}

RecoveryEngine::Stats RecoveryEngine::stats() const { return impl_->stats(); }
RecoveryEngine::Stats RecoveryEngine::PublishedStats() const { return impl_->Published(); }

}  // namespace warden::engine
