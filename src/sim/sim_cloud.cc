#include "sim/sim_cloud.h"

#include "core/time.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace warden::sim {
namespace {

using drivers::Callback;
using drivers::Flavor;

void Add(Flavor& a, const Flavor& b, int sign = 1) {
  a.vcpus += sign * b.vcpus;
  a.ram_mb += sign * b.ram_mb;
  a.disk_gb += sign * b.disk_gb;
}

constexpr int kPowerShutdown = 4;

}  // namespace

// --- Latency ---------------------------------------------------------------------------------

Result<Latency> Latency::Parse(std::string_view spec) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  Latency l;
  l.spec_ = std::string(spec);
  auto need = [&](size_t n) -> Result<void> {
    if (parts.size() != n + 1) {
      return InvalidArgument("'" + std::string(spec) + "': " + std::string(parts[0]) + " takes " +
                             std::to_string(n) + " duration(s)");
    }
    return {};
  };
  auto dur = [&](size_t i) { return ParseDurationMicros(parts[i]); };
  if (parts[0] == "fixed") {
    if (auto r = need(1); !r) return std::unexpected(r.error());
    auto a = dur(1);
    if (!a) return std::unexpected(a.error());
    l.kind_ = Kind::kFixed, l.a_ = double(*a);
  } else if (parts[0] == "uniform" || parts[0] == "normal") {
    if (auto r = need(2); !r) return std::unexpected(r.error());
    auto a = dur(1);
    auto b = dur(2);
    if (!a) return std::unexpected(a.error());
    if (!b) return std::unexpected(b.error());
    if (parts[0] == "uniform" && *b < *a) {
      return InvalidArgument("'" + std::string(spec) + "': uniform needs min <= max");
    }
    l.kind_ = parts[0] == "uniform" ? Kind::kUniform : Kind::kNormal;
    l.a_ = double(*a), l.b_ = double(*b);
  } else if (parts[0] == "exponential") {
    if (auto r = need(1); !r) return std::unexpected(r.error());
    auto a = dur(1);
    if (!a) return std::unexpected(a.error());
    l.kind_ = Kind::kExponential, l.a_ = double(*a);
  } else {
    return InvalidArgument("'" + std::string(spec) +
                           "' is not a latency (fixed:D, uniform:MIN:MAX, normal:MEAN:SD, "
                           "exponential:MEAN)");
  }
  return l;
}

Latency Latency::Fixed(int64_t micros) {
  Latency l;
  l.kind_ = Kind::kFixed;
  l.a_ = double(micros);
  l.spec_ = "fixed:" + std::to_string(micros) + "us";
  return l;
}

int64_t Latency::Draw(std::mt19937_64& rng) const {
  switch (kind_) {
    case Kind::kFixed:
      return int64_t(a_);
    case Kind::kUniform:
      return int64_t(std::uniform_real_distribution<double>(a_, b_)(rng));
    case Kind::kNormal:
      return std::max<int64_t>(0, int64_t(std::normal_distribution<double>(a_, b_)(rng)));
    case Kind::kExponential:
      return a_ <= 0 ? 0 : int64_t(std::exponential_distribution<double>(1.0 / a_)(rng));
  }
  return 0;
}

// --- the drivers -----------------------------------------------------------------------------

namespace {

class SimComputeDriver final : public drivers::ComputeDriver {
 public:
  explicit SimComputeDriver(SimCloud& cloud) : c_(cloud) {}
  void GetService(const std::string& h, Callback<drivers::ComputeService> d) override {
    c_.GetService(h, std::move(d));
  }
  void SetServiceEnabled(const std::string& h, bool e, const std::string& r,
                         Callback<void> d) override {
    c_.SetServiceEnabled(h, e, r, std::move(d));
  }
  void SetForcedDown(const std::string& h, bool f, Callback<void> d) override {
    c_.SetForcedDown(h, f, std::move(d));
  }
  void ListInstances(const std::string& h, Callback<std::vector<drivers::Instance>> d) override {
    c_.ListInstances(h, std::move(d));
  }
  void GetInstance(const std::string& u, Callback<drivers::Instance> d) override {
    c_.GetInstance(u, std::move(d));
  }
  void ListHostResources(Callback<std::vector<drivers::HostResources>> d) override {
    c_.ListHostResources(std::move(d));
  }
  void ListMigrations(const std::string& u, Callback<std::vector<drivers::Migration>> d) override {
    c_.ListMigrations(u, std::move(d));
  }
  void Evacuate(const std::string& u, const std::optional<std::string>& dest,
                Callback<void> d) override {
    c_.Evacuate(u, dest, std::move(d));
  }
  void StopInstance(const std::string& u, Callback<void> d) override {
    c_.StopInstance(u, std::move(d));
  }
  void StartInstance(const std::string& u, Callback<void> d) override {
    c_.StartInstance(u, std::move(d));
  }
  void ResetState(const std::string& u, const std::string& s, Callback<void> d) override {
    c_.ResetState(u, s, std::move(d));
  }
  void ListServices(Callback<std::vector<drivers::ComputeService>> d) override {
    c_.ListServices(std::move(d));
  }
  void ListEvacuationsSince(WallMicros s, Callback<std::vector<drivers::Migration>> d) override {
    c_.ListEvacuationsSince(s, std::move(d));
  }
  void LockInstance(const std::string& u, const std::string& r, Callback<void> d) override {
    c_.LockInstance(u, r, std::move(d));
  }
  void UnlockInstance(const std::string& u, Callback<void> d) override {
    c_.UnlockInstance(u, std::move(d));
  }
  void ListAggregates(Callback<std::vector<drivers::Aggregate>> d) override {
    c_.ListAggregates(std::move(d));
  }
  void AddHostToAggregate(const std::string& a, const std::string& h, Callback<void> d) override {
    c_.AddHostToAggregate(a, h, std::move(d));
  }

 private:
  SimCloud& c_;
};

class SimFencer final : public drivers::Fencer {
 public:
  explicit SimFencer(SimCloud& cloud) : c_(cloud) {}
  bool Covers(const std::string& host) const override {
    auto it = c_.hosts().find(host);
    return it != c_.hosts().end() && it->second.has_bmc;
  }
  void PowerOff(const std::string& h, Callback<void> d) override { c_.PowerOff(h, std::move(d)); }
  void GetPowerState(const std::string& h, Callback<drivers::PowerState> d) override {
    c_.GetPowerState(h, std::move(d));
  }

 private:
  SimCloud& c_;
};

}  // namespace

std::unique_ptr<drivers::ComputeDriver> SimCloud::MakeComputeDriver() {
  return std::make_unique<SimComputeDriver>(*this);
}
std::unique_ptr<drivers::Fencer> SimCloud::MakeFencer() { return std::make_unique<SimFencer>(*this); }

// --- SimCloud --------------------------------------------------------------------------------

SimCloud::SimCloud(EventLoop& loop, SimOptions options)
    : loop_(loop), options_(std::move(options)), rng_(options_.seed) {}

void SimCloud::AddHost(const std::string& name, Flavor capacity, bool has_bmc) {
  SimHost h;
  h.name = name;
  h.capacity = capacity;
  h.has_bmc = has_bmc;
  hosts_[name] = h;
}

void SimCloud::AddInstance(const std::string& uuid, const std::string& name,
                           const std::string& host, Flavor flavor, bool ha_enabled,
                           std::string vm_state) {
  SimInstance i;
  i.info.uuid = uuid;
  i.info.name = name;
  i.info.host = host;
  i.info.vm_state = vm_state;
  i.info.flavor = flavor;
  if (ha_enabled) i.info.metadata["HA_Enabled"] = "True";
  i.running_on = vm_state == "active" ? host : "";
  i.info.power_state = vm_state == "active" ? drivers::kPowerRunning : kPowerShutdown;
  instances_[uuid] = std::move(i);
}

void SimCloud::SetInstanceState(const std::string& uuid, const std::string& vm_state,
                                std::optional<std::string> task_state, bool running) {
  SimInstance& i = instances_.at(uuid);
  i.info.vm_state = vm_state;
  i.info.task_state = std::move(task_state);
  i.running_on = running ? i.info.host : "";
  // As Nova last saw it: a dead host's instances keep the power state they had.
  i.info.power_state = running ? drivers::kPowerRunning : kPowerShutdown;
}

void SimCloud::SetLocked(const std::string& uuid, bool locked, std::optional<std::string> reason) {
  drivers::Instance& i = instances_.at(uuid).info;
  i.locked = locked;
  i.locked_reason = locked ? std::move(reason) : std::nullopt;
}

void SimCloud::PowerLoss(const std::string& host, bool bmc_too) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  SimHost& h = it->second;
  if (h.powered) h.power_lost_at = loop_.clock().Monotonic();
  h.powered = false;
  if (bmc_too) h.bmc_reachable = false;
  for (auto& [_, i] : instances_) {
    if (i.running_on == host) i.running_on.clear();
  }
}

void SimCloud::PowerOn(const std::string& host) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  it->second.powered = true;
  // Like Nova with resume_guests_state_on_host_boot = False: nothing restarts by itself.
}

void SimCloud::SetBmcReachable(const std::string& host, bool reachable) {
  if (auto it = hosts_.find(host); it != hosts_.end()) it->second.bmc_reachable = reachable;
}

void SimCloud::FailNextEvacuations(int64_t count, const std::string& host) {
  fail_evacuations_ = count;
  fail_evacuations_host_ = host;
}

Flavor SimCloud::Used(const std::string& host) const {
  Flavor used;
  for (const auto& [_, i] : instances_) {
    if (i.info.host == host) Add(used, i.info.flavor);
  }
  if (auto it = incoming_.find(host); it != incoming_.end()) Add(used, it->second);
  return used;
}

int64_t SimCloud::evacuations(const std::string& uuid) const {
  auto it = evacuations_.find(uuid);
  return it == evacuations_.end() ? 0 : it->second;
}

bool SimCloud::ServiceUp(const SimHost& h) const {
  if (h.forced_down) return false;
  return h.powered || loop_.clock().Monotonic() - h.power_lost_at < options_.service_down_time_micros;
}

template <typename T>
void SimCloud::Answer(Callback<T> done, std::function<Result<T>()> fn) {
  std::uniform_real_distribution<double> u(0, 1);
  if (options_.api_timeout_rate > 0 && u(rng_) < options_.api_timeout_rate) return;
  if (options_.api_error_rate > 0 && u(rng_) < options_.api_error_rate) {
    loop_.Post([done = std::move(done)] {
      done(Unavailable("compute API: 503 Service Unavailable (simulated)"));
    });
    return;
  }
  const int64_t delay = options_.api_latency.Draw(rng_);
  auto run = [fn = std::move(fn), done = std::move(done)] { done(fn()); };
  if (delay <= 0) {
    loop_.Post(std::move(run));
  } else {
    loop_.RunAfter(delay, std::move(run));
  }
}

template <typename T>
void SimCloud::AnswerBmc(const std::string& host, Callback<T> done, std::function<Result<T>()> fn) {
  const int64_t delay = options_.bmc_latency.Draw(rng_);
  loop_.RunAfter(delay, [this, host, fn = std::move(fn), done = std::move(done)] {
    auto it = hosts_.find(host);
    if (it == hosts_.end() || !it->second.has_bmc) {
      done(FailedPrecondition("no BMC is configured for host " + host));
    } else if (!it->second.bmc_reachable) {
      done(Unavailable("BMC of host " + host + " is unreachable"));
    } else {
      done(fn());
    }
  });
}

void SimCloud::GetService(const std::string& host, Callback<drivers::ComputeService> done) {
  Answer<drivers::ComputeService>(
      std::move(done), [this, host]() -> Result<drivers::ComputeService> {
        auto it = hosts_.find(host);
        if (it == hosts_.end()) return NotFound("compute service of host " + host + " not found");
        return ServiceOf(host, it->second);
      });
}

drivers::ComputeService SimCloud::ServiceOf(const std::string& host, const SimHost& h) const {
  return drivers::ComputeService{.id = "svc-" + host,
                                 .host = host,
                                 .enabled = h.service_enabled,
                                 .forced_down = h.forced_down,
                                 .up = ServiceUp(h),
                                 .disabled_reason = h.disabled_reason};
}

void SimCloud::ListServices(Callback<std::vector<drivers::ComputeService>> done) {
  Answer<std::vector<drivers::ComputeService>>(std::move(done), [this] {
    std::vector<drivers::ComputeService> out;
    for (const auto& [name, h] : hosts_) out.push_back(ServiceOf(name, h));
    return Result<std::vector<drivers::ComputeService>>(std::move(out));
  });
}

void SimCloud::SetServiceEnabled(const std::string& host, bool enabled, const std::string& reason,
                                 Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return NotFound("compute service of host " + host + " not found");
    it->second.service_enabled = enabled;
    it->second.disabled_reason = enabled ? "" : reason;
    return {};
  });
}

void SimCloud::SetForcedDown(const std::string& host, bool forced_down, Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return NotFound("compute service of host " + host + " not found");
    it->second.forced_down = forced_down;
    return {};
  });
}

void SimCloud::ListInstances(const std::string& host,
                             Callback<std::vector<drivers::Instance>> done) {
  Answer<std::vector<drivers::Instance>>(std::move(done), [this, host] {
    std::vector<drivers::Instance> out;
    for (const auto& [_, i] : instances_) {
      if (i.info.host == host) out.push_back(i.info);
    }
    return Result<std::vector<drivers::Instance>>(std::move(out));
  });
}

void SimCloud::GetInstance(const std::string& uuid, Callback<drivers::Instance> done) {
  Answer<drivers::Instance>(std::move(done), [this, uuid]() -> Result<drivers::Instance> {
    auto it = instances_.find(uuid);
    if (it == instances_.end()) return NotFound("instance " + uuid + " not found");
    return it->second.info;
  });
}

void SimCloud::ListHostResources(Callback<std::vector<drivers::HostResources>> done) {
  Answer<std::vector<drivers::HostResources>>(std::move(done), [this] {
    std::vector<drivers::HostResources> out;
    for (const auto& [name, h] : hosts_) out.push_back({name, h.capacity, Used(name)});
    return Result<std::vector<drivers::HostResources>>(std::move(out));
  });
}

void SimCloud::ListMigrations(const std::string& uuid,
                              Callback<std::vector<drivers::Migration>> done) {
  Answer<std::vector<drivers::Migration>>(std::move(done), [this, uuid] {
    std::vector<drivers::Migration> out;
    for (const auto& m : migrations_) {
      if (m.instance_uuid == uuid) out.push_back(m);
    }
    return Result<std::vector<drivers::Migration>>(std::move(out));
  });
}

void SimCloud::ListEvacuationsSince(WallMicros since,
                                    Callback<std::vector<drivers::Migration>> done) {
  Answer<std::vector<drivers::Migration>>(std::move(done), [this, since] {
    std::vector<drivers::Migration> out;
    const WallMicros now = loop_.clock().Now() + options_.clock_skew_micros;
    for (const auto& m : migrations_) {
      if (m.created_at >= since && m.created_at + options_.migration_listed_after_micros <= now) {
        out.push_back(m);
      }
    }
    return Result<std::vector<drivers::Migration>>(std::move(out));
  });
}

bool SimCloud::Fits(const std::string& host, const Flavor& f) const {
  const SimHost& h = hosts_.at(host);
  Flavor used = Used(host);
  return used.vcpus + f.vcpus <= h.capacity.vcpus && used.ram_mb + f.ram_mb <= h.capacity.ram_mb &&
         used.disk_gb + f.disk_gb <= h.capacity.disk_gb;
}

std::optional<std::string> SimCloud::Schedule(const std::string& source, const Flavor& f) const {
  std::optional<std::string> best;
  int64_t best_free = -1;
  for (const auto& [name, h] : hosts_) {
    if (name == source || !h.powered || !h.service_enabled || !ServiceUp(h) || !Fits(name, f)) {
      continue;
    }
    const int64_t free = h.capacity.ram_mb - Used(name).ram_mb;
    if (free > best_free) best = name, best_free = free;
  }
  return best;
}

void SimCloud::Evacuate(const std::string& uuid, const std::optional<std::string>& destination,
                        Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = instances_.find(uuid);
    if (it == instances_.end()) return NotFound("instance " + uuid + " not found");
    drivers::Instance& inst = it->second.info;
    const std::string source = inst.host;
    const SimHost& src = hosts_.at(source);
    if (ServiceUp(src)) {
      return FailedPrecondition("Compute service of " + source + " is still in use.");
    }
    if (inst.task_state || (inst.vm_state != "active" && inst.vm_state != "stopped" &&
                            inst.vm_state != "error")) {
      return FailedPrecondition("Cannot 'evacuate' instance " + uuid + " while it is in vm_state " +
                                inst.vm_state + (inst.task_state ? ", task_state " + *inst.task_state : ""));
    }
    if (destination && !hosts_.contains(*destination)) {
      return NotFound("compute host " + *destination + " not found");
    }
    if (destination && *destination == source) {
      return InvalidArgument("the destination is the instance's own host");
    }
    ++evacuations_[uuid];
    ++evacuations_accepted_;
    if (inst.locked) evacuated_while_locked_.insert(uuid);
    if (src.powered) ++unfenced_evacuations_;
    // Like Nova's scheduler: a named destination must be enabled, up and have room; without
    // one, the roomiest such host. Failing that, the rebuild fails after acceptance.
    std::optional<std::string> dest = destination;
    bool refused = false;
    if (dest) {
      const SimHost& d = hosts_.at(*dest);
      if (!d.powered || !d.service_enabled || !ServiceUp(d) || !Fits(*dest, inst.flavor)) {
        dest.reset();
        refused = true;
      }
    } else {
      dest = Schedule(source, inst.flavor);
    }
    drivers::Migration m{.id = "mig-" + std::to_string(migrations_.size() + 1),
                         .seq = int64_t(migrations_.size() + 1),
                         .instance_uuid = uuid,
                         .source_host = source,
                         .dest_host = dest.value_or(""),
                         .status = "accepted",
                         .created_at = loop_.clock().Now() + options_.clock_skew_micros};
    migrations_.push_back(m);
    const size_t index = migrations_.size() - 1;
    const std::string original = inst.vm_state;
    inst.task_state = "rebuilding";
    if (dest) Add(incoming_[*dest], inst.flavor);
    loop_.RunAfter(options_.evacuate_latency.Draw(rng_), [=, this] {
      CompleteEvacuation(uuid, source, dest.value_or(""), original, index, refused);
    });
    return {};
  });
}

void SimCloud::CompleteEvacuation(const std::string& uuid, const std::string& source,
                                  const std::string& dest, std::string original_state,
                                  size_t migration, bool refused) {
  SimInstance& i = instances_.at(uuid);
  if (!dest.empty()) Add(incoming_[dest], i.info.flavor, -1);
  bool fail = dest.empty() || !hosts_.at(dest).powered;
  if (!fail && fail_evacuations_ > 0 &&
      (fail_evacuations_host_.empty() || fail_evacuations_host_ == source ||
       fail_evacuations_host_ == dest)) {
    --fail_evacuations_;
    fail = true;
  }
  i.info.task_state.reset();
  if (refused) {
    // Nova's conductor refusing the requested destination keeps the instance's state; only
    // the migration record says the evacuation failed.
    migrations_[migration].status = "error";
    return;
  }
  if (fail) {
    i.info.vm_state = "error";
    migrations_[migration].status = "error";
    return;
  }
  if (!i.running_on.empty() && i.running_on != dest && hosts_.at(i.running_on).powered) {
    ++split_brains_;
  }
  i.info.host = dest;
  i.info.vm_state = original_state == "error" ? "active" : original_state;
  i.running_on = i.info.vm_state == "active" ? dest : "";
  i.info.power_state = i.running_on.empty() ? kPowerShutdown : drivers::kPowerRunning;
  migrations_[migration].status = "done";
}

void SimCloud::StopInstance(const std::string& uuid, Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = instances_.find(uuid);
    if (it == instances_.end()) return NotFound("instance " + uuid + " not found");
    drivers::Instance& inst = it->second.info;
    if (inst.vm_state != "active" || inst.task_state) {
      return FailedPrecondition("Cannot 'stop' instance " + uuid + " while it is in vm_state " +
                                inst.vm_state);
    }
    inst.task_state = "powering-off";
    loop_.RunAfter(options_.power_latency.Draw(rng_), [this, uuid] {
      SimInstance& i = instances_.at(uuid);
      i.info.task_state.reset();
      i.info.vm_state = "stopped";
      i.info.power_state = kPowerShutdown;
      i.running_on.clear();
    });
    return {};
  });
}

void SimCloud::StartInstance(const std::string& uuid, Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = instances_.find(uuid);
    if (it == instances_.end()) return NotFound("instance " + uuid + " not found");
    drivers::Instance& inst = it->second.info;
    if (inst.vm_state != "stopped" || inst.task_state) {
      return FailedPrecondition("Cannot 'start' instance " + uuid + " while it is in vm_state " +
                                inst.vm_state);
    }
    inst.task_state = "powering-on";
    loop_.RunAfter(options_.power_latency.Draw(rng_), [this, uuid] {
      SimInstance& i = instances_.at(uuid);
      i.info.task_state.reset();
      if (hosts_.at(i.info.host).powered) {
        i.info.vm_state = "active";
        i.info.power_state = drivers::kPowerRunning;
        i.running_on = i.info.host;
      } else {
        i.info.vm_state = "error";
      }
    });
    return {};
  });
}

void SimCloud::ResetState(const std::string& uuid, const std::string& vm_state,
                          Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = instances_.find(uuid);
    if (it == instances_.end()) return NotFound("instance " + uuid + " not found");
    it->second.info.vm_state = vm_state;
    it->second.info.task_state.reset();
    return {};
  });
}

void SimCloud::LockInstance(const std::string& uuid, const std::string& reason,
                            Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = instances_.find(uuid);
    if (it == instances_.end()) return NotFound("instance " + uuid + " not found");
    it->second.info.locked = true;
    it->second.info.locked_reason = reason;
    return {};
  });
}

void SimCloud::UnlockInstance(const std::string& uuid, Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = instances_.find(uuid);
    if (it == instances_.end()) return NotFound("instance " + uuid + " not found");
    it->second.info.locked = false;
    it->second.info.locked_reason.reset();
    return {};
  });
}

void SimCloud::AddAggregate(const std::string& name, std::vector<std::string> hosts) {
  const std::string id = std::to_string(aggregates_.size() + 1);
  aggregates_[id] = {id, name, std::move(hosts)};
}

void SimCloud::ListAggregates(Callback<std::vector<drivers::Aggregate>> done) {
  Answer<std::vector<drivers::Aggregate>>(std::move(done), [this] {
    std::vector<drivers::Aggregate> out;
    for (const auto& [_, a] : aggregates_) out.push_back(a);
    return out;
  });
}

void SimCloud::AddHostToAggregate(const std::string& aggregate_id, const std::string& host,
                                  Callback<void> done) {
  Answer<void>(std::move(done), [=, this]() -> Result<void> {
    auto it = aggregates_.find(aggregate_id);
    if (it == aggregates_.end()) return NotFound("aggregate " + aggregate_id + " not found");
    auto& hosts = it->second.hosts;
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
    return {};
  });
}

void SimCloud::PowerOff(const std::string& host, Callback<void> done) {
  AnswerBmc<void>(host, std::move(done), [this, host]() -> Result<void> {
    PowerLoss(host);
    return {};
  });
}

void SimCloud::GetPowerState(const std::string& host, Callback<drivers::PowerState> done) {
  AnswerBmc<drivers::PowerState>(host, std::move(done), [this, host] {
    return Result<drivers::PowerState>(hosts_.at(host).powered ? drivers::PowerState::kOn
                                                               : drivers::PowerState::kOff);
  });
}

}  // namespace warden::sim
