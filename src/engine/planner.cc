#include "engine/planner.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

namespace warden::engine {
namespace {

// One pool of destinations a method tries, in the method's order.
struct Pool {
  bool reserved = false;
  bool by_priority = false;  // tiers by HostCapacity::priority before spreading
};

struct PoolOrder {
  Pool pools[2];
  int count = 0;
};

PoolOrder PoolsFor(RecoveryMethod method) {
  const Pool non_reserved{.reserved = false, .by_priority = false};
  const Pool non_reserved_by_priority{.reserved = false, .by_priority = true};
  const Pool reserved{.reserved = true, .by_priority = false};
  switch (method) {
    case RecoveryMethod::kAuto:
      return {.pools = {non_reserved, {}}, .count = 1};
    case RecoveryMethod::kReservedHost:
      return {.pools = {reserved, {}}, .count = 1};
    case RecoveryMethod::kAutoPriority:
      return {.pools = {non_reserved_by_priority, reserved}, .count = 2};
    case RecoveryMethod::kRhPriority:
      return {.pools = {reserved, non_reserved_by_priority}, .count = 2};
  }
  return {};
}

// Amounts in the three dimensions that must all fit.
struct Amounts {
  int64_t vcpus = 0;
  int64_t ram_mb = 0;
  int64_t disk_gb = 0;
};

bool Fits(const Amounts& need, const Amounts& free) {
  return need.vcpus <= free.vcpus && need.ram_mb <= free.ram_mb && need.disk_gb <= free.disk_gb;
}

// Where a host stands in the order of preference for the next instance.
struct Preference {
  int pool = std::numeric_limits<int>::max();          // index in the method's pools; lower first
  int64_t priority = 0;                                // 0 unless the pool goes by priority
  double score = 0;                                    // see planner.h
  int32_t leaf = std::numeric_limits<int32_t>::max();  // by pool, priority, name, input position
};

bool Better(const Preference& a, const Preference& b) {
  if (a.pool != b.pool) return a.pool < b.pool;
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.score != b.score) return a.score > b.score;
  return a.leaf < b.leaf;
}

// A tournament tree over the candidate hosts. Each node keeps, over the leaves below it, the
// largest free amount in each dimension (to prune subtrees where the flavor cannot fit) and
// the most preferred leaf (to visit the promising side first and stop once nothing below can
// beat what was found). When the most preferred host fits, a search walks one path down.
class CandidateTree {
 public:
  struct Leaf {
    Amounts free;
    Preference preference;
  };

  // REQUIRES: leaves[i].preference.leaf == i.
  explicit CandidateTree(const std::vector<Leaf>& leaves) {
    while (width_ < leaves.size()) width_ *= 2;
    nodes_.assign(2 * width_, Node{});
    for (size_t i = 0; i < leaves.size(); ++i) {
      nodes_[width_ + i] = {.max = leaves[i].free, .best = leaves[i].preference};
    }
    for (size_t i = width_ - 1; i >= 1; --i) Combine(i);
  }

  // The leaf of the most preferred host where `need` fits, or -1 if there is none.
  int32_t Find(const Amounts& need) const {
    const Preference* found = nullptr;
    Search(1, need, found);
    return found == nullptr ? -1 : found->leaf;
  }

  void Update(int32_t leaf, const Leaf& value) {
    size_t i = width_ + static_cast<size_t>(leaf);
    nodes_[i] = {.max = value.free, .best = value.preference};
    for (i /= 2; i >= 1; i /= 2) Combine(i);
  }

 private:
  struct Node {
    // Padding leaves fit nothing, since needs are never negative, and lose every comparison.
    Amounts max{.vcpus = std::numeric_limits<int64_t>::min(),
                .ram_mb = std::numeric_limits<int64_t>::min(),
                .disk_gb = std::numeric_limits<int64_t>::min()};
    Preference best;
  };

  void Combine(size_t i) {
    const Node& l = nodes_[2 * i];
    const Node& r = nodes_[2 * i + 1];
    nodes_[i].max = {.vcpus = std::max(l.max.vcpus, r.max.vcpus),
                     .ram_mb = std::max(l.max.ram_mb, r.max.ram_mb),
                     .disk_gb = std::max(l.max.disk_gb, r.max.disk_gb)};
    nodes_[i].best = Better(r.best, l.best) ? r.best : l.best;
  }

  void Search(size_t i, const Amounts& need, const Preference*& found) const {
    const Node& node = nodes_[i];
    if (!Fits(need, node.max)) return;
    if (found != nullptr && !Better(node.best, *found)) return;
    if (i >= width_) {  // a leaf: its maxima are its own free amounts, so it fits
      found = &node.best;
      return;
    }
    size_t first = 2 * i, second = 2 * i + 1;
    if (Better(nodes_[second].best, nodes_[first].best)) std::swap(first, second);
    Search(first, need, found);
    Search(second, need, found);
  }

  size_t width_ = 1;  // leaves, a power of two; node i has children 2i and 2i+1, root is 1
  std::vector<Node> nodes_;
};

// Needs already found to fit nowhere. Free capacity only ever shrinks during a plan, so a
// need that fit nowhere never will, nor will any need at least as large in every dimension.
// Remembering them makes a run of unplaceable instances cost O(1) each instead of a tree
// search that, in the worst case, visits every host. Keeps only the minimal needs, and at
// most kCapacity of them, so a check stays cheap whatever the flavors.
class UnplaceableNeeds {
 public:
  bool Covers(const Amounts& need) const {
    return std::any_of(needs_.begin(), needs_.end(),
                       [&](const Amounts& known) { return Fits(known, need); });
  }

  void Add(const Amounts& need) {
    if (Covers(need)) return;
    std::erase_if(needs_, [&](const Amounts& known) { return Fits(need, known); });
    if (needs_.size() < kCapacity) needs_.push_back(need);
  }

 private:
  static constexpr size_t kCapacity = 16;
  std::vector<Amounts> needs_;
};

struct Candidate {
  const HostCapacity* host = nullptr;
  size_t input_position = 0;
  int pool = 0;
  int64_t priority = 0;  // 0 unless the pool goes by priority
};

std::string NoCapacityReason(const Amounts& need, const std::string& exhausted) {
  std::string reason;
  reason.reserve(80 + exhausted.size());
  reason.append("no capacity: needs ")
      .append(std::to_string(need.vcpus))
      .append(" vCPU, ")
      .append(std::to_string(need.ram_mb))
      .append(" MB RAM, ")
      .append(std::to_string(need.disk_gb))
      .append(" GB disk; ")
      .append(exhausted);
  return reason;
}

// "no usable reserved host in segment has it", naming each pool of the method.
std::string ExhaustedPools(const PoolOrder& order, bool stay_in_segment) {
  auto describe = [&](const Pool& pool) -> std::string {
    if (pool.reserved) return "reserved host in segment";
    return stay_in_segment ? "non-reserved host in segment" : "non-reserved host in any segment";
  };
  if (order.count == 1) return "no usable " + describe(order.pools[0]) + " has it";
  return "no usable " + describe(order.pools[0]) + ", nor " + describe(order.pools[1]) + ", has it";
}

}  // namespace

EvacuationPlan PlanEvacuation(const PlanRequest& request) {
  const PoolOrder order = PoolsFor(request.method);

  std::vector<Candidate> candidates;
  candidates.reserve(request.hosts.size());
  for (size_t i = 0; i < request.hosts.size(); ++i) {
    const HostCapacity& host = request.hosts[i];
    if (!host.usable) continue;
    const bool in_segment = host.segment_uuid == request.segment_uuid;
    if (!in_segment && (host.reserved || request.stay_in_segment)) continue;
    for (int p = 0; p < order.count; ++p) {
      if (order.pools[p].reserved == host.reserved) {
        candidates.push_back({.host = &host,
                              .input_position = i,
                              .pool = p,
                              .priority = order.pools[p].by_priority ? host.priority : 0});
        break;
      }
    }
  }
  // Leaves are ordered by pool, then priority, then name. Within a (pool, priority) tier the
  // leaf order is the name order, so a tie in score goes to the name that sorts first,
  // whatever the order of request.hosts. Keeping each tier contiguous lets the tree prune a
  // full tier by its maxima instead of visiting its hosts one by one while a big flavor looks
  // for room in the tiers below.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.pool != b.pool) return a.pool < b.pool;
    if (a.priority != b.priority) return a.priority > b.priority;
    const int by_name = a.host->name.compare(b.host->name);
    return by_name != 0 ? by_name < 0 : a.input_position < b.input_position;
  });

  int64_t max_free_vcpus = 1;
  int64_t max_free_ram_mb = 1;
  for (const Candidate& c : candidates) {
    max_free_vcpus = std::max(max_free_vcpus, c.host->free_vcpus);
    max_free_ram_mb = std::max(max_free_ram_mb, c.host->free_ram_mb);
  }
  auto score = [&](const Amounts& free) {
    return std::min(
        static_cast<double>(std::max<int64_t>(free.vcpus, 0)) / static_cast<double>(max_free_vcpus),
        static_cast<double>(std::max<int64_t>(free.ram_mb, 0)) /
            static_cast<double>(max_free_ram_mb));
  };

  std::vector<CandidateTree::Leaf> leaves(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    const HostCapacity& host = *candidates[i].host;
    CandidateTree::Leaf& leaf = leaves[i];
    leaf.free = {
        .vcpus = host.free_vcpus, .ram_mb = host.free_ram_mb, .disk_gb = host.free_disk_gb};
    leaf.preference = {.pool = candidates[i].pool,
                       .priority = candidates[i].priority,
                       .score = score(leaf.free),
                       .leaf = static_cast<int32_t>(i)};
  }
  CandidateTree tree(leaves);

  const std::string exhausted = ExhaustedPools(order, request.stay_in_segment);
  std::vector<bool> reserved_used(candidates.size(), false);
  UnplaceableNeeds known_unplaceable;

  EvacuationPlan plan;
  plan.placements.reserve(request.instances.size());
  for (const PlanInstance& instance : request.instances) {
    const Amounts need{.vcpus = std::max<int64_t>(instance.flavor.vcpus, 0),
                       .ram_mb = std::max<int64_t>(instance.flavor.ram_mb, 0),
                       .disk_gb = std::max<int64_t>(instance.flavor.disk_gb, 0)};
    Placement& placement = plan.placements.emplace_back();
    placement.instance_uuid = instance.uuid;

    const int32_t found = known_unplaceable.Covers(need) ? -1 : tree.Find(need);
    if (found < 0) {
      known_unplaceable.Add(need);
      placement.reason = NoCapacityReason(need, exhausted);
      ++plan.unplaced;
      continue;
    }
    CandidateTree::Leaf& leaf = leaves[static_cast<size_t>(found)];
    leaf.free.vcpus -= need.vcpus;
    leaf.free.ram_mb -= need.ram_mb;
    leaf.free.disk_gb -= need.disk_gb;
    leaf.preference.score = score(leaf.free);
    tree.Update(found, leaf);

    const HostCapacity& host = *candidates[static_cast<size_t>(found)].host;
    placement.destination = host.name;
    placement.to_reserved = host.reserved;
    if (host.reserved && !reserved_used[static_cast<size_t>(found)]) {
      reserved_used[static_cast<size_t>(found)] = true;
      plan.reserved_hosts_used.push_back(host.name);
    }
  }
  return plan;
}

}  // namespace warden::engine
