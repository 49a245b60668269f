#!/usr/bin/env python3
"""`warden` as an operator uses it: server start-up and its config errors, tokens, and the
client commands against a running server (tables, -f json, errors and exit codes).

Usage: warden_cli_test.py PATH/TO/warden
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from harness import Tally, expect, write_file  # noqa: E402

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
TMP = tempfile.mkdtemp(prefix="warden-cli-")


def run(*args, env=None, ok=True):
    p = subprocess.run([WARDEN] + list(args), capture_output=True, text=True, timeout=30,
                       env=env)
    if ok and p.returncode != 0:
        raise AssertionError("warden %s failed (%d): %s %s" % (args, p.returncode, p.stdout,
                                                               p.stderr))
    return p


def write(name, text):
    return write_file(TMP, name, text)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(extra)
    return env


def test_config_errors_stop_startup_naming_the_key():
    cases = [
        ("[api]\nlisten = 127.0.0.1:0\ntoken_file = /x\nworkres = 4\n", "[api] workres"),
        ("[api]\nlisten = 127.0.0.1:notaport\n", "[api] listen"),
        ("[api]\nlisten = api.example.org:15868\n", "[api] listen"),
        ("[api]\nauth_strategy = noauth\nlisten = 0.0.0.0:15868\n", "noauth"),
        ("[api]\nauth_strategy = token\n", "[api] token_file"),
        ("[api]\nauth_strategy = token\ntoken_file = /nonexistent/tokens\n", "token_file"),
        ("[database]\nconnection = mysql://db\n", "[database] connection"),
    ]
    for text, needle in cases:
        conf = write("bad.conf", text)
        for args in (["server", "--config", conf, "--check-config"],
                     ["server", "--config", conf]):
            p = run(*args, env=clean_env(), ok=False)
            expect(p.returncode == 2, (text, args, p.returncode, p.stderr))
            expect(needle in p.stderr, (needle, p.stderr))
    p = run("server", "--config", write("ok.conf", "[api]\nauth_strategy = noauth\n"),
            "--check-config", env=clean_env(WARDEN_API_WORKERS="0"), ok=False)
    expect(p.returncode == 2 and "WARDEN_API_WORKERS" in p.stderr, p.stderr)
    p = run("server", "--config", write("ok.conf", "[api]\nauth_strategy = noauth\n"),
            "--check-config", env=clean_env(WARDEN_API_WORKERS="3"))
    expect("[api] workers = 3" in p.stdout and "configuration OK" in p.stdout, p.stdout)


def test_an_unwritable_port_file_stops_startup_cleanly():
    # It used to end in an uncaught exception (abort) once the server was already listening.
    tokens = os.path.join(TMP, "pf-tokens")
    run("token", "create", "--name", "pf", "--file", tokens)
    conf = write("pf.conf", "[api]\nlisten = 127.0.0.1:0\ntoken_file = %s\n"
                 "[database]\nconnection = sqlite:///%s/pf.db\n" % (tokens, TMP))
    p = run("server", "--config", conf, "--port-file", os.path.join(TMP, "no-such-dir", "port"),
            env=clean_env(), ok=False)
    expect(p.returncode == 1, (p.returncode, p.stderr))
    expect("--port-file: cannot write the port file" in p.stderr and "No such file" in p.stderr,
           p.stderr)
    expect("terminate called" not in p.stderr, p.stderr)


def test_token_create_writes_a_hashed_line():
    tokens = os.path.join(TMP, "t-tokens")
    p = run("token", "create", "--name", "alice", "--role", "reader", "--file", tokens)
    token = p.stdout.split("token: ")[1].split()[0]
    line = open(tokens).read().strip()
    expect(line.endswith(" alice reader"), line)
    expect(token not in line, "the file must hold the hash, not the token")
    p = run("token", "create", "--name", "bob", "--role", "superuser", ok=False)
    expect(p.returncode != 0, p.stdout)


class Server:
    def __init__(self, reuse=None, extra="", db="w.db"):
        self.extra = extra
        self.tokens = os.path.join(TMP, "tokens")
        if reuse is None:
            out = run("token", "create", "--name", "ops", "--file", self.tokens).stdout
            self.admin = out.split("token: ")[1].split()[0]
            out = run("token", "create", "--name", "viewer", "--role", "reader",
                      "--file", self.tokens).stdout
            self.reader = out.split("token: ")[1].split()[0]
        else:
            self.admin, self.reader = reuse.admin, reuse.reader
        self.db = os.path.join(TMP, db)
        self.start()

    def start(self):
        conf = write("w.conf", "[api]\nlisten = 127.0.0.1:0\ntoken_file = %s\n[database]\n"
                     "connection = sqlite:///%s\n%s" % (self.tokens, self.db, self.extra))
        port_file = os.path.join(TMP, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        self.proc = subprocess.Popen([WARDEN, "server", "--config", conf, "--port-file", port_file],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=clean_env())
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            expect(self.proc.poll() is None and time.time() < deadline, "server did not start")
            time.sleep(0.02)
        self.url = "http://127.0.0.1:%s" % open(port_file).read().strip()

    def env(self, token=None):
        return clean_env(WARDEN_URL=self.url, WARDEN_TOKEN=token or self.admin)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        expect(code == 0, "server exit code %d after SIGTERM" % code)


def test_client_commands(server):
    env = server.env()
    p = run("segment", "create", "seg1", "--recovery-method", "auto", "--description", "r1",
            env=env)
    expect("| name            | seg1" in p.stdout, p.stdout)
    p = run("host", "create", "seg1", "compute1", env=env)
    expect("compute1" in p.stdout, p.stdout)
    run("host", "create", "seg1", "compute2", "--reserved", "true", env=env)
    hosts = json.loads(run("-f", "json", "host", "list", "seg1", env=env).stdout)
    expect(sorted(h["name"] for h in hosts) == ["compute1", "compute2"], hosts)
    reserved = json.loads(run("-f", "json", "host", "list", "seg1", "--reserved", "true",
                              env=env).stdout)
    expect([h["name"] for h in reserved] == ["compute2"], reserved)

    p = run("notification", "create", "--type", "COMPUTE_HOST", "--hostname", "compute1",
            "--payload", '{"event":"STOPPED","host_status":"NORMAL"}', env=env)
    expect("| status" in p.stdout and "new" in p.stdout, p.stdout)
    notes = json.loads(run("-f", "json", "notification", "list", "--status", "new",
                           env=env).stdout)
    expect(len(notes) == 1 and notes[0]["payload"]["event"] == "STOPPED", notes)
    nid = notes[0]["notification_uuid"]
    shown = json.loads(run("-f", "json", "notification", "show", nid, env=env).stdout)
    expect(shown["recovery_workflow_details"] == [], shown)
    moves = json.loads(run("-f", "json", "vmove", "list", nid, env=env).stdout)
    expect(moves["vmoves"] == [] and moves["summary"]["total"] == 0, moves)

    # Errors carry the server's message and exit non-zero.
    p = run("notification", "create", "--type", "COMPUTE_HOST", "--hostname", "compute1",
            "--payload", '{"event":"STOPPED","host_status":"NORMAL"}', env=env, ok=False)
    expect(p.returncode == 1 and "error 409" in p.stderr and "duplicate" in p.stderr, p.stderr)
    p = run("segment", "update", "seg1", "--description", "x", env=env, ok=False)
    expect(p.returncode == 1 and "in-use" in p.stderr, p.stderr)
    p = run("segment", "show", "nope", env=env, ok=False)
    expect(p.returncode == 1 and "nope" in p.stderr, p.stderr)
    p = run("segment", "create", "s2", "--recovery-method", "fastest", env=env, ok=False)
    expect(p.returncode == 1 and "recovery_method" in p.stderr, p.stderr)
    p = run("notification", "create", "--type", "VM", "--hostname", "compute1",
            "--payload", "{not json", env=env, ok=False)
    expect(p.returncode == 2 and "--payload" in p.stderr, p.stderr)

    # Readers can list but not change.
    renv = server.env(server.reader)
    run("segment", "list", env=renv)
    p = run("segment", "create", "s3", "--recovery-method", "auto", env=renv, ok=False)
    expect(p.returncode == 1 and "error 403" in p.stderr, p.stderr)
    p = run("segment", "list", env=server.env("wdn_bogus"), ok=False)
    expect(p.returncode == 1 and "error 401" in p.stderr, p.stderr)

    # Unreachable server: a clear message, non-zero.
    p = run("segment", "list", env=clean_env(WARDEN_URL="http://127.0.0.1:1"), ok=False)
    expect(p.returncode == 1 and "cannot reach" in p.stderr, p.stderr)

    # Delete works for an unused segment, by name.
    run("segment", "create", "spare", "--recovery-method", "auto", env=env)
    run("host", "create", "spare", "spare-host", env=env)
    run("host", "delete", "spare", "spare-host", env=env)
    run("segment", "delete", "spare", env=env)
    names = [s["name"] for s in json.loads(run("-f", "json", "segment", "list", env=env).stdout)]
    expect(names == ["seg1"], names)


def test_show_update_and_explicit_flags(server):
    """show and update of segments and hosts, --url/--token given as flags (they win over the
    environment), and retry/cancel refused with the server's reason when no engine runs."""
    flags = ["--url", server.url, "--token", server.admin]
    # The environment points elsewhere: only the flags can make these work.
    env = clean_env(WARDEN_URL="http://127.0.0.1:1", WARDEN_TOKEN="wdn_bogus")
    run(*flags, "segment", "create", "edit", "--recovery-method", "auto", env=env)
    p = run(*flags, "segment", "update", "edit", "--description", "row 4",
            "--recovery-method", "reserved_host", env=env)
    expect("| description     | row 4" in p.stdout and "reserved_host" in p.stdout, p.stdout)
    shown = json.loads(run(*flags, "-f", "json", "segment", "show", "edit", env=env).stdout)
    expect(shown["description"] == "row 4" and shown["recovery_method"] == "reserved_host",
           shown)
    p = run(*flags, "segment", "update", "edit", "--name", "edited", env=env)
    expect("edited" in p.stdout, p.stdout)
    p = run(*flags, "segment", "show", "edit", env=env, ok=False)
    expect(p.returncode == 1 and "edit" in p.stderr, p.stderr)

    run(*flags, "host", "create", "edited", "edit-host", env=env)
    p = run(*flags, "host", "update", "edited", "edit-host", "--reserved", "true",
            "--on-maintenance", "true", env=env)
    expect("| reserved" in p.stdout, p.stdout)
    host = json.loads(run(*flags, "-f", "json", "host", "show", "edited", "edit-host",
                          env=env).stdout)
    expect(host["reserved"] is True and host["on_maintenance"] is True and
           host["failover_segment"]["name"] == "edited", host)
    p = run(*flags, "host", "update", "edited", "edit-host", "--reserved", "maybe", env=env,
            ok=False)
    expect(p.returncode == 1 and "reserved" in p.stderr, p.stderr)
    # A bad token given as a flag wins over a good one in the environment.
    p = run("--token", "wdn_bogus", "segment", "list", env=server.env(), ok=False)
    expect(p.returncode == 1 and "error 401" in p.stderr, p.stderr)

    # A host on maintenance refuses notifications (Masakari's 409), so use another host.
    run(*flags, "host", "create", "edited", "edit-host-2", env=env)
    p = run(*flags, "-f", "json", "notification", "create", "--type", "COMPUTE_HOST",
            "--hostname", "edit-host-2", "--payload", '{"event":"STOPPED"}', env=env)
    nid = json.loads(p.stdout)["notification_uuid"]
    for verb in ("retry", "cancel"):
        p = run(*flags, "notification", verb, nid, env=env, ok=False)
        expect(p.returncode == 1 and "error 409" in p.stderr and "recovery engine" in p.stderr,
               (verb, p.stderr))
    p = run(*flags, "notification", "retry", str(uuid.uuid4()), env=env, ok=False)
    expect(p.returncode == 1 and "error 404" in p.stderr, p.stderr)
    shown = json.loads(run(*flags, "-f", "json", "notification", "show", nid, env=env).stdout)
    expect(shown["status"] == "new", shown)


def record_recovery(db, notification, status, message, tasks, moves):
    """Writes what the engine records for a recovery, straight into the stopped server's
    database: the notification's outcome and its VM moves."""
    base = 1767225600 * 1000000  # 2026-01-01T00:00:00
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE notifications SET status = ?, message = ?, "
                    "recovery_workflow_details = ? WHERE notification_uuid = ?",
                    (status, message, json.dumps(tasks), notification))
        for name, source, dest, start, end, move_status, move_message in moves:
            con.execute("INSERT INTO vmoves (uuid, notification_uuid, instance_uuid, "
                        "instance_name, source_host, dest_host, start_time, end_time, type, "
                        "status, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                        "'evacuation', ?, ?, ?)",
                        (str(uuid.uuid4()), notification, str(uuid.uuid4()), name, source, dest,
                         None if start is None else base + start * 1000000,
                         None if end is None else base + end * 1000000, move_status,
                         move_message, base))
    con.close()


def test_vmove_list_and_watch(server):
    """VM moves across notifications, a notification's summary, and `notification watch` on
    recoveries the engine has recorded (written into the database while the server is
    stopped: there is no engine in this build)."""
    env = server.env()
    run("segment", "create", "moves", "--recovery-method", "auto", env=env)
    for host in ("node1", "node2", "node3"):
        run("host", "create", "moves", host, env=env)
    ids = {}
    for host in ("node1", "node2"):
        p = run("-f", "json", "notification", "create", "--type", "COMPUTE_HOST",
                "--hostname", host, "--payload", '{"event":"STOPPED"}', env=env)
        ids[host] = json.loads(p.stdout)["notification_uuid"]
        time.sleep(0.002)  # distinct created_at: node2's is the newest notification
    a, b = ids["node1"], ids["node2"]
    server.stop()
    record_recovery(server.db, a, "error", "1 instance could not be evacuated",
                    [{"name": "EvacuateInstancesTask", "state": "FAILURE", "progress": 1.0,
                      "progress_details": [{"timestamp": "2026-01-01T00:00:14.000000",
                                            "progress": 1.0,
                                            "message": "Failed to evacuate a-db-1"}]}],
                    [("a-web-1", "node1", "node3", 1, 13, "succeeded", None),
                     ("a-web-2", "node1", "node3", 2, 5, "succeeded", None),
                     ("a-web-3", "node1", "node2", 3, 4, "succeeded", None),
                     ("a-db-1", "node1", None, 4, 6, "failed", "no valid host")])
    record_recovery(server.db, b, "running", None,
                    [{"name": "EvacuateInstancesTask", "state": "RUNNING", "progress": 0.5,
                      "progress_details": []}],
                    [("b-app-1", "node2", "node3", 100, None, "ongoing", None),
                     ("b-app-2", "node2", None, None, None, "pending", None)])
    server.start()
    env = server.env()

    # Across the recent notifications: newest start first, moves not yet started last.
    listed = json.loads(run("-f", "json", "vmove", "list", env=env).stdout)
    names = [m["instance_name"] for m in listed]
    expect(names == ["b-app-1", "a-db-1", "a-web-3", "a-web-2", "a-web-1", "b-app-2"], names)
    expect({m["notification_uuid"] for m in listed} == {a, b}, listed)
    p = run("vmove", "list", env=server.env(server.reader))
    expect("notification_uuid" in p.stdout and p.stdout.count(a) == 4 and
           p.stdout.count(b) == 2, p.stdout)
    only = lambda *args: [m["instance_name"] for m in json.loads(
        run("-f", "json", "vmove", "list", *args, env=env).stdout)]
    expect(only("--status", "failed") == ["a-db-1"], only("--status", "failed"))
    expect(only("--source-host", "node2") == ["b-app-1", "b-app-2"], "source-host")
    expect(only("--dest-host", "node2") == ["a-web-3"], "dest-host")
    expect(only("--notifications", "1") == ["b-app-1", "b-app-2"], "notifications")
    expect(only("--limit", "2") == ["b-app-1", "a-db-1"], "limit")
    p = run("vmove", "list", "--notifications", "0", env=env, ok=False)
    expect(p.returncode == 1 and "notifications" in p.stderr, p.stderr)

    # One notification: today's table, then its summary.
    summary = "total 4: 3 succeeded, 1 failed, 0 running, 0 pending (notification error)"
    for args in ([a], ["--notification", a]):
        p = run("vmove", "list", *args, env=env)
        expect(p.stdout.rstrip().endswith(summary) and "a-db-1" in p.stdout, p.stdout)
    p = run("vmove", "list", b, "--status", "pending", env=env)
    expect("b-app-2" in p.stdout and "b-app-1" not in p.stdout, p.stdout)
    expect("total 2: 0 succeeded, 0 failed, 1 running, 1 pending (notification running)"
           in p.stdout, p.stdout)
    doc = json.loads(run("-f", "json", "vmove", "list", "--notification", a, env=env).stdout)
    expect(len(doc["vmoves"]) == 4 and doc["summary"] == {
        "notification_status": "error", "total": 4, "succeeded": 3, "failed": 1,
        "pending": 0, "running": 0, "ignored": 0}, doc)

    # One move by its id; an id of another notification is not found.
    move = doc["vmoves"][0]
    shown = json.loads(run("-f", "json", "vmove", "show", a, move["uuid"], env=env).stdout)
    expect(shown["instance_name"] == move["instance_name"] and shown["notification_uuid"] == a,
           shown)
    p = run("vmove", "show", a, move["uuid"], env=env)
    expect("| instance_name" in p.stdout and move["instance_name"] in p.stdout, p.stdout)
    p = run("vmove", "show", b, move["uuid"], env=env, ok=False)
    expect(p.returncode == 1 and "error 404" in p.stderr, p.stderr)

    # Watching a recovery that has already ended in error: its state once, the report, exit 1.
    p = run("notification", "watch", a, env=env, ok=False)
    expect(p.returncode == 1, (p.returncode, p.stdout, p.stderr))
    expect("\x1b" not in p.stdout, "no terminal escapes when not a terminal")
    for needle in ("status: error\n",
                   "phase: EvacuateInstancesTask FAILURE 100%: Failed to evacuate a-db-1\n",
                   "moves: [####################] 4/4  succeeded 3  failed 1  running 0  "
                   "pending 0\n",
                   "| a-web-1  | node1 → node3        | succeeded | 12.0s    |",
                   "| a-db-1   | node1 → ?            | failed    | 2.0s     | no valid host |",
                   "message: 1 instance could not be evacuated\n"):
        expect(needle in p.stdout, (needle, p.stdout))
    expect(p.stdout.count("status: error") == 2, p.stdout)  # the progress, then the outcome
    # --api-version does not take recovery_workflow_details away from the watch.
    p = run("--api-version", "1.0", "notification", "watch", a, env=env, ok=False)
    expect(p.returncode == 1 and "Failed to evacuate a-db-1" in p.stdout, p.stdout)

    # Still running: gives up at the timeout with exit 2, having printed once.
    p = run("notification", "watch", b, "--interval", "0.1", "--timeout", "0.5", env=env,
            ok=False)
    expect(p.returncode == 2 and "timed out after 0.5s" in p.stderr, (p.returncode, p.stderr))
    expect(p.stdout.count("status: running") == 1, p.stdout)
    expect("[....................] 0/2  succeeded 0  failed 0  running 1  pending 1" in p.stdout,
           p.stdout)

    # Unknown notification, bad flags, unreachable server: exit 2.
    p = run("notification", "watch", str(uuid.uuid4()), env=env, ok=False)
    expect(p.returncode == 2 and "error 404" in p.stderr, (p.returncode, p.stderr))
    p = run("notification", "watch", a, "--interval", "0", env=env, ok=False)
    expect(p.returncode == 2 and "--interval" in p.stderr, p.stderr)
    p = run("notification", "watch", a, "--timeout", "soon", env=env, ok=False)
    expect(p.returncode == 2 and "--timeout" in p.stderr, p.stderr)
    p = run("notification", "watch", env=env, ok=False)
    expect(p.returncode == 2, p.returncode)
    p = run("notification", "watch", a, env=clean_env(WARDEN_URL="http://127.0.0.1:1"),
            ok=False)
    expect(p.returncode == 2 and "cannot reach" in p.stderr, p.stderr)


def test_segment_headroom(server):
    """`warden segment headroom`: the N+1 check's table, -f json, and its exit status (0 all
    fit, 3 a host's would not, 1 an error), against a server with the sim cloud."""
    p = run("segment", "headroom", "seg1", env=server.env(), ok=False)
    expect(p.returncode == 1 and "No recovery engine" in p.stderr, (p.returncode, p.stderr))
    sim = Server(reuse=server, db="headroom.db",
                 extra="[compute]\ndriver = sim\n[sim]\nhosts = 2\nreserved_hosts = 0\n"
                       "instances = 6\n")
    try:
        env = sim.env()
        run("segment", "create", "hr", "--recovery-method", "auto", env=env)
        for host in ("compute1", "compute2"):
            run("host", "create", "hr", host, env=env)
        p = run("segment", "headroom", "hr", env=env)
        expect("| compute1 | ok " in p.stdout and "| compute2 | ok " in p.stdout, p.stdout)
        expect("Every host's instances would fit elsewhere." in p.stdout, p.stdout)
        # With compute2 on maintenance, compute1's instances have nowhere to go.
        run("host", "update", "hr", "compute2", "--on-maintenance", "true", env=env)
        p = run("segment", "headroom", "hr", env=env, ok=False)
        expect(p.returncode == 3, (p.returncode, p.stdout, p.stderr))
        row = [l for l in p.stdout.splitlines() if "| compute1 |" in l]
        expect(row and "SHORT" in row[0] and "no capacity" in row[0], p.stdout)
        expect("not a destination: on maintenance" in p.stdout, p.stdout)
        p = run("-f", "json", "segment", "headroom", "hr", env=env, ok=False)
        out = json.loads(p.stdout)
        expect(p.returncode == 3 and out["ok"] is False, (p.returncode, out))
        hosts = {h["name"]: h for h in out["hosts"]}
        expect(hosts["compute1"]["placed"] == 0 and hosts["compute1"]["instances"] > 0, hosts)
        expect(not hosts["compute2"]["usable"], hosts)
        # Readers may check; an unknown segment is an error naming it.
        expect(run("segment", "headroom", "hr", env=sim.env(sim.reader), ok=False).returncode
               == 3, "a reader checks too")
        p = run("segment", "headroom", "nope", env=env, ok=False)
        expect(p.returncode == 1 and "nope" in p.stderr, (p.returncode, p.stderr))
    finally:
        sim.stop()


def test_db_version_and_upgrade():
    """`warden db version` / `db upgrade`: the schema of [database] connection, by hand."""
    db = os.path.join(TMP, "dbcmd", "w.db")
    conf = write("db.conf", "[api]\nauth_strategy = noauth\nlisten = 127.0.0.1:0\n"
                 "[database]\nconnection = sqlite:///%s\n" % db)
    p = run("db", "version", "--config", conf, ok=False)
    expect(p.returncode == 3 and "(no database yet)" in p.stdout and "warden db upgrade" in p.stdout,
           (p.returncode, p.stdout))
    expect(not os.path.exists(db), "db version created the database")
    latest = p.stdout.split("this warden's: ")[1].split()[0]
    p = run("db", "upgrade", "--config", conf)
    expect("schema version: %s (was 0)" % latest in p.stdout, p.stdout)
    p = run("db", "version", "--config", conf)
    expect("Up to date." in p.stdout, p.stdout)
    expect(run("db", "upgrade", "--config", conf).returncode == 0, "a second upgrade is a no-op")
    # A database from a newer warden: said, and nothing is changed.
    con = sqlite3.connect(db)
    con.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
    con.commit()
    con.close()
    p = run("db", "version", "--config", conf, ok=False)
    expect(p.returncode == 1 and "newer than this warden" in p.stdout, (p.returncode, p.stdout))
    p = run("db", "upgrade", "--config", conf, ok=False)
    expect(p.returncode == 1 and "newer than this warden" in p.stderr, (p.returncode, p.stderr))
    # A bad URL stops it naming the key, without the password.
    bad = write("db-bad.conf", "[database]\nconnection = mysql+pymysql://u:hunter2@db/\n")
    p = run("db", "version", "--config", bad, ok=False)
    expect(p.returncode == 2 and "[database] connection" in p.stderr and "hunter2" not in p.stderr,
           (p.returncode, p.stderr))


def test_accepted_notifications_survive_a_crash(server):
    """202 means durable: kill -9 right after the answers, restart, everything is there."""
    env = server.env()
    run("segment", "create", "crash", "--recovery-method", "auto", env=env)
    for i in range(20):
        run("host", "create", "crash", "crash-%d" % i, env=env)
    ids = []
    for i in range(20):
        p = run("-f", "json", "notification", "create", "--type", "COMPUTE_HOST",
                "--hostname", "crash-%d" % i, "--payload", '{"event":"STOPPED"}', env=env)
        ids.append(json.loads(p.stdout)["notification_uuid"])
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    again = Server(reuse=server)
    try:
        for nid in ids:
            shown = json.loads(run("-f", "json", "notification", "show", nid,
                                   env=again.env()).stdout)
            expect(shown["status"] == "new", shown)
    finally:
        again.stop()


def test_an_oversized_body_gets_a_readable_413(server):
    """Python's http.client writes the whole body before it reads: it must read the 413
    (the server drains what is still coming), not a broken pipe (issue 17)."""
    import http.client
    import urllib.parse
    def stored():
        return len(json.loads(run("-f", "json", "notification", "list", env=server.env()).stdout))
    before = stored()
    u = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", "/v1/notifications", body=b"x" * (8 << 20),
                     headers={"Content-Type": "application/json", "X-Auth-Token": server.admin})
        resp = conn.getresponse()
        body = json.loads(resp.read())
    finally:
        conn.close()
    expect(resp.status == 413, (resp.status, body))
    expect(body["overLimit"]["code"] == 413, body)
    expect(stored() == before, "a refused body changed the store")


def test_server_stops_cleanly_on_sigterm(server):
    server.stop()


def main():
    tally = Tally()
    server = None
    try:
        for t in (test_config_errors_stop_startup_naming_the_key,
                  test_an_unwritable_port_file_stops_startup_cleanly,
                  test_token_create_writes_a_hashed_line, test_db_version_and_upgrade):
            tally.run(t)
        server = Server()
        for t in (test_client_commands, test_show_update_and_explicit_flags,
                  test_vmove_list_and_watch, test_an_oversized_body_gets_a_readable_413,
                  test_segment_headroom):
            tally.run(t, server)
        if tally.run(test_server_stops_cleanly_on_sigterm, server):
            server = None  # else the finally below kills it
        crash = Server(reuse=None)
        try:
            tally.run(test_accepted_notifications_survive_a_crash, crash)
        finally:
            if crash.proc.poll() is None:
                crash.proc.kill()
    except Exception:
        tally.failed += 1
        print("FAIL", traceback.format_exc(), flush=True)
    finally:
        if server is not None:
            server.proc.kill()
        shutil.rmtree(TMP, ignore_errors=True)
    return tally.exit_code()


if __name__ == "__main__":
    sys.exit(main())
