#!/usr/bin/env python3
"""One `warden server` on SQLite against `warden sim serve`, as real processes (the single-server
case of the replicas issue): the cloud's own record of every evacuate call is the judge.

1. `kill -9` in the middle of a 200-instance evacuation, then a restart on the same database:
   the recovery finishes, every instance ACTIVE elsewhere and evacuated exactly once.
2. Rolling restarts (three stops and starts, one after another) while nothing fails: no
   evacuation, no change to any compute service, no notification touched.

Usage: crash_resume_test.py PATH/TO/warden
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from harness import Tally, expect  # noqa: E402
from sim_cloud import SimCloud, Warden  # noqa: E402

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
HOSTS = ["compute1", "compute2", "compute3"]
INSTANCES = 200


def service_changes(stats):
    """Calls that change a compute service (disable, enable, forced down)."""
    return sum(n for k, n in stats["requests"].items()
               if "os-services" in k and not k.startswith("GET"))


def notifications(warden):
    listed = warden.req("GET", "/v1/notifications?limit=1000")["notifications"]
    return sorted((n["notification_uuid"], n["status"], n["updated_at"]) for n in listed)


def test_kill_mid_evacuation_then_restart(env):
    sim, warden = env["sim"], env["warden"]
    on_failed = {s["id"] for s in sim.servers("compute1")}
    expect(len(on_failed) == INSTANCES, len(on_failed))
    warden.segment(HOSTS)
    sim.power_off("compute1")
    nid = warden.notify("compute1")["notification_uuid"]
    # Mid-evacuation: some moves issued, the rebuilds (2-6 s each) not all done.
    deadline = time.time() + 120
    while True:
        moves = warden.vmoves(nid)
        started = sum(1 for m in moves if m["start_time"])
        done = sum(1 for m in moves if m["status"] == "succeeded")
        if started >= 20 and done < INSTANCES // 2:
            break
        expect(time.time() < deadline, "never mid-evacuation: %d started, %d done" % (started, done))
        expect(done < INSTANCES // 2, "the recovery went too fast to interrupt: %d done" % done)
        time.sleep(0.05)
    accepted_before = sim.stats()["evacuations_accepted"]
    warden.restart(kill=True)
    print("killed with %d moves started, %d done, %d evacuations accepted by the cloud"
          % (started, done, accepted_before), flush=True)

    end = warden.wait([nid], timeout=300)[0]
    expect(end["status"] == "finished", (end["status"], end["message"]))
    moves = warden.vmoves(nid)
    expect(len(moves) == INSTANCES and all(m["status"] == "succeeded" for m in moves),
           sorted({m["status"] for m in moves}))
    stats = sim.stats()
    expect(set(stats["evacuations"]) == on_failed, "instances evacuated: %d of %d" % (
        len(stats["evacuations"]), len(on_failed)))
    twice = {k: v for k, v in stats["evacuations"].items() if v != 1}
    expect(not twice, "evacuated more than once: %s" % twice)
    expect(stats["evacuations_accepted"] == INSTANCES, stats["evacuations_accepted"])
    expect(stats["split_brains"] == 0, stats["split_brains"])
    servers = {s["id"]: s for s in sim.servers()}
    for uuid in on_failed:
        s = servers[uuid]
        expect(s["OS-EXT-SRV-ATTR:host"] != "compute1" and s["status"] == "ACTIVE",
               (uuid, s["OS-EXT-SRV-ATTR:host"], s["status"]))
    expect("recovery resumed" in warden.read_log(),
           "the restarted server does not say it resumed: " + warden.read_log()[-1500:])


def test_rolling_restarts_touch_nothing(env):
    sim, warden = env["sim"], env["warden"]
    before = sim.stats()
    listed = notifications(warden)
    expect(listed, "no notification to leave untouched")
    for _ in range(3):
        warden.restart()
        # Give the engine's start-up (resume, periodic checks) time to act if it wanted to.
        time.sleep(2)
        expect(notifications(warden) == listed, "a restart touched a notification")
    after = sim.stats()
    expect(after["evacuations_accepted"] == before["evacuations_accepted"],
           (before["evacuations_accepted"], after["evacuations_accepted"]))
    expect(service_changes(after) == service_changes(before),
           "a restart changed a compute service: %d → %d" % (service_changes(before),
                                                             service_changes(after)))


def main():
    tally = Tally()
    sim = SimCloud(WARDEN, hosts=3, reserved_hosts=2, instances=INSTANCES,
                   host_vcpus=100000, host_ram_mb=1 << 30, host_disk_gb=1 << 30,
                   api_latency="fixed:2ms", evacuate_latency="uniform:2s:6s")
    warden = None
    try:
        warden = Warden(WARDEN, sim)
        env = {"sim": sim, "warden": warden}
        if tally.run(test_kill_mid_evacuation_then_restart, env,
                     on_failure=lambda: "--- warden log ---\n" + warden.read_log()[-3000:]):
            tally.run(test_rolling_restarts_touch_nothing, env)
    finally:
        if warden is not None:
            warden.stop()
        sim.stop()
    return tally.exit_code()


if __name__ == "__main__":
    sys.exit(main())
