#include "engine/headroom.h"

#include <algorithm>

#include "engine/recovery.h"

namespace warden::engine {
namespace {

// The size taken for a host the cloud cannot size (Placement absent or failing): equal and
// ample for every host, so the planner spreads the moves over the usable ones, and Nova's
// scheduler still checks each destination (a refused one is an attempt retried elsewhere).
constexpr int64_t kUnknownSize = int64_t(1) << 40;

std::string WhyNotUsable(const Host& h, const drivers::ComputeService* svc, bool under_recovery) {
  if (under_recovery) return "a recovery of it is under way";
  if (h.on_maintenance) return "on maintenance";
  if (svc == nullptr) return "no compute service in the cloud";
  if (svc->forced_down) return "compute service forced down";
  if (!svc->up) return "compute service down";
  if (!svc->enabled && !h.reserved) return "compute service disabled";
  return {};
}

}  // namespace

int HostPriority(const Host& h) {
  const std::string& a = h.control_attributes;
  size_t pos = a.find("priority=");
  if (pos == std::string::npos ||
      (pos > 0 && std::string(" ,;").find(a[pos - 1]) == std::string::npos)) {
    return 0;
  }
  try {
    return std::stoi(a.substr(pos + 9));
  } catch (...) {
    return 0;
  }
}

std::vector<HostCapacity> Candidates(const std::vector<Host>& hosts,
                                     const std::vector<drivers::HostResources>* resources,
                                     const std::vector<drivers::ComputeService>& services,
                                     const std::map<std::string, drivers::Flavor>& promised,
                                     const std::function<bool(const std::string&)>& under_recovery,
                                     std::map<std::string, std::string>* why) {
  std::map<std::string, const drivers::HostResources*> sized;
  if (resources) {
    for (const auto& r : *resources) sized[r.host] = &r;
  }
  std::map<std::string, const drivers::ComputeService*> service;
  for (const auto& svc : services) service[svc.host] = &svc;
  const drivers::HostResources unknown{"", {kUnknownSize, kUnknownSize, kUnknownSize}, {0, 0, 0}};
  const drivers::Flavor none;

  std::vector<HostCapacity> out;
  for (const Host& h : hosts) {
    const drivers::HostResources* r = &unknown;
    if (resources) {
      auto it = sized.find(h.name);
      if (it == sized.end()) continue;
      r = it->second;
    }
    auto p = promised.find(h.name);
    const drivers::Flavor& f = p == promised.end() ? none : p->second;
    HostCapacity c;
    c.name = h.name;
    c.segment_uuid = h.segment_uuid;
    c.reserved = h.reserved;
    c.priority = HostPriority(h);
    c.free_vcpus = r->total.vcpus - r->used.vcpus - f.vcpus;
    c.free_ram_mb = r->total.ram_mb - r->used.ram_mb - f.ram_mb;
    c.free_disk_gb = r->total.disk_gb - r->used.disk_gb - f.disk_gb;
    auto s = service.find(h.name);
    const std::string reason =
        WhyNotUsable(h, s == service.end() ? nullptr : s->second, under_recovery(h.uuid));
    c.usable = reason.empty();
    if (!c.usable && why) (*why)[h.name] = reason;
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(),
            [](const HostCapacity& a, const HostCapacity& b) { return a.name < b.name; });
  return out;
}

ha::SegmentHeadroom CheckHeadroom(const HeadroomInput& in, const EngineOptions& options) {
  ha::SegmentHeadroom out;
  out.segment = in.segment;
  out.checked_at = in.now;
  out.capacity_known = in.capacity_error.empty();
  out.capacity_error = in.capacity_error;

  std::map<std::string, const HostCapacity*> candidate;
  for (const HostCapacity& c : in.candidates) candidate[c.name] = &c;

  std::vector<Host> hosts = in.segment_hosts;
  std::sort(hosts.begin(), hosts.end(),
            [](const Host& a, const Host& b) { return a.name < b.name; });
  for (const Host& h : hosts) {
    ha::HostHeadroom hr;
    hr.uuid = h.uuid;
    hr.name = h.name;
    hr.reserved = h.reserved;
    auto c = candidate.find(h.name);
    hr.usable = c != candidate.end() && c->second->usable;
    if (auto why = in.unusable_because.find(h.name); why != in.unusable_because.end()) {
      hr.note = why->second;
    } else if (c == candidate.end() && out.capacity_known) {
      hr.note = "the cloud does not size this host";
    }
    if (auto r = in.resources.find(h.name); r != in.resources.end()) {
      hr.total_vcpus = r->second.total.vcpus;
      hr.used_vcpus = r->second.used.vcpus;
      hr.total_ram_mb = r->second.total.ram_mb;
      hr.used_ram_mb = r->second.used.ram_mb;
      if (hr.usable) {
        out.total_vcpus += hr.total_vcpus;
        out.free_vcpus += std::max<int64_t>(0, hr.total_vcpus - hr.used_vcpus);
        out.total_ram_mb += hr.total_ram_mb;
        out.free_ram_mb += std::max<int64_t>(0, hr.total_ram_mb - hr.used_ram_mb);
      }
    }

    auto listed = in.instances.find(h.name);
    if (!out.capacity_known) {
      hr.shortfall = "the cloud cannot size its hosts: " + in.capacity_error;
    } else if (listed == in.instances.end()) {
      hr.shortfall = "its instances were not listed in time";
    } else if (!listed->second) {
      hr.shortfall = "cannot list its instances: " + listed->second.error().message();
    } else {
      InstanceChoice chosen = ChooseInstances(h.name, *listed->second, options);
      hr.checked = true;
      hr.instances = int64_t(chosen.instances.size());
      hr.ha_instances = chosen.ha;
      PlanRequest req;
      req.method = in.segment.recovery_method;
      req.segment_uuid = in.segment.uuid;
      req.stay_in_segment = options.stay_in_segment;
      req.hosts = in.candidates;
      // The host that fails is no candidate at all, as in a recovery's plan.
      std::erase_if(req.hosts, [&](const HostCapacity& hc) { return hc.name == h.name; });
      for (const auto& i : chosen.instances) {
        req.instances.push_back({i.uuid, Flavor{i.flavor.vcpus, i.flavor.ram_mb, i.flavor.disk_gb},
                                 IsHaEnabled(i, options.ha_enabled_key)});
      }
      const EvacuationPlan plan = PlanEvacuation(req);
      for (size_t k = 0; k < plan.placements.size(); ++k) {
        const Placement& p = plan.placements[k];
        if (p.destination) {
          ++hr.placed;
          if (req.instances[k].ha_enabled) ++hr.ha_placed;
        } else if (hr.shortfall.empty()) {
          hr.shortfall = "instance " + chosen.instances[k].name + " (" + p.instance_uuid + "): " + p.reason;
        }
      }
    }
    out.hosts.push_back(std::move(hr));
  }
  return out;
}

}  // namespace warden::engine
