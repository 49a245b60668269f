#!/usr/bin/python3
"""Recovery with the real `nova` driver against `warden sim serve`, side by side with another
warden binary (the one before a change), both against the same sim.

1. An instant cloud: 3 hosts, compute1 fails with N instances (default 10 100 500 1000),
   method auto, zero API latency, evacuations done at once. Per binary and N: notification →
   every evacuation issued (the last VM move's start), → every instance ACTIVE (the last
   move's end), Nova/Placement requests per instance (the sim's count) and Keystone tokens.
2. --protective: a slow, protective cloud: 100 hosts, 25 fail with 40 instances each, 20 s
   per evacuation, 429 above 50 requests/s. Time to recover all 1,000 against the ideal the
   cloud allows — (requests it answered) / 50 per second + one 20 s rebuild — and the 429s.

Every run also checks the sim's own count: each instance evacuated exactly once.

Usage: bench/recovery-sim/run.py PATH/TO/warden [--baseline PATH/TO/old/warden]
           [--raised-caps] [--repeat R] [--protective] [N ...]
--raised-caps adds the same binary with [host_failure] max_parallel_evacuations = 1000 and
max_parallel_evacuations_per_host = 500 (what the default bounds cost on an instant cloud).
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
from sim_cloud import SimCloud, Warden, iso  # noqa: E402

BIG = {"host_vcpus": 100000, "host_ram_mb": 1 << 30, "host_disk_gb": 1 << 30}


def arg(name, default=None):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def run(warden_bin, sim_bin, sim_keys, failed, hosts, sections=None):
    sim = SimCloud(sim_bin, **sim_keys)
    warden = None
    try:
        warden = Warden(warden_bin, sim, **(sections or {}))
        warden.segment(hosts)
        for h in failed:
            sim.power_off(h)
        notes = [warden.notify(h) for h in failed]
        ends = warden.wait([n["notification_uuid"] for n in notes], timeout=1800)
        created = min(iso(n["created_at"]) for n in notes)
        moves = [m for n in notes for m in warden.vmoves(n["notification_uuid"])]
        stats = sim.stats()
        status = ",".join(sorted({e["status"] for e in ends}))
        once = all(v == 1 for v in stats["evacuations"].values()) and \
            stats["evacuations_accepted"] == len(moves)
        issued = max(iso(m["start_time"]) for m in moves) - created
        active = max(iso(m["end_time"]) for m in moves if m.get("end_time")) - created
        return {"status": status, "moves": len(moves), "issued": issued, "active": active,
                "requests": stats["requests_total"], "throttled": stats["too_many_requests"],
                "tokens": stats["tokens_issued"], "once": once}
    finally:
        if warden is not None:
            warden.stop()
        sim.stop()


def main():
    warden_bin = os.path.abspath(sys.argv[1])
    baseline = arg("--baseline")
    repeat = int(arg("--repeat", "1"))
    skip = {arg("--baseline"), arg("--repeat")}
    sizes = [int(a) for a in sys.argv[2:] if a.isdigit() and a not in skip] or [10, 100, 500, 1000]
    binaries = [("now", warden_bin, None)]
    if "--raised-caps" in sys.argv:
        binaries.append(("now, caps raised", warden_bin, {"host_failure": {
            "max_parallel_evacuations": 1000, "max_parallel_evacuations_per_host": 500}}))
    if baseline:
        binaries.append(("before", os.path.abspath(baseline), None))
    print("machine: %s, %d cores; %s" % (os.uname().nodename, os.cpu_count(),
                                         time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    print("\n| instances | warden | round | status | all issued | all ACTIVE | "
          "requests per instance | tokens | each once |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for r in range(repeat):
            for label, b, sections in binaries:
                x = run(b, warden_bin, dict(hosts=3, reserved_hosts=2, instances=n,
                                            api_latency="fixed:0ms", evacuate_latency="fixed:0ms",
                                            **BIG), ["compute1"],
                        ["compute1", "compute2", "compute3"], sections)
                print("| %d | %s | %d | %s | %.2f s | %.2f s | %.2f | %d | %s |" % (
                    n, label, r + 1, x["status"], x["issued"], x["active"],
                    x["requests"] / x["moves"], x["tokens"], "yes" if x["once"] else "NO"),
                    flush=True)
    if "--protective" in sys.argv:
        print("\n| warden | status | instances | recovered in | ideal | ratio | requests | "
              "429s | each once |")
        print("|---|---|---|---|---|---|---|---|---|")
        for label, b, sections in binaries:
            x = run(b, warden_bin, dict(hosts=100, reserved_hosts=75, instances=1000,
                                        host_vcpus=512, host_ram_mb=1 << 22, host_disk_gb=1 << 20,
                                        api_latency="fixed:1ms", evacuate_latency="fixed:20s",
                                        rate_limit=50, retry_after=1),
                    ["compute%d" % i for i in range(1, 26)],
                    ["compute%d" % i for i in range(1, 101)], sections)
            ideal = (x["requests"] - x["throttled"]) / 50.0 + 20
            print("| %s | %s | %d | %.1f s | %.1f s | %.2f | %d | %d (%.1f %%) | %s |" % (
                label, x["status"], x["moves"], x["active"], ideal, x["active"] / ideal,
                x["requests"], x["throttled"], 100.0 * x["throttled"] / x["requests"],
                "yes" if x["once"] else "NO"), flush=True)


if __name__ == "__main__":
    main()
