#!/usr/bin/env python3
"""`warden` as an operator uses it: server start-up and its config errors, tokens, and the
client commands against a running server (tables, -f json, errors and exit codes).

Usage: warden_cli_test.py PATH/TO/warden
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
TMP = tempfile.mkdtemp(prefix="warden-cli-")


def run(*args, env=None, ok=True):
    p = subprocess.run([WARDEN] + list(args), capture_output=True, text=True, timeout=30,
                       env=env)
    if ok and p.returncode != 0:
        raise AssertionError("warden %s failed (%d): %s %s" % (args, p.returncode, p.stdout,
                                                               p.stderr))
    return p


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(extra)
    return env


def test_config_errors_stop_startup_naming_the_key():
    cases = [
        ("[api]\nlisten = 127.0.0.1:0\ntoken_file = /x\nworkres = 4\n", "[api] workres"),
        ("[api]\nlisten = 127.0.0.1:notaport\n", "[api] listen"),
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
    def __init__(self, reuse=None):
        self.tokens = os.path.join(TMP, "tokens")
        if reuse is None:
            out = run("token", "create", "--name", "ops", "--file", self.tokens).stdout
            self.admin = out.split("token: ")[1].split()[0]
            out = run("token", "create", "--name", "viewer", "--role", "reader",
                      "--file", self.tokens).stdout
            self.reader = out.split("token: ")[1].split()[0]
        else:
            self.admin, self.reader = reuse.admin, reuse.reader
        conf = write("w.conf", "[api]\nlisten = 127.0.0.1:0\ntoken_file = %s\n[database]\n"
                     "connection = sqlite:///%s/w.db\n" % (self.tokens, TMP))
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
    expect(moves == [], moves)

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


def main():
    passed = failed = 0
    server = None
    try:
        tests = [test_config_errors_stop_startup_naming_the_key,
                 test_token_create_writes_a_hashed_line]
        for t in tests:
            try:
                t()
                passed += 1
                print("PASS", t.__name__, flush=True)
            except Exception:
                failed += 1
                print("FAIL", t.__name__, traceback.format_exc(), flush=True)
        server = Server()
        for t in [test_client_commands]:
            try:
                t(server)
                passed += 1
                print("PASS", t.__name__, flush=True)
            except Exception:
                failed += 1
                print("FAIL", t.__name__, traceback.format_exc(), flush=True)
        server.stop()
        server = None
        passed += 1
        print("PASS server stops cleanly on SIGTERM", flush=True)
        crash = Server(reuse=None)
        try:
            test_accepted_notifications_survive_a_crash(crash)
            passed += 1
            print("PASS test_accepted_notifications_survive_a_crash", flush=True)
        except Exception:
            failed += 1
            print("FAIL test_accepted_notifications_survive_a_crash", traceback.format_exc(),
                  flush=True)
        finally:
            if crash.proc.poll() is None:
                crash.proc.kill()
    except Exception:
        failed += 1
        print("FAIL", traceback.format_exc(), flush=True)
    finally:
        if server is not None:
            server.proc.kill()
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
