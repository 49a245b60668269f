#!/usr/bin/python3
"""The dashboard with real volumes: 10,000 notifications and a 1,000-VM recovery in the store.

1. A store is filled through the API: `warden server` without a compute driver takes N
   notifications (default 10,000; VM and PROCESS for two hosts), whose statuses and times are
   then spread over the last 28 days as a long-lived deployment's would be (finished 90 %,
   ignored 8 %, failed 2 %; written with sqlite3 while the server is stopped).
2. The same store behind `warden server` with the nova driver against `warden sim serve`:
   compute1 loses power with M instances (default 1,000) that take 10 s each to rebuild; the
   pace per destination holds most of them pending, so the recovery is running (moves pending,
   running and succeeded, records written as they change) while the pages are measured.
3. bench/dashboard/measure.mjs drives Debian's chromium: each page's time from its data's
   arrival to the frame after it was drawn, and from the click to that frame; the running
   recovery's 5 s refresh over three cycles with the browser's long tasks and the server's
   response-cache hits and misses.
4. The server's time for the 1,000-move answer computed (a new cache key each time) and
   cached.

Usage: bench/dashboard/run.py PATH/TO/warden [--notifications N] [--instances M] [--repeat R]
"""
import concurrent.futures
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
from sim_cloud import SimCloud, Warden  # noqa: E402

HOSTS = ["compute1", "compute2", "compute3"]


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def fill(warden_bin, sim, db, count):
    """`count` notifications through the API of a server that recovers nothing."""
    w = Warden(warden_bin, sim, compute={"driver": "none"},
               database={"connection": "sqlite:///" + db})
    try:
        w.segment(HOSTS)

        def post(i):
            host = HOSTS[1 + i % 2]
            if i % 3:
                body = {"type": "VM", "hostname": host, "payload": {
                    "event": "LIFECYCLE", "instance_uuid": "%08d-0000-4000-8000-000000000000" % i,
                    "vir_domain_event": "STOPPED_FAILED"}}
            else:
                body = {"type": "PROCESS", "hostname": host, "payload": {
                    "event": "STOPPED", "process_name": "nova-compute-%d" % i}}
            body["generated_time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            w.req("POST", "/v1/notifications", {"notification": body})

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(post, range(count)))
        print("filled %d notifications in %.1f s" % (count, time.time() - t0), flush=True)
    finally:
        w.stop()
    # History: statuses and times of a long-lived deployment, oldest first.
    now = int(time.time() * 1e6)
    span = 28 * 24 * 3600 * 10**6
    con = sqlite3.connect(db)
    ids = [r[0] for r in con.execute("SELECT id FROM notifications ORDER BY id")]
    rows = []
    for k, nid in enumerate(ids):
        status = "failed" if k % 50 == 0 else "ignored" if k % 12 == 0 else "finished"
        generated = now - span + span * k // max(1, len(ids)) - 3600 * 10**6
        rows.append((status, generated, generated + 10**6, generated + 30 * 10**6, nid))
    con.executemany("UPDATE notifications SET status = ?, generated_time = ?, created_at = ?, "
                    "updated_at = ? WHERE id = ?", rows)
    con.commit()
    con.close()


def timed_get(url):
    t0 = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(
            url, headers={"OpenStack-API-Version": "instance-ha 1.3"}), timeout=60) as r:
        body = r.read()
    return (time.perf_counter() - t0) * 1000, len(body)


def main():
    warden_bin = os.path.abspath(sys.argv[1])
    count = arg("--notifications", 10000)
    instances = arg("--instances", 1000)
    repeat = arg("--repeat", 5)
    print("machine: %s, %d cores; %s" % (os.uname().nodename, os.cpu_count(),
                                         time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    sim = SimCloud(warden_bin, hosts=3, reserved_hosts=2, instances=instances,
                   host_vcpus=100000, host_ram_mb=1 << 30, host_disk_gb=1 << 30,
                   api_latency="fixed:1ms", evacuate_latency="fixed:10s")
    workdir = sim.dir
    db = os.path.join(workdir, "dashboard.db")
    w = None
    try:
        fill(warden_bin, sim, db, count)
        w = Warden(warden_bin, sim, database={"connection": "sqlite:///" + db})
        sim.power_off("compute1")
        n = w.notify("compute1")
        nid = n["notification_uuid"]
        # Every move recorded and the first ones ended before measuring.
        deadline = time.time() + 120
        while True:
            moves = w.vmoves(nid)
            if len(moves) == instances and any(m["status"] == "succeeded" for m in moves):
                break
            if time.time() > deadline:
                state = w.req("GET", "/v1/notifications/" + nid)["notification"]
                raise AssertionError("the recovery did not start every move in 120 s: %d moves, "
                                     "%d started; %s" % (len(moves), sum(bool(m["start_time"])
                                                                         for m in moves),
                                                         json.dumps(state)[-1500:]))
            time.sleep(0.5)
        print("recovery %s running: %d moves, %d started" % (
            nid, len(moves), sum(bool(m["start_time"]) for m in moves)), flush=True)
        out = subprocess.run(["node", os.path.join(HERE, "measure.mjs"), w.url, nid, str(repeat)],
                             capture_output=True, text=True, timeout=600)
        sys.stderr.write(out.stderr)
        if out.returncode != 0:
            print(out.stdout)
            raise AssertionError("measure.mjs failed")
        result = json.loads(out.stdout)

        print("\n| page | data → drawn, median | max | click → drawn, median | max | "
              "click → last row | longest task |")
        print("|---|---|---|---|---|---|---|")
        for page, r in result["pages"].items():
            print("| %s | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %.0f ms |" % (
                page, r["drawn_median"], r["drawn_max"], r["total_median"], r["total_max"],
                r["complete_median"], r["longest_task"]))
        if "trace" in result:
            print("\nVM Moves page, Chrome's trace (ms): " + ", ".join(
                "%s %.0f" % kv for kv in sorted(result["trace"].items(), key=lambda kv: -kv[1])))
        r = result["refresh"]
        print("\nRunning 1,000-move recovery, %d refreshes in 15.5 s, %d redrawn (the others "
              "found nothing new): data → drawn median %.0f ms, max %.0f ms; longest browser "
              "task %.0f ms; server answers: %d from the cache, %d computed; %d store commits "
              "meanwhile." % (r["refreshes"], r["redrawn"], r["drawn_median"], r["drawn_max"],
                              r["longest_task"], r["cache_hits"], r["cache_misses"], r["writes"]))

        base = w.url + "/v1/notifications/%s/vmoves" % nid
        computed = [timed_get(base + "?limit=%d" % (1000 - k)) for k in range(20)]
        cached = [timed_get(base + "?limit=1000") for _ in range(20)]
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        print("\nThe 1,000-move answer (%d bytes): computed %.1f ms, cached %.1f ms (medians of "
              "20); ratio %.1f." % (computed[0][1], med([c[0] for c in computed]),
                                    med([c[0] for c in cached]),
                                    med([c[0] for c in computed]) / med([c[0] for c in cached])))
    finally:
        if w is not None:
            w.stop()
        sim.stop()


if __name__ == "__main__":
    main()
