#!/usr/bin/python3
"""Debian's masakari-processmonitor, masakari-instancemonitor and masakari-hostmonitor,
unchanged, report to `warden server` through Keystone.

Starts Keystone (tests/fixtures/keystone.py) whose `instance-ha` catalog entry points at
Warden, Warden with `[api] auth_strategy = keystone`, registers this machine's hostname as a
host, starts a dummy `nova-compute` process, and runs the real process monitor with its own
configuration (its `[api]` section names only Keystone: it finds Warden in the catalog, as it
finds Masakari). The test then kills the dummy; the monitor's restart command fails, so it
posts a PROCESS notification through openstacksdk, which the test reads back from Warden.

Then the instance monitor: a private libvirtd (Debian's, started by the test as an unprivileged
user with its own socket) serves libvirt's test driver; the monitor subscribes to its domain
events as it does to QEMU's, the test destroys the test driver's domain with virsh, and the
monitor posts a VM notification (LIFECYCLE, STOPPED_DESTROYED, the domain's UUID) that the test
reads back from Warden. `scripts/install-deps test` installs libvirtd and the monitors, so a
missing one, or a libvirtd that does not start, fails the test.

Then the host monitor. It reads the cluster's node states from Pacemaker (`cibadmin --query`,
through its privsep helper) — no Pacemaker/Corosync cluster can run here, so a stand-in
`cibadmin` on its PATH prints a CIB whose node states the test sets (the monitor runs in
`pacemaker_node_type = remote` mode, which skips the corosync heartbeat sniffing, and with
`disable_ipmi_check`). The test takes a node offline and reads back the monitor's COMPUTE_HOST
notification (STOPPED, OFFLINE, NORMAL) from Warden.

Usage: masakari_monitors_test.py PATH/TO/warden
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from keystone import Keystone, free_port, stop_group  # noqa: E402

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
PROCESS_MONITOR = "/usr/bin/masakari-processmonitor"
HOST_MONITOR = "/usr/bin/masakari-hostmonitor"
INSTANCE_MONITOR = "/usr/bin/masakari-instancemonitor"
LIBVIRTD = "/usr/sbin/libvirtd"


def log_has(path, text):
    try:
        return text in open(path).read()
    except OSError:
        return False


def notifications_of(url, admin, query=""):
    """Warden's notifications (filtered by `query`), or None while there are none."""
    status, body = call(url, "GET", "/v1/notifications" + query, admin)
    return body["notifications"] if status == 200 and body["notifications"] else None


def call(url, method, path, token, body=None):
    h = {"X-Auth-Token": token}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_for(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))


def api_section(ks):
    """The monitors' [api] section: Keystone only; Warden is found in the catalog."""
    return f"""[api]
auth_url = {ks.url}
auth_type = password
username = admin
password = {ks.PASSWORD}
project_name = admin
user_domain_name = Default
project_domain_name = Default
region = {ks.REGION}
api_interface = public
"""


def as_unprivileged(cmd, home):
    """libvirtd as root wants the system's QEMU setup (its users, /dev/kvm); as a plain user it
    runs a private session daemon. Under root, run it (and its clients) as nobody."""
    env = ["env", "-i", "PATH=/usr/bin:/bin:/usr/sbin", "HOME=" + home,
           "XDG_RUNTIME_DIR=%s/run" % home, "XDG_CONFIG_HOME=%s/cfg" % home,
           "XDG_CACHE_HOME=%s/cache" % home]
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + env + cmd
    return env + cmd


def instance_monitor(ks, url, admin, hostname, host_uuid, procs):
    """The instance monitor reports a destroyed domain to Warden."""
    for exe in (LIBVIRTD, INSTANCE_MONITOR, "/usr/bin/virsh"):
        assert os.path.exists(exe), "%s is not installed (scripts/install-deps test)" % exe
    home = tempfile.mkdtemp(prefix="warden-libvirt-")
    procs["home"] = home
    for sub in ("run", "cfg", "cache"):
        os.makedirs(os.path.join(home, sub))
    with open(os.path.join(home, "libvirtd.conf"), "w") as f:
        f.write('unix_sock_dir = "%s/run"\nauth_unix_ro = "none"\nauth_unix_rw = "none"\n' % home)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "nobody:nogroup", home], check=True)
    sock = os.path.join(home, "run", "libvirt-sock")
    uri = "test+unix:///default?socket=" + sock
    lvlog = open(os.path.join(home, "libvirtd.log"), "w")
    procs["libvirtd"] = subprocess.Popen(
        as_unprivileged([LIBVIRTD, "--config", os.path.join(home, "libvirtd.conf")], home),
        stdout=lvlog, stderr=lvlog, stdin=subprocess.DEVNULL, start_new_session=True, cwd=home)
    try:
        wait_for("libvirtd's socket", lambda: os.path.exists(sock) or
                 procs["libvirtd"].poll() is not None, 30)
    except AssertionError:
        pass
    assert os.path.exists(sock), "libvirtd did not start (its log follows)"
    virsh = as_unprivileged(["virsh", "-c", uri], home)
    domain = subprocess.run(virsh + ["domuuid", "test"], check=True, capture_output=True,
                            text=True).stdout.strip()

    mconf = os.path.join(home, "instancemonitor.conf")
    mlog = os.path.join(home, "instancemonitor.log")
    with open(mconf, "w") as f:
        f.write(f"""[DEFAULT]
debug = true
log_file = {mlog}
{api_section(ks)}api_retry_max = 3
api_retry_interval = 1
[libvirt]
connection_uri = {uri}
[callback]
retry_max = 3
retry_interval = 1
""")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "nobody:nogroup", home], check=True)
    out = open(os.path.join(home, "instancemonitor.out"), "w")
    procs["monitor"] = subprocess.Popen(
        as_unprivileged([INSTANCE_MONITOR, "--config-file", mconf], home),
        stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True, cwd=home)


    # The monitor logs the URI when it connects; give its event registration a moment more.
    wait_for("the instance monitor to connect", lambda: log_has(mlog, "Using uri") or
             procs["monitor"].poll() is not None, 45)
    assert procs["monitor"].poll() is None, "the instance monitor exited"
    time.sleep(2)
    subprocess.run(virsh + ["destroy", "test"], check=True, capture_output=True)

    found = wait_for("the instance monitor's notification in Warden",
                     lambda: notifications_of(url, admin, "?type=VM"), 60)
    assert len(found) == 1, found
    n = found[0]
    assert n["type"] == "VM", n
    assert n["source_host_uuid"] == host_uuid, n
    assert n["payload"] == {"event": "LIFECYCLE", "instance_uuid": domain,
                            "vir_domain_event": "STOPPED_DESTROYED"}, n
    print("PASS instance monitor → Warden: %s %s %s" % (n["type"], hostname, n["payload"]),
          flush=True)


# Pacemaker's `cibadmin --query`, for the host monitor: the CIB with one node_state per file of
# $WARDEN_CIB_DIR (the file's content is the node's crmd state, online or offline).
CIBADMIN = """#!/bin/sh
printf '<cib have-quorum="1"><configuration/><status>'
for f in "$WARDEN_CIB_DIR"/*; do
  printf '<node_state uname="%s" crmd="%s"/>' "$(basename "$f")" "$(cat "$f")"
done
printf '</status></cib>\\n'
"""


def host_monitor(dir, ks, url, admin, segment_uuid, procs):
    """The host monitor reports a cluster node that went offline."""
    assert os.path.exists(HOST_MONITOR), "%s is not installed (scripts/install-deps test)" % (
        HOST_MONITOR)
    failed_node = "compute-hm"
    status, host = call(url, "POST", "/v1/segments/%s/hosts" % segment_uuid, admin,
                        {"host": {"name": failed_node, "type": "COMPUTE",
                                  "control_attributes": "SSH"}})
    assert status == 201, (status, host)
    bin_dir = os.path.join(dir, "hm-bin")
    cib_dir = os.path.join(dir, "cib")
    os.makedirs(bin_dir)
    os.makedirs(cib_dir)
    with open(os.path.join(bin_dir, "cibadmin"), "w") as f:
        f.write(CIBADMIN)
    os.chmod(os.path.join(bin_dir, "cibadmin"), 0o755)
    for node in (failed_node, "compute-other"):
        with open(os.path.join(cib_dir, node), "w") as f:
            f.write("online")
    mconf = os.path.join(dir, "hostmonitor.conf")
    mlog = os.path.join(dir, "hostmonitor.log")
    with open(mconf, "w") as f:
        f.write(f"""[DEFAULT]
debug = true
log_file = {mlog}
{api_section(ks)}[host]
monitoring_driver = default
monitoring_interval = 1
monitoring_samples = 1
pacemaker_node_type = remote
restrict_to_remotes = False
disable_ipmi_check = True
api_retry_max = 3
api_retry_interval = 1
[masakarimonitors_privileged]
helper_command = privsep-helper --config-file {mconf} --privsep_context masakarimonitors.privsep.monitors_priv
""")
    out = open(os.path.join(dir, "hostmonitor.out"), "w")
    env = dict(os.environ, PATH=bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
               WARDEN_CIB_DIR=cib_dir)
    procs["hostmonitor"] = subprocess.Popen(
        [HOST_MONITOR, "--config-file", mconf], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=dir, env=env)


    wait_for("the host monitor to see the cluster",
             lambda: log_has(mlog, "'%s' is 'online'" % failed_node) or
             procs["hostmonitor"].poll() is not None, 60)
    assert procs["hostmonitor"].poll() is None, "the host monitor exited"
    with open(os.path.join(cib_dir, failed_node), "w") as f:
        f.write("offline")

    found = wait_for("the host monitor's notification in Warden",
                     lambda: notifications_of(url, admin, "?type=COMPUTE_HOST"), 60)
    assert len(found) == 1, found
    n = found[0]
    assert n["source_host_uuid"] == host["host"]["uuid"], (n, host)
    assert n["payload"] == {"event": "STOPPED", "cluster_status": "OFFLINE",
                            "host_status": "NORMAL"}, n
    print("PASS host monitor → Warden: %s %s %s" % (n["type"], failed_node, n["payload"]),
          flush=True)


def main():
    t0 = time.time()
    dir = tempfile.mkdtemp(prefix="warden-monitors-")
    ks = warden = dummy = monitor = None
    failed = passed = 0
    lv = {}  # the instance monitor's processes and directory
    try:
        port = free_port()
        ks = Keystone().start(instance_ha_url="http://127.0.0.1:%d/v1/%%(tenant_id)s" % port)
        print("keystone up in %.1fs" % ks.startup_seconds, flush=True)

        # Warden, validating tokens with Keystone.
        conf = os.path.join(dir, "warden.conf")
        with open(conf, "w") as f:
            f.write("[api]\nlisten = 127.0.0.1:%d\nauth_strategy = keystone\n"
                    "[database]\nconnection = sqlite:///%s/w.db\n" % (port, dir))
            f.write(ks.authtoken_section())
        warden_log = open(os.path.join(dir, "warden.log"), "w")
        port_file = os.path.join(dir, "port")
        warden = subprocess.Popen([WARDEN, "server", "--config", conf, "--port-file", port_file],
                                  stdout=warden_log, stderr=warden_log, start_new_session=True)
        wait_for("warden to listen", lambda: os.path.exists(port_file) or warden.poll(), 15)
        url = "http://127.0.0.1:%d" % port

        # This machine is a compute host of a segment, as the monitor will name it.
        admin = ks.token("admin")
        hostname = socket.gethostname()
        status, seg = call(url, "POST", "/v1/segments", admin, {"segment": {
            "name": "monitored", "recovery_method": "auto", "service_type": "COMPUTE"}})
        assert status == 201, (status, seg)
        status, host = call(url, "POST", "/v1/segments/%s/hosts" % seg["segment"]["uuid"], admin,
                            {"host": {"name": hostname, "type": "COMPUTE",
                                      "control_attributes": "SSH"}})
        assert status == 201, (status, host)

        # A dummy nova-compute: a copy of sleep, so `ps -ef` shows its unique path.
        bin_dir = os.path.join(dir, "bin")
        os.makedirs(bin_dir)
        fake = os.path.join(bin_dir, "nova-compute")
        shutil.copy("/bin/sleep", fake)
        dummy = subprocess.Popen([fake, "600"], start_new_session=True)

        # The monitor's own configuration: Keystone only; Warden is found in the catalog.
        plist = os.path.join(dir, "process_list.yaml")
        with open(plist, "w") as f:
            f.write("-\n    process_name: %s\n    start_command: /bin/true\n"
                    "    pre_start_command:\n    post_start_command:\n"
                    "    restart_command: /bin/false\n    pre_restart_command:\n"
                    "    post_restart_command:\n    run_as_root: False\n" % fake)
        mconf = os.path.join(dir, "masakarimonitors.conf")
        mlog = os.path.join(dir, "processmonitor.log")
        with open(mconf, "w") as f:
            f.write(f"""[DEFAULT]
debug = true
log_file = {mlog}
{api_section(ks)}[process]
check_interval = 1
restart_retries = 1
restart_interval = 1
api_retry_max = 3
api_retry_interval = 1
process_list_path = {plist}
""")
        out = open(os.path.join(dir, "processmonitor.out"), "w")
        monitor = subprocess.Popen([PROCESS_MONITOR, "--config-file", mconf],
                                   stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=dir)


        wait_for("the monitor to watch the dummy",
                 lambda: log_has(mlog, "Process '%s' is found" % fake) or monitor.poll() is not None,
                 45)
        assert monitor.poll() is None, "the process monitor exited"
        dummy.kill()
        dummy.wait(timeout=10)

        found = wait_for("the monitor's notification in Warden",
                         lambda: notifications_of(url, admin), 60)
        assert len(found) == 1, found
        n = found[0]
        assert n["type"] == "PROCESS", n
        assert n["source_host_uuid"] == host["host"]["uuid"], (n, host)
        assert n["payload"] == {"event": "STOPPED", "process_name": "nova-compute"}, n
        assert n["status"] in ("new", "running", "finished", "ignored", "error"), n
        wait_for("the monitor to log Warden's answer", lambda: log_has(mlog, "Response: "), 10)
        # It reached Warden through the catalog URL, with a token Warden validated.
        # (Warden flushes its log every second.)
        post = wait_for("the POST in Warden's log", lambda: [
            l for l in open(os.path.join(dir, "warden.log")).read().splitlines()
            if "method=POST route=/v1/notifications " in l], 10)
        assert len(post) == 1 and "status=202" in post[0] and "user=admin" in post[0], post
        assert "path=/v1/%s/notifications" % ks.ids["project:admin"] in post[0], post
        wlog = open(os.path.join(dir, "warden.log")).read()
        assert ks.PASSWORD not in wlog
        print("PASS process monitor → Warden: %s %s %s (%.1fs)" % (
            n["type"], hostname, n["payload"], time.time() - t0), flush=True)
        passed += 1
        stop_group(monitor)
        monitor = None
        try:
            instance_monitor(ks, url, admin, hostname, host["host"]["uuid"], lv)
            passed += 1
        except Exception:
            failed += 1
            print("FAIL instance monitor\n" + traceback.format_exc(), flush=True)
            for name in ("instancemonitor.log", "instancemonitor.out", "libvirtd.log"):
                try:
                    print("--- %s ---\n%s" % (name, open(os.path.join(lv["home"], name)).read()[-4000:]))
                except (OSError, KeyError):
                    pass
        try:
            host_monitor(dir, ks, url, admin, seg["segment"]["uuid"], lv)
            passed += 1
        except Exception:
            failed += 1
            print("FAIL host monitor\n" + traceback.format_exc(), flush=True)
            for name in ("hostmonitor.log", "hostmonitor.out"):
                try:
                    print("--- %s ---\n%s" % (name, open(os.path.join(dir, name)).read()[-4000:]))
                except OSError:
                    pass
    except Exception:
        failed += 1
        print("FAIL process monitor\n" + traceback.format_exc(), flush=True)
        for name in ("processmonitor.log", "processmonitor.out", "warden.log"):
            try:
                print("--- %s ---\n%s" % (name, open(os.path.join(dir, name)).read()[-4000:]))
            except OSError:
                pass
        if ks is not None and ks.dir:
            print(ks.tail_logs(2000))
    finally:
        stop_group(monitor)
        stop_group(lv.get("monitor"))
        stop_group(lv.get("hostmonitor"))
        stop_group(lv.get("libvirtd"))
        stop_group(dummy)
        stop_group(warden)
        if ks is not None:
            ks.stop()
        if not os.environ.get("WARDEN_KEEP_TEST_DIRS"):
            shutil.rmtree(dir, ignore_errors=True)
            if lv.get("home"):
                shutil.rmtree(lv["home"], ignore_errors=True)
    print("total %.1fs" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(main())
