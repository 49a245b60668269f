#!/usr/bin/python3
"""The real OpenStack clients from Debian against `warden server`.

Starts warden (token auth, then noauth) on 127.0.0.1 port 0 with a fresh SQLite file, drives
`openstack segment|notification ...` (python-masakariclient's plugin) and openstacksdk's
instance_ha proxy, and asserts on what they print and return.

Usage: openstack_clients_test.py PATH/TO/warden
Runs with Debian's /usr/bin/python3, which has openstacksdk.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from harness import Tally, expect, field  # noqa: E402

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
OPENSTACK = shutil.which("openstack") or "/usr/bin/openstack"


class Server:
    """A warden server in a temporary directory; stopped by stop()."""

    def __init__(self, auth_strategy):
        self.dir = tempfile.mkdtemp(prefix="warden-osc-")
        self.token = None
        conf = ["[api]", "listen = 127.0.0.1:0", "auth_strategy = " + auth_strategy]
        if auth_strategy == "token":
            out = subprocess.run([WARDEN, "token", "create", "--name", "osc", "--role", "admin",
                                  "--file", os.path.join(self.dir, "tokens")],
                                 check=True, capture_output=True, text=True).stdout
            self.token = out.split("token: ")[1].split()[0]
            conf.append("token_file = " + os.path.join(self.dir, "tokens"))
        conf += ["[database]", "connection = sqlite:///" + os.path.join(self.dir, "w.db")]
        with open(os.path.join(self.dir, "warden.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [WARDEN, "server", "--config", os.path.join(self.dir, "warden.conf"),
             "--port-file", port_file], stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("warden did not start: " + self.read_log())
            time.sleep(0.02)
        self.port = int(open(port_file).read())
        self.endpoint = "http://127.0.0.1:%d/v1" % self.port

    def read_log(self):
        self.log.flush()
        return open(os.path.join(self.dir, "server.log")).read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("OS_"):
                del env[k]
        env["OS_ENDPOINT"] = self.endpoint
        if self.token:
            env["OS_AUTH_TYPE"] = "admin_token"
            env["OS_TOKEN"] = self.token
        else:
            env["OS_AUTH_TYPE"] = "none"
        return env


def osc(server, *args, ok=True):
    """Runs `openstack ARGS`; returns (exit code, stdout, stderr)."""
    p = subprocess.run([OPENSTACK] + list(args), env=server.env(), capture_output=True,
                       text=True, timeout=60)
    if ok and p.returncode != 0:
        raise AssertionError("openstack %s failed (%d): %s %s" %
                             (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def osc_json(server, *args):
    return json.loads(osc(server, *args, "-f", "json")[1])


def test_segments_hosts_notifications_with_token(server):
    seg = osc_json(server, "segment", "create", "seg1", "auto", "COMPUTE",
                   "--description", "rack one")
    expect(field(seg, "name") == "seg1", seg)
    expect(field(seg, "recovery_method") == "auto", seg)
    seg_id = field(seg, "uuid")

    rows = osc_json(server, "segment", "list")
    expect([field(r, "name") for r in rows] == ["seg1"], rows)
    # The table form prints the segment too.
    table = osc(server, "segment", "list")[1]
    expect("seg1" in table and seg_id in table, table)

    shown = osc_json(server, "segment", "show", seg_id)
    expect(field(shown, "description") == "rack one", shown)
    by_name = osc_json(server, "segment", "show", "seg1")
    expect(field(by_name, "uuid") == seg_id, by_name)

    updated = osc_json(server, "segment", "update", seg_id, "--description", "rack two",
                       "--recovery_method", "reserved_host")
    expect(field(updated, "description") == "rack two", updated)
    expect(field(updated, "recovery_method") == "reserved_host", updated)

    host = osc_json(server, "segment", "host", "create", "compute1", "COMPUTE", "SSH", seg_id)
    expect(field(host, "name") == "compute1", host)
    expect(field(host, "failover_segment_id") == seg_id, host)
    osc_json(server, "segment", "host", "create", "compute2", "COMPUTE", "SSH", seg_id,
             "--reserved", "True")
    hosts = osc_json(server, "segment", "host", "list", seg_id)
    expect(sorted(field(h, "name") for h in hosts) == ["compute1", "compute2"], hosts)
    reserved = [field(h, "name") for h in hosts if field(h, "reserved") in (True, "True")]
    expect(reserved == ["compute2"], hosts)

    note = osc_json(server, "notification", "create", "COMPUTE_HOST", "compute1",
                    "2026-11-22T10:00:00", '{"event": "STOPPED", "host_status": "NORMAL"}')
    expect(field(note, "status") == "new", note)
    expect(field(note, "type") == "COMPUTE_HOST", note)
    note_id = field(note, "notification_uuid")

    # The client itself only offers COMPUTE_HOST|VM|PROCESS; the alias is for filters and curl.
    vm = osc_json(server, "notification", "create", "VM", "compute1",
                  "2026-11-22T10:00:01",
                  '{"event": "LIFECYCLE", "vir_domain_event": "STOPPED_FAILED", '
                  '"instance_uuid": "2b1f6b3e-8d4c-4f7a-9b55-0d6e3c1a2f11"}')
    expect(field(vm, "type") == "VM", vm)

    listed = osc_json(server, "notification", "list")
    expect(len(listed) == 2, listed)
    new_only = osc_json(server, "notification", "list", "--filters", "status=new")
    expect(len(new_only) == 2, new_only)
    vms = osc_json(server, "notification", "list", "--filters", "type=COMPUTE_INSTANCE")
    expect([field(n, "notification_uuid") for n in vms] == [field(vm, "notification_uuid")], vms)

    shown = osc_json(server, "notification", "show", note_id)
    expect(field(shown, "notification_uuid") == note_id, shown)
    expect(field(shown, "source_host_uuid") == field(host, "uuid"), shown)

    # A duplicate is refused with the server's message.
    rc, out, err = osc(server, "notification", "create", "COMPUTE_HOST", "compute1",
                       "2026-11-22T10:00:30", '{"event": "STOPPED", "host_status": "NORMAL"}',
                       ok=False)
    expect(rc != 0 and "is duplicate" in (out + err), (rc, out, err))

    # The segment is in use by a new notification: update and delete are refused.
    rc, out, err = osc(server, "segment", "update", seg_id, "--description", "x", ok=False)
    expect("in-use" in (out + err), (rc, out, err))

    other = osc_json(server, "segment", "create", "seg2", "rh_priority", "COMPUTE")
    osc(server, "segment", "delete", field(other, "uuid"))
    names = [field(r, "name") for r in osc_json(server, "segment", "list")]
    expect(names == ["seg1"], names)


def test_pagination_through_the_client(server):
    seg = osc_json(server, "segment", "create", "paged", "auto", "COMPUTE")
    for i in range(5):
        osc_json(server, "segment", "host", "create", "p%d" % i, "COMPUTE", "SSH",
                 field(seg, "uuid"))
    # --limit is the page size: the client follows integer markers to the end.
    hosts = osc_json(server, "segment", "host", "list", field(seg, "uuid"), "--limit", "2")
    expect(sorted(field(h, "name") for h in hosts) == ["p0", "p1", "p2", "p3", "p4"], hosts)


def test_bad_input_is_reported(server):
    rc, out, err = osc(server, "segment", "create", "bad", "fastest", "COMPUTE", ok=False)
    expect(rc != 0 and "recovery_method" in (out + err), (rc, out, err))
    rc, out, err = osc(server, "notification", "create", "COMPUTE_HOST", "ghost",
                       "2026-11-22T10:00:00", '{"event": "STOPPED"}', ok=False)
    expect(rc != 0 and "Host with name ghost could not be found" in (out + err), (rc, out, err))


def test_openstacksdk_instance_ha(server):
    script = r'''
import json, sys, openstack
conn = openstack.connect(auth_type="admin_token",
                         auth={"endpoint": sys.argv[1], "token": sys.argv[2]},
                         instance_ha_endpoint_override=sys.argv[1])
seg = conn.instance_ha.create_segment(name="sdk-seg", recovery_method="auto",
                                      service_type="COMPUTE")
host = conn.instance_ha.create_host(seg.uuid, name="sdk-host", type="COMPUTE",
                                    control_attributes="SSH")
n = conn.instance_ha.create_notification(type="PROCESS", hostname="sdk-host",
                                         generated_time="2026-11-22T10:00:00",
                                         payload={"event": "STOPPED",
                                                  "process_name": "nova-compute"})
out = {"segments": [s.name for s in conn.instance_ha.segments()],
       "hosts": [h.name for h in conn.instance_ha.hosts(seg.uuid)],
       "status": n.status,
       "shown": conn.instance_ha.get_notification(n.notification_uuid).notification_uuid
                == n.notification_uuid}
print(json.dumps(out))
'''
    p = subprocess.run(["/usr/bin/python3", "-c", script, server.endpoint, server.token],
                       capture_output=True, text=True, timeout=60)
    expect(p.returncode == 0, p.stdout + p.stderr)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    expect("sdk-seg" in out["segments"], out)
    expect(out["hosts"] == ["sdk-host"], out)
    expect(out["status"] == "new", out)
    expect(out["shown"] is True, out)


def test_wrong_token_is_refused(server):
    env = server.env()
    env["OS_TOKEN"] = "wdn_not-a-real-token"
    p = subprocess.run([OPENSTACK, "segment", "list"], env=env, capture_output=True, text=True,
                       timeout=60)
    expect(p.returncode != 0 and "401" in (p.stdout + p.stderr), p.stdout + p.stderr)
    expect(server.token not in server.read_log(), "token leaked into the log")


def test_noauth_mode(server):
    seg = osc_json(server, "segment", "create", "open", "auto", "COMPUTE")
    expect(field(seg, "name") == "open", seg)
    expect([field(r, "name") for r in osc_json(server, "segment", "list")] == ["open"], seg)


def main():
    # The clients read OS_* variables (an operator's or the OpenStack lab's credentials) and
    # merge them into what each test passes: every test states its own.
    for k in [k for k in os.environ if k.startswith("OS_")]:
        del os.environ[k]
    tally = Tally()
    plans = [("token", [test_segments_hosts_notifications_with_token,
                        test_pagination_through_the_client, test_bad_input_is_reported,
                        test_openstacksdk_instance_ha, test_wrong_token_is_refused]),
             ("noauth", [test_noauth_mode])]
    for auth, tests in plans:
        server = Server(auth)
        try:
            for t in tests:
                tally.run(t, server,
                          on_failure=lambda: "--- server log ---\n" + server.read_log()[-3000:])
        finally:
            server.stop()
    return tally.exit_code()


if __name__ == "__main__":
    sys.exit(main())
