#!/usr/bin/env python3
"""Process failure, restarted through the host's agent: a real `warden server` (sim cloud)
and a real `warden agent`, both started here.

The sim's hosts are named 127.0.0.1 and 127.0.0.2 so that `agent_url = http://{host}:PORT`
reaches an agent on loopback. The "nova-compute" the agent manages is a real process (a
sleep with a pid file): killed, reported as a PROCESS notification, restarted by the agent
at the engine's request, and found running again. Host 127.0.0.2 has an agent that refuses
Warden's token, and a third notification names a process no agent manages: both fall back
to Masakari's recovery (the compute service is disabled) with the reason recorded.

Usage: agent_process_test.py PATH/TO/warden
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from harness import expect, write_file  # noqa: E402
from keystone import free_port, stop_group  # noqa: E402

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
TMP = tempfile.mkdtemp(prefix="warden-agent-")


def write(name, text):
    return write_file(TMP, name, text)


def new_token(name, path):
    p = subprocess.run([WARDEN, "token", "create", "--name", name, "--file", path],
                       capture_output=True, text=True, check=True)
    for line in p.stdout.splitlines():
        if line.startswith("token:"):
            return line.split()[1]
    raise AssertionError("no token in: " + p.stdout)


def call(url, method="GET", token=None, body=None):
    req = urllib.request.Request(url, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("OpenStack-API-Version", "instance-ha 1.1")  # with recovery_workflow_details
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start(args, log_name, port_file):
    log = open(os.path.join(TMP, log_name), "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    proc = subprocess.Popen([WARDEN] + args + ["--port-file", port_file], stdout=log,
                            stderr=log, start_new_session=True, env=env)
    deadline = time.time() + 20
    while time.time() < deadline:
        if os.path.exists(port_file):
            return proc, int(open(port_file).read())
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("%s did not start: %s" % (args[0], open(log.name).read()))


def pid_alive(pid):
    """Running: not gone, and not a zombie that nobody has reaped yet."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def read_pid(path):
    try:
        return int(open(path).read().strip())
    except (OSError, ValueError):
        return None


def main():
    procs = []
    pidfile = os.path.join(TMP, "nova-compute.pid")
    try:
        agent_port = free_port()
        # The agents: on 127.0.0.1 the one that restarts; on 127.0.0.2 one whose tokens do
        # not include Warden's.
        server_token_for_agents = new_token("warden-server", os.path.join(TMP, "agent-tokens"))
        new_token("someone-else", os.path.join(TMP, "other-agent-tokens"))
        write("agent-token", server_token_for_agents + "\n")
        # A daemon: started in the background, its pid written, its output detached.
        restart = ("setsid sh -c 'echo $$ > %s; exec sleep 600' >/dev/null 2>&1 < /dev/null &"
                   % pidfile)
        # Running, and not a zombie nobody reaped yet.
        check = ('s=$(ps -o stat= -p "$(cat %s)") && [ -n "$s" ] && [ "${s#Z}" = "$s" ]'
                 % pidfile)
        for addr, tokens in (("127.0.0.1", "agent-tokens"), ("127.0.0.2", "other-agent-tokens")):
            conf = write("agent-%s.conf" % addr, """
[agent]
listen = %s:%d
host = %s
token_file = %s

[process:nova-compute]
restart_command = %s
check_command = %s
timeout = 20s
check_interval = 100ms

[process:slow-agentd]
restart_command = sleep 4
timeout = 20s
""" % (addr, agent_port, addr, os.path.join(TMP, tokens), restart, check))
            check_out = subprocess.run([WARDEN, "agent", "--config", conf, "--check-config"],
                                       capture_output=True, text=True)
            expect(check_out.returncode == 0 and "configuration OK" in check_out.stdout,
                   check_out.stdout + check_out.stderr)
            proc, _ = start(["agent", "--config", conf], "agent-%s.log" % addr,
                            os.path.join(TMP, "agent-%s.port" % addr))
            procs.append(proc)

        admin = new_token("admin", os.path.join(TMP, "tokens"))
        conf = write("warden.conf", """
[api]
listen = 127.0.0.1:0
token_file = %s
[database]
connection = sqlite:///%s/warden.db
[compute]
driver = sim
[sim]
hosts = 2
instances = 0
host_prefix = 127.0.0.
api_latency = fixed:1ms
[process_failure]
restart_through_agent = true
agent_url = http://{host}:%d
agent_token_file = %s
agent_restart_timeout = 30
""" % (os.path.join(TMP, "tokens"), TMP, agent_port, os.path.join(TMP, "agent-token")))
        server, port = start(["server", "--config", conf], "server.log",
                             os.path.join(TMP, "server.port"))
        procs.append(server)
        url = "http://127.0.0.1:%d" % port

        status, seg = call(url + "/v1/segments", "POST", admin,
                           {"segment": {"name": "rack", "recovery_method": "auto",
                                        "service_type": "COMPUTE"}})
        expect(status in (200, 201), (status, seg))
        for h in ("127.0.0.1", "127.0.0.2"):
            status, body = call(url + "/v1/segments/%s/hosts" % seg["segment"]["uuid"], "POST",
                                admin, {"host": {"name": h, "type": "COMPUTE",
                                                 "control_attributes": "SSH"}})
            expect(status in (200, 201), (status, body))

        def notify(host, process, minute):
            status, body = call(url + "/v1/notifications", "POST", admin, {"notification": {
                "type": "PROCESS", "hostname": host,
                "generated_time": "2026-11-22T1%d:00:00" % minute,  # hours apart: no duplicates
                "payload": {"event": "STOPPED", "process_name": process}}})
            expect(status == 202, (status, body))
            return body["notification"]["notification_uuid"]

        def finished(uuid):
            deadline = time.time() + 60
            while time.time() < deadline:
                status, body = call(url + "/v1/notifications/" + uuid, token=admin,
                                    method="GET")
                n = body["notification"]
                if n["status"] in ("finished", "error", "failed", "ignored"):
                    return n
                time.sleep(0.2)
            raise AssertionError("notification %s did not end: %s" % (uuid, n))

        def details(n):
            return json.dumps(n.get("recovery_workflow_details", []))

        # 1. The agent restarts the process: a new one runs, the service stays enabled.
        expect(read_pid(pidfile) is None, "no nova-compute before the test")
        first = finished(notify("127.0.0.1", "nova-compute", 1))
        expect(first["status"] == "finished", first)
        pid = read_pid(pidfile)
        expect(pid is not None and pid_alive(pid), "the agent did not start nova-compute")
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        expect(not pid_alive(pid), "nova-compute still runs after SIGKILL")
        again = finished(notify("127.0.0.1", "nova-compute", 2))
        expect(again["status"] == "finished", again)
        new_pid = read_pid(pidfile)
        expect(new_pid is not None and new_pid != pid and pid_alive(new_pid),
               "nova-compute was not restarted (%s, %s)" % (pid, new_pid))
        expect("restarted on 127.0.0.1 by its agent and confirmed running" in details(again),
               details(again))
        expect("disabled" not in details(again), "the service was disabled: " + details(again))
        status, info = call("http://127.0.0.1:%d/v1/agent" % agent_port,
                            token=server_token_for_agents)
        expect(status == 200 and info["agent"]["processes"][0]["last_restart"]["ok"], info)
        agent_log = open(os.path.join(TMP, "agent-127.0.0.1.log")).read()
        expect(again["notification_uuid"] in agent_log, "the agent's log lacks the notification")
        expect(server_token_for_agents not in agent_log + open(os.path.join(TMP, "server.log")).read(),
               "a token reached a log")

        # 2. The agent of 127.0.0.2 refuses Warden's token: Masakari's recovery instead.
        refused = finished(notify("127.0.0.2", "nova-compute", 3))
        expect(refused["status"] == "finished", refused)
        expect("refused Warden's token" in details(refused), details(refused))
        expect("Compute service of 127.0.0.2 disabled" in details(refused), details(refused))

        # 3. A process the agent does not manage: its 404 is recorded, the flow goes on.
        unknown = finished(notify("127.0.0.1", "libvirtd", 4))
        expect(unknown["status"] == "finished", unknown)
        expect("libvirtd is not configured on 127.0.0.1" in details(unknown), details(unknown))

        # 4. A restart already under way when Warden asks (Warden restarted meanwhile, or a
        #    second notification): the agent's 409 is not a failure, its outcome is awaited.
        agent_url = "http://127.0.0.1:%d" % agent_port
        direct = threading.Thread(target=call, args=(
            agent_url + "/v1/agent/processes/slow-agentd/restart", "POST",
            server_token_for_agents, {"timeout_seconds": 10}))
        direct.start()
        deadline = time.time() + 10
        while time.time() < deadline:
            _, info = call(agent_url + "/v1/agent", token=server_token_for_agents)
            slow = [p for p in info["agent"]["processes"] if p["name"] == "slow-agentd"][0]
            if slow["restarting"]:
                break
            time.sleep(0.05)
        expect(slow["restarting"], "the direct restart did not start: %s" % info)
        awaited = finished(notify("127.0.0.1", "slow-agentd", 5))
        direct.join()
        expect(awaited["status"] == "finished", awaited)
        expect("by its agent (a restart already under way)" in details(awaited), details(awaited))
        expect("disabled" not in details(awaited), "the service was disabled: " + details(awaited))

        # 5. A bad agent setting stops the server naming the key.
        bad = write("bad.conf", open(conf).read().replace("agent_url = http://{host}",
                                                          "agent_url = http://compute"))
        p = subprocess.run([WARDEN, "server", "--config", bad, "--check-config"],
                           capture_output=True, text=True)
        expect(p.returncode != 0 and "[process_failure] agent_url" in p.stderr,
               (p.returncode, p.stderr))
        print("PASS")
        return 0
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        for name in sorted(os.listdir(TMP)):
            if name.endswith(".log"):
                print("--- %s ---\n%s" % (name, open(os.path.join(TMP, name)).read()[-3000:]))
        return 1
    finally:
        for p in procs:
            stop_group(p)
        pid = read_pid(pidfile)
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
