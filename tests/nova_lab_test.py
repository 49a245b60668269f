#!/usr/bin/python3
"""Warden's `nova` driver against a real OpenStack (Nova with fake-virt compute hosts).

Uses the single-node lab of ../shared/openstack-lab: the one named by $OS_LAB_DIR if it is
running (source its env file), otherwise it starts one in a temporary directory (as root,
about two minutes) and stops it at the end.

For each recovery method (auto, reserved_host, rh_priority) it boots servers on one compute
host, kills that host's nova-compute, posts a COMPUTE_HOST notification (host_status NORMAL:
no fencer is configured, so the monitor's word is the fence) to `warden server` configured
with the nova driver and Masakari's [DEFAULT] keys, and asserts:
  - the notification ends `finished`;
  - every server is ACTIVE on another host, on the hosts the method allows;
  - Nova recorded exactly one evacuation per server, and Warden a succeeded VM move with the
    same destination;
  - the failed host's service is forced down and disabled;
  - Warden asked Keystone for one token for the whole run.
Then it restores the host for the next scenario.

Usage: nova_lab_test.py PATH/TO/warden [--keep-lab]
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77  # CTest's SKIP_RETURN_CODE for this test


def find_lab_scripts():
    for d in (os.environ.get("WARDEN_LAB_SCRIPTS", ""),
              os.path.join(HERE, "..", "..", "shared", "openstack-lab"),
              "/work/shared/openstack-lab"):
        if d and os.path.exists(os.path.join(d, "up.sh")):
            return os.path.abspath(d)
    return None


LAB_SRC = find_lab_scripts()
MV = "2.74"


def log(*a):
    print("[nova_lab %s]" % time.strftime("%H:%M:%S"), *a, flush=True)


class Lab:
    """A running lab: its env, a keystoneauth session and helpers for Nova."""

    def __init__(self):
        self.started_here = False
        lab_dir = os.environ.get("OS_LAB_DIR")
        if not (lab_dir and self._alive()):
            lab_dir = tempfile.mkdtemp(prefix="warden-lab-")
            if os.geteuid() != 0:
                raise SystemExit("nova_lab: needs root to start the lab")
            log("starting a lab in", lab_dir, "(about two minutes)")
            env = dict(os.environ, LAB_DIR=lab_dir, N_COMPUTE="4")
            with open(lab_dir + ".up.log", "w") as out:
                subprocess.run([os.path.join(LAB_SRC, "up.sh")], env=env, check=True,
                               stdout=out, stderr=subprocess.STDOUT, timeout=900)
            self.started_here = True
        self.dir = lab_dir
        self.env = self._read_env(os.path.join(lab_dir, "env"))
        self.hosts = self.env["OS_LAB_COMPUTE_HOSTS"].split()
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        e = self.env
        auth = v3.Password(auth_url=e["OS_AUTH_URL"], username=e["OS_USERNAME"],
                           password=e["OS_PASSWORD"], project_name=e["OS_PROJECT_NAME"],
                           user_domain_name=e["OS_USER_DOMAIN_NAME"],
                           project_domain_name=e["OS_PROJECT_DOMAIN_NAME"])
        self.s = session.Session(auth=auth)
        self.nova = e["OS_COMPUTE_ENDPOINT"]
        images = self.s.get(e["OS_IMAGE_ENDPOINT"] + "/v2/images",
                            params={"name": "lab-image"}).json()["images"]
        self.image = images[0]["id"]
        self.flavor = [f for f in self.s.get(self.nova + "/flavors").json()["flavors"]
                       if f["name"] == "m1.tiny"][0]["id"]

    @staticmethod
    def _alive():
        try:
            urllib.request.urlopen("http://127.0.0.1:5000/v3", timeout=2).read()
            return True
        except Exception:
            return False

    @staticmethod
    def _read_env(path):
        env = {}
        for line in open(path):
            if line.startswith("export "):
                k, v = line[7:].strip().split("=", 1)
                env[k] = v.strip('"')
        return env

    def h(self, mv=MV):
        return {"OpenStack-API-Version": "compute " + mv, "X-OpenStack-Nova-API-Version": mv}

    def boot(self, name, host):
        body = {"server": {"name": name, "imageRef": self.image, "flavorRef": self.flavor,
                           "networks": "none", "host": host,
                           "metadata": {"HA_Enabled": "True"}}}
        r = self.s.post(self.nova + "/servers", headers=self.h(), json=body, raise_exc=False)
        assert r.status_code == 202, (r.status_code, r.text)
        return r.json()["server"]["id"]

    def boot_active(self, names, host):
        """Boots and waits for ACTIVE; a server the scheduler refused (ERROR, no host: a host
        that just came back is not always schedulable at once) is deleted and booted again."""
        ids = []
        for name in names:
            for attempt in range(5):
                sid = self.boot(name, host)
                deadline = time.time() + 120
                while True:
                    sv = self.server(sid)
                    if sv["status"] in ("ACTIVE", "ERROR") or time.time() > deadline:
                        break
                    time.sleep(0.5)
                if sv["status"] == "ACTIVE":
                    ids.append(sid)
                    break
                log("boot of %s on %s ended %s; again" % (name, host, sv["status"]))
                self.delete([sid])
                time.sleep(5)
            else:
                raise AssertionError("cannot boot %s on %s" % (name, host))
        return ids
    
    def action(self, sid, body):
        r = self.s.post(self.nova + "/servers/%s/action" % sid, headers=self.h(), json=body,
                        raise_exc=False)
        assert r.status_code == 202, (sid, body, r.status_code, r.text)

    def server(self, sid):
        return self.s.get(self.nova + "/servers/" + sid, headers=self.h()).json()["server"]

    def wait(self, ids, pred, timeout, what):
        deadline = time.time() + timeout
        left = set(ids)
        while left:
            for sid in list(left):
                sv = self.server(sid)
                if pred(sv):
                    left.discard(sid)
            if not left:
                return
            if time.time() > deadline:
                raise AssertionError("%s: %d servers still not there after %d s: %s" %
                                     (what, len(left), timeout, sorted(left)))
            time.sleep(0.5)

    def service(self, host):
        return self.s.get(self.nova + "/os-services", headers=self.h("2.53"),
                          params={"binary": "nova-compute", "host": host}).json()["services"][0]

    def compute(self, action, host):
        subprocess.run([os.path.join(self.dir, "bin", "lab-compute"), action, host], check=True,
                       capture_output=True)

    def evacuations(self, sid):
        return [m for m in self.s.get(self.nova + "/os-migrations", headers=self.h("2.59"),
                                      params={"instance_uuid": sid,
                                              "migration_type": "evacuation"}).json()["migrations"]
                if m["instance_uuid"] == sid]

    def restore(self, host):
        """Starts the host again, un-forces and enables it (Nova refuses to un-force until
        nova-compute has cleaned up its evacuated servers)."""
        self.compute("start", host)
        svc = self.service(host)
        deadline = time.time() + 120
        while True:
            r = self.s.put(self.nova + "/os-services/" + svc["id"], headers=self.h("2.53"),
                           json={"forced_down": False}, raise_exc=False)
            if r.status_code == 200:
                break
            if time.time() > deadline:
                raise AssertionError("cannot un-force %s: %s" % (host, r.text))
            time.sleep(1)
        self.s.put(self.nova + "/os-services/" + svc["id"], headers=self.h("2.53"),
                   json={"status": "enabled"})
        deadline = time.time() + 60
        while self.service(host)["state"] != "up":
            if time.time() > deadline:
                raise AssertionError(host + " does not come back up")
            time.sleep(1)

    def delete(self, ids):
        for sid in ids:
            self.s.delete(self.nova + "/servers/" + sid, raise_exc=False)

    def stop(self):
        if self.started_here:
            log("stopping the lab")
            env = dict(os.environ, LAB_DIR=self.dir, PURGE="1")
            subprocess.run([os.path.join(LAB_SRC, "down.sh")], env=env, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # The start-up's output, kept beside the lab in case the start failed (a path
            # through the lab's folder would not resolve: down.sh has removed it).
            if os.path.exists(self.dir + ".up.log"):
                os.remove(self.dir + ".up.log")
            shutil.rmtree(self.dir, ignore_errors=True)


class Warden:
    def __init__(self, lab):
        self.dir = tempfile.mkdtemp(prefix="warden-nova-")
        e = lab.env
        # Masakari's keys for Nova access, as an existing masakari.conf has them.
        conf = f"""[DEFAULT]
os_privileged_user_name = {e['OS_USERNAME']}
os_privileged_user_password = {e['OS_PASSWORD']}
os_privileged_user_tenant = {e['OS_PROJECT_NAME']}
os_privileged_user_auth_url = {e['OS_AUTH_URL']}
os_user_domain_name = Default
os_project_domain_name = Default
nova_catalog_admin_info = compute:nova:publicURL
wait_period_after_service_update = 180
duplicate_notification_detection_interval = 0
[api]
auth_strategy = noauth
listen = 127.0.0.1:0
[database]
connection = sqlite:///{self.dir}/warden.db
[compute]
driver = nova
[host_failure]
poll_interval = 0.5
evacuation_timeout = 240
"""
        open(os.path.join(self.dir, "warden.conf"), "w").write(conf)
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([WARDEN, "server", "--config",
                                      os.path.join(self.dir, "warden.conf"),
                                      "--port-file", port_file],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("warden did not start: " + self.read_log())
            time.sleep(0.05)
        self.url = "http://127.0.0.1:%s" % open(port_file).read().strip()

    def read_log(self):
        self.log.flush()
        return open(os.path.join(self.dir, "server.log")).read()

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.url + path, data=data, method=method,
                                   headers={"Content-Type": "application/json",
                                            "OpenStack-API-Version": "instance-ha 1.1"})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                text = resp.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            raise AssertionError("%s %s: %d %s" % (method, path, e.code, e.read().decode()))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# What the owner did to a server before its host failed, the status Nova then shows, and the
# status it must have on its new host (Warden leaves each instance as it was for its owner).
SETUPS = {
    "stop": ({"os-stop": None}, "SHUTOFF", "SHUTOFF"),
    "pause": ({"pause": None}, "PAUSED", "SHUTOFF"),
    "lock": ({"lock": {"locked_reason": "owner"}}, "ACTIVE", "ACTIVE"),
}


def scenario(lab, warden, seg, method, failed, reserved, count, allowed, booted, setups=()):
    log("scenario %s: %d servers on %s, reserved %s, %s" % (method, count, failed, reserved,
                                                          list(setups) or "all active"))
    warden.req("PUT", "/v1/segments/" + seg["uuid"], {"segment": {"recovery_method": method}})
    for h in warden.req("GET", "/v1/segments/%s/hosts" % seg["uuid"])["hosts"]:
        warden.req("PUT", "/v1/segments/%s/hosts/%s" % (seg["uuid"], h["uuid"]),
                   {"host": {"reserved": h["name"] in reserved, "on_maintenance": False}})
    ids = lab.boot_active(["wl-%s-%d" % (method, i) for i in range(count)], failed)
    booted += ids
    expect = {sid: "ACTIVE" for sid in ids}
    for sid, what in zip(ids, setups):
        body, before, after = SETUPS[what]
        lab.action(sid, body)
        expect[sid] = after
        lab.wait([sid], lambda sv, b=before: sv["status"] == b and not sv["OS-EXT-STS:task_state"],
                 60, what)
    owner_locked = {sid for sid, what in zip(ids, setups) if what == "lock"}
    lab.compute("kill", failed)
    t0 = time.time()
    n = warden.req("POST", "/v1/notifications", {"notification": {
        "type": "COMPUTE_HOST", "hostname": failed,
        "generated_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}})
    nid = n["notification"]["notification_uuid"]
    deadline = time.time() + 300
    while True:
        st = warden.req("GET", "/v1/notifications/" + nid)["notification"]
        if st["status"] in ("finished", "error", "failed", "ignored"):
            break
        if time.time() > deadline:
            raise AssertionError("notification still %s after 300 s" % st["status"])
        time.sleep(0.5)
    took = time.time() - t0
    assert st["status"] == "finished", json.dumps(st, indent=1)
    moves = warden.req("GET", "/v1/notifications/%s/vmoves" % nid)["vmoves"]
    by_uuid = {m["instance_uuid"]: m for m in moves}
    for sid in ids:
        sv = lab.server(sid)
        host = sv["OS-EXT-SRV-ATTR:host"]
        assert sv["status"] == expect[sid], (sid, sv["status"], expect[sid])
        assert not sv["OS-EXT-STS:task_state"], (sid, sv["OS-EXT-STS:task_state"])
        # Warden's lock is gone; the owner's stays, with the owner's reason.
        assert sv["locked"] == (sid in owner_locked), (sid, sv["locked"], sv.get("locked_reason"))
        if sid in owner_locked:
            assert sv["locked_reason"] == "owner", sv["locked_reason"]
        assert host != failed and host in allowed, (sid, host, allowed)
        ev = lab.evacuations(sid)
        assert len(ev) == 1, (sid, "evacuated %d times" % len(ev))
        m = by_uuid.get(sid)
        assert m and m["status"] == "succeeded" and m["dest_host"] == host, (sid, m)
    svc = lab.service(failed)
    assert svc["forced_down"] and svc["status"] == "disabled", svc
    log("scenario %s: %d servers recovered in %.1f s" % (method, count, took))


def main():
    if os.environ.get("OS_LAB_DIR") is None and LAB_SRC is None:
        print("nova_lab: SKIPPED: no running lab ($OS_LAB_DIR) and no openstack-lab scripts "
              "(set WARDEN_LAB_SCRIPTS to the folder with up.sh)")
        sys.exit(SKIP)
    if os.environ.get("OS_LAB_DIR") is None and os.geteuid() != 0:
        print("nova_lab: SKIPPED: starting the lab needs root")
        sys.exit(SKIP)
    lab = Lab()
    warden = None
    booted = []
    ok = False
    try:
        warden = Warden(lab)
        hosts = lab.hosts
        assert len(hosts) >= 3, hosts
        stale = [sv["id"] for sv in lab.s.get(lab.nova + "/servers/detail?all_tenants=1",
                                               headers=lab.h()).json()["servers"]
                 if sv["name"].startswith("wl-")]
        lab.delete(stale)
        for h in hosts:  # a previous run may have left one down
            lab.compute("start", h)
            svc = lab.service(h)
            if svc["forced_down"] or svc["state"] != "up" or svc["status"] != "enabled":
                log("restoring", h)
                lab.restore(h)
        seg = warden.req("POST", "/v1/segments", {"segment": {
            "name": "lab", "recovery_method": "auto", "service_type": "COMPUTE"}})["segment"]
        for h in hosts:
            warden.req("POST", "/v1/segments/%s/hosts" % seg["uuid"], {"host": {
                "name": h, "type": "COMPUTE", "control_attributes": "SSH"}})
        last = hosts[-1]
        # auto: the planner spreads over the non-reserved hosts.
        failed = hosts[0]
        scenario(lab, warden, seg, "auto", failed, {last}, 5, set(hosts) - {failed, last}, booted,
                 setups=("stop", "pause", "lock"))
        lab.restore(failed)
        # reserved_host: everything to the reserved host.
        failed = hosts[1]
        scenario(lab, warden, seg, "reserved_host", failed, {last}, 3, {last}, booted)
        reserved_after = [h for h in warden.req("GET", "/v1/segments/%s/hosts" % seg["uuid"])["hosts"]
                          if h["name"] == last][0]["reserved"]
        assert reserved_after is False, "a used reserved host stays reserved"
        lab.restore(failed)
        # rh_priority: the reserved host first.
        failed = hosts[0]
        scenario(lab, warden, seg, "rh_priority", failed, {hosts[1]}, 3, {hosts[1]}, booted)
        lab.restore(failed)
        metrics = {}
        for line in urllib.request.urlopen(warden.url + "/metrics", timeout=10).read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                metrics[k] = float(v)
        log("nova requests %d, operations %d, tokens %d, evacuations %d" % (
            metrics["warden_nova_http_requests_total"], metrics["warden_nova_operations_total"],
            metrics["warden_keystone_tokens_issued_total"],
            metrics["warden_evacuations_succeeded_total"]))
        assert metrics["warden_keystone_tokens_issued_total"] == 1, "one token for the whole run"
        assert metrics["warden_evacuations_succeeded_total"] >= 11, metrics  # + leftovers on the hosts
        assert metrics["warden_evacuations_failed_total"] == 0, "failed moves"
        ok = True
    finally:
        if not ok and warden:
            print(warden.read_log()[-6000:])
        lab.delete(booted)
        if warden:
            warden.stop()
            # Its log was printed above if the run failed.
            shutil.rmtree(warden.dir, ignore_errors=True)
        if "--keep-lab" not in sys.argv:
            lab.stop()
    log("PASS")


if __name__ == "__main__":
    main()
