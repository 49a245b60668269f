#!/usr/bin/python3
"""Recovery against a real Nova (the openstack-lab, fake-virt hosts), side by side with the sim.

For each size N (default 10 and 50): boot N servers on one compute host, kill its
nova-compute, post a COMPUTE_HOST notification and measure, from Warden's own records:
  - notification → every evacuation issued (the last VM move's start),
  - notification → every instance ACTIVE on its new host (the last VM move's end),
  - Nova/Placement HTTP requests per evacuated instance, and Keystone tokens requested,
then the same N on `warden server` with the sim driver and zero-latency calls (the engine's own
share). Prints a Markdown table.

Usage: bench/recovery-nova/run.py PATH/TO/warden [N ...]
Needs the lab: a running one ($OS_LAB_DIR, after `source $LAB_DIR/env`), or root to start one.
"""
import datetime
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
import nova_lab_test as lab_test  # noqa: E402  (Lab, Warden, the lab's helpers)


def metrics(url):
    out = {}
    for line in urllib.request.urlopen(url + "/metrics", timeout=10).read().decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def iso(t):
    return datetime.datetime.fromisoformat(t).replace(tzinfo=datetime.timezone.utc).timestamp()


def recover(warden, hostname, payload):
    """Posts the notification, waits for its end; returns (issued_s, active_s, status)."""
    n = warden.req("POST", "/v1/notifications", {"notification": {
        "type": "COMPUTE_HOST", "hostname": hostname,
        "generated_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        "payload": payload}})["notification"]
    nid = n["notification_uuid"]
    created = iso(n["created_at"])
    deadline = time.time() + 900
    while True:
        st = warden.req("GET", "/v1/notifications/" + nid)["notification"]
        if st["status"] in ("finished", "error", "failed", "ignored"):
            break
        if time.time() > deadline:
            raise AssertionError("still " + st["status"])
        time.sleep(0.2)
    moves = warden.req("GET", "/v1/notifications/%s/vmoves" % nid)["vmoves"]
    if not moves or any(not m.get("start_time") or not m.get("end_time") for m in moves):
        raise AssertionError("notification %s ended %s with incomplete moves: %s" %
                             (nid, st["status"], st.get("message")))
    issued = max(iso(m["start_time"]) for m in moves) - created
    active = max(iso(m["end_time"]) for m in moves) - created
    return issued, active, st["status"], len(moves)


class SimWarden(lab_test.Warden):
    """warden server with the sim: hosts compute1, compute2; N instances on each."""

    def __init__(self, n):
        import subprocess
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="warden-simbench-")
        conf = f"""[DEFAULT]
duplicate_notification_detection_interval = 0
[api]
auth_strategy = noauth
listen = 127.0.0.1:0
access_log = false
[database]
connection = sqlite:///{self.dir}/warden.db
[compute]
driver = sim
[host_failure]
poll_interval = 0.05
[sim]
hosts = 2
reserved_hosts = 0
instances = {2 * n}
host_vcpus = 4096
host_ram_mb = 16777216
host_disk_gb = 1000000
api_latency = fixed:0ms
evacuate_latency = fixed:0ms
power_latency = fixed:0ms
bmc_latency = fixed:0ms
"""
        open(os.path.join(self.dir, "warden.conf"), "w").write(conf)
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([lab_test.WARDEN, "server", "--config",
                                      os.path.join(self.dir, "warden.conf"),
                                      "--port-file", port_file], stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if time.time() > deadline:
                raise RuntimeError("warden did not start")
            time.sleep(0.05)
        self.url = "http://127.0.0.1:%s" % open(port_file).read().strip()
        seg = self.req("POST", "/v1/segments", {"segment": {
            "name": "sim", "recovery_method": "auto", "service_type": "COMPUTE"}})["segment"]
        for h in ("compute1", "compute2"):
            self.req("POST", "/v1/segments/%s/hosts" % seg["uuid"], {"host": {
                "name": h, "type": "COMPUTE", "control_attributes": "SSH"}})


def main():
    sizes = [int(a) for a in sys.argv[2:] if not a.startswith("--")] or [10, 50]
    rows = []
    if "--sim-only" not in sys.argv:
        lab_rows(sizes, rows)
    sim_rows(sizes, rows)
    print("\n| cloud | instances | VM moves | status | all issued | all ACTIVE | "
          "cloud calls per instance | tokens |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %d | %s | %.2f s | %.2f s | %s | %s |" % r)


def lab_rows(sizes, rows):
    lab = lab_test.Lab()
    warden = None
    booted = []
    try:
        warden = lab_test.Warden(lab)
        hosts = lab.hosts
        for h in hosts:
            lab.compute("start", h)
            svc = lab.service(h)
            if svc["forced_down"] or svc["state"] != "up" or svc["status"] != "enabled":
                lab.restore(h)
        seg = warden.req("POST", "/v1/segments", {"segment": {
            "name": "bench", "recovery_method": "auto", "service_type": "COMPUTE"}})["segment"]
        for h in hosts:
            warden.req("POST", "/v1/segments/%s/hosts" % seg["uuid"], {"host": {
                "name": h, "type": "COMPUTE", "control_attributes": "SSH"}})
        for i, n in enumerate(sizes):
            failed = hosts[i % len(hosts)]
            for h in warden.req("GET", "/v1/segments/%s/hosts" % seg["uuid"])["hosts"]:
                warden.req("PUT", "/v1/segments/%s/hosts/%s" % (seg["uuid"], h["uuid"]),
                           {"host": {"on_maintenance": False}})
            ids = [lab.boot("wb-%d-%d" % (n, k), failed) for k in range(n)]
            booted += ids
            lab.wait(ids, lambda sv: sv["status"] == "ACTIVE", 600, "boot")
            lab.compute("kill", failed)
            before = metrics(warden.url)
            issued, active, status, moves = recover(
                warden, failed,
                {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"})
            after = metrics(warden.url)
            calls = (after["warden_nova_http_requests_total"] -
                     before["warden_nova_http_requests_total"])
            tokens = (after["warden_keystone_tokens_issued_total"] -
                      before["warden_keystone_tokens_issued_total"])
            rows.append(("nova lab", n, moves, status, issued, active, "%.1f" % (calls / max(1, moves)),
                         "%d" % tokens))
            print(rows[-1], flush=True)
            lab.restore(failed)
    finally:
        lab.delete(booted)
        if warden:
            warden.stop()
        if "--keep-lab" not in sys.argv:
            lab.stop()


def sim_rows(sizes, rows):
    for n in sizes:
        sim = SimWarden(n)
        try:
            issued, active, status, moves = recover(
                sim, "compute1", {"event": "STOPPED", "host_status": "UNKNOWN",
                                  "cluster_status": "OFFLINE"})
            rows.append(("sim, zero latency", n, moves, status, issued, active, "—", "—"))
            print(rows[-1], flush=True)
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
