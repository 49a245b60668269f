#!/usr/bin/python3
"""`[api] auth_strategy = keystone` against a real Keystone, with the real `openstack` CLI.

Starts Keystone (tests/fixtures/keystone.py) with Warden's catalog entry `instance-ha`
(registered as Masakari's install guide does: http://HOST:PORT/v1/%(tenant_id)s), then
`warden server` validating tokens with it, and checks:
  - the CLI with a clouds.yaml finds Warden through the catalog: segment, host and
    notification create/list work for an admin;
  - a reader lists but gets 403 on create; a member reads through Keystone's implied roles;
  - no, bad, revoked and expired tokens get 401 with `WWW-Authenticate: Keystone uri=...`;
  - a token is validated once per cache period (Keystone's access log and Warden's /metrics);
  - Keystone stopped: 503 with a JSON body for new tokens, cached tokens still work until
    their cache time ends, then 503 too; never 401, never let in;
  - `--check-config` reports masakari.conf keys it ignores and hides secrets; secrets and
    tokens never reach Warden's log.

Usage: keystone_auth_test.py PATH/TO/warden [clients|tokens ...]   (default: both groups)
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from harness import Tally, expect, field  # noqa: E402
from keystone import Keystone  # noqa: E402

WARDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/warden"
OPENSTACK = shutil.which("openstack") or "/usr/bin/openstack"
CACHE_SECONDS = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Warden:
    def __init__(self, keystone, port, extra_authtoken=""):
        self.dir = tempfile.mkdtemp(prefix="warden-ks-")
        self.conf = os.path.join(self.dir, "warden.conf")
        with open(self.conf, "w") as f:
            f.write("[api]\nlisten = 127.0.0.1:%d\nauth_strategy = keystone\n"
                    "reader_roles = reader\n[database]\nconnection = sqlite:///%s/w.db\n"
                    % (port, self.dir))
            f.write(keystone.authtoken_section(token_cache_time=CACHE_SECONDS))
            f.write(extra_authtoken)
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen([WARDEN, "server", "--config", self.conf,
                                      "--port-file", port_file],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("warden did not start: " + self.read_log())
            time.sleep(0.02)
        self.url = "http://127.0.0.1:%d" % port

    def read_log(self):
        self.log.flush()
        return open(self.log_path).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if not os.environ.get("WARDEN_KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)


def call(warden, method, path, token=None, body=None, headers=None):
    """Returns (status, headers, parsed body or raw text)."""
    h = dict(headers or {})
    if token is not None:
        h["X-Auth-Token"] = token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(warden.url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, hdrs, parsed


def metric(warden, token, name, labels):
    status, _, text = call(warden, "GET", "/metrics", token)
    expect(status == 200, (status, text))
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    expect(m is not None, "no %s{%s} in /metrics" % (name, labels))
    return float(m.group(1))


class Env:
    """Keystone, Warden and a clouds.yaml, shared by the checks below."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="warden-ks-clouds-")
        port = free_port()
        self.ks = Keystone().start(
            instance_ha_url="http://127.0.0.1:%d/v1/%%(tenant_id)s" % port)
        print("keystone up in %.1fs at %s" % (self.ks.startup_seconds, self.ks.url), flush=True)
        self.clouds = os.path.join(self.dir, "clouds.yaml")
        self.ks.write_clouds_yaml(self.clouds)
        self.warden = Warden(self.ks, port, "memcached_servers = 127.0.0.1:11211\n")

    def osc(self, cloud, *args, ok=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = self.clouds
        p = subprocess.run([OPENSTACK, "--os-cloud", "warden-" + cloud] + list(args), env=env,
                           capture_output=True, text=True, timeout=60)
        if ok and p.returncode != 0:
            raise AssertionError("openstack %s failed (%d): %s %s" %
                                 (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p.returncode, p.stdout, p.stderr

    def osc_json(self, cloud, *args):
        return json.loads(self.osc(cloud, *args, "-f", "json")[1])

    def stop(self):
        self.warden.stop()
        self.ks.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------- checks

def test_admin_through_the_catalog(env):
    seg = env.osc_json("admin", "segment", "create", "ks-seg", "auto", "COMPUTE")
    expect(field(seg, "name") == "ks-seg", seg)
    rows = env.osc_json("admin", "segment", "list")
    expect([field(r, "name") for r in rows] == ["ks-seg"], rows)
    host = env.osc_json("admin", "segment", "host", "create", "compute1", "COMPUTE", "SSH",
                        field(seg, "uuid"))
    expect(field(host, "name") == "compute1", host)
    note = env.osc_json("admin", "notification", "create", "PROCESS", "compute1",
                        "2026-11-22T10:00:00",
                        '{"event": "STOPPED", "process_name": "nova-compute"}')
    expect(field(note, "status") == "new", note)
    listed = env.osc_json("admin", "notification", "list")
    expect([field(n, "notification_uuid") for n in listed] ==
           [field(note, "notification_uuid")], listed)
    # The request went through the catalog URL with the project id in it.
    expect(re.search(r"/v1/[0-9a-f]{32}/segments", env.warden.read_log()),
           "no /v1/{project_id}/segments request in Warden's log")


def test_reader_reads_but_cannot_write(env):
    rows = env.osc_json("reader", "segment", "list")
    expect([field(r, "name") for r in rows] == ["ks-seg"], rows)
    rc, out, err = env.osc("reader", "segment", "create", "nope", "auto", "COMPUTE", ok=False)
    expect(rc != 0 and ("403" in out + err or "Policy" in out + err), (rc, out, err))
    # The same through the API directly: reads pass, every write is 403 with Masakari's body.
    token = env.ks.token("reader")
    status, _, body = call(env.warden, "GET", "/v1/notifications", token)
    expect(status == 200 and len(body["notifications"]) == 1, (status, body))
    status, _, body = call(env.warden, "POST", "/v1/notifications", token,
                           {"notification": {"type": "PROCESS", "hostname": "compute1",
                                             "generated_time": "2026-11-22T11:00:00",
                                             "payload": {"event": "STOPPED",
                                                         "process_name": "x"}}})
    expect(status == 403 and "forbidden" in body, (status, body))
    status, _, body = call(env.warden, "GET", "/v1/segments", token)
    expect([s["name"] for s in body["segments"]] == ["ks-seg"], body)


def test_member_reads_through_implied_roles(env):
    rows = env.osc_json("member", "segment", "list")
    expect([field(r, "name") for r in rows] == ["ks-seg"], rows)
    status, _, body = call(env.warden, "DELETE", "/v1/segments/" + field(rows[0], "uuid"),
                           env.ks.token("member"))
    expect(status == 403, (status, body))


def test_missing_bad_revoked_tokens_get_401_with_a_challenge(env):
    challenge = 'Keystone uri="%s"' % env.ks.url
    for token in (None, "gAAAAABnot-a-real-token", "x" * 10000):
        status, hdrs, body = call(env.warden, "GET", "/v1/segments", token)
        expect(status == 401, (token and token[:20], status, body))
        expect(hdrs.get("WWW-Authenticate") == challenge, dict(hdrs))
        expect(isinstance(body, dict) and "unauthorized" in body, body)
    revoked = env.ks.token("admin")
    env.ks.revoke(revoked)
    status, hdrs, body = call(env.warden, "GET", "/v1/segments", revoked)
    expect(status == 401, (status, body))
    # Public documents need no token.
    expect(call(env.warden, "GET", "/")[0] == 200, "versions")
    expect(call(env.warden, "GET", "/healthz")[0] == 200, "healthz")


def test_expired_token_is_refused_even_if_cached(env):
    # Keystone ends a token issued through an application credential when the credential
    # expires: here in seconds, within Warden's cache time.
    cred_id, secret = env.ks.application_credential("admin", "short", expires_in=12)
    token = env.ks.token_from_application_credential(cred_id, secret)
    status, _, body = call(env.warden, "GET", "/v1/segments", token)
    expect(status == 200, (status, body))
    deadline = time.time() + 25
    while time.time() < deadline:
        status, _, body = call(env.warden, "GET", "/v1/segments", token)
        if status != 200:
            break
        time.sleep(0.5)
    expect(status == 401, (status, body))


def settled_validations(ks, at_least):
    """Keystone's count of validations once it reaches `at_least` (uwsgi writes its access
    log line just after the answer), then a moment more for any extra one."""
    deadline = time.time() + 5
    while ks.validations() < at_least and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return ks.validations()


def test_validated_once_per_cache_period(env):
    token = env.ks.token("admin")
    v0 = settled_validations(env.ks, 0)
    m0 = metric(env.warden, token, "warden_keystone_token_validations_total", 'result="valid"')
    v1 = settled_validations(env.ks, v0 + 1)
    expect(v1 == v0 + 1, "the /metrics call validated the new token once: %d → %d" % (v0, v1))
    start = time.time()
    for _ in range(20):
        status, _, body = call(env.warden, "GET", "/v1/segments", token)
        expect(status == 200, (status, body))
    expect(time.time() - start < CACHE_SECONDS - 1, "20 requests took too long for the check")
    expect(settled_validations(env.ks, v1) == v1, "validated again within the cache period")
    m1 = metric(env.warden, token, "warden_keystone_token_validations_total", 'result="valid"')
    expect(m1 == m0, (m0, m1))
    hits = metric(env.warden, token, "warden_keystone_token_cache_hits_total", 'kind="valid"')
    expect(hits >= 20, hits)
    time.sleep(CACHE_SECONDS + 0.5)
    status, _, _ = call(env.warden, "GET", "/v1/segments", token)
    expect(status == 200, status)
    expect(settled_validations(env.ks, v1 + 1) == v1 + 1,
           "not validated again after the cache period")


def test_check_config_reports_ignored_keys_and_hides_secrets(env):
    p = subprocess.run([WARDEN, "server", "--check-config", "--config", env.warden.conf],
                       capture_output=True, text=True, timeout=30)
    expect(p.returncode == 0, p.stdout + p.stderr)
    expect("note: [keystone_authtoken] memcached_servers (Masakari) is ignored" in p.stdout,
           p.stdout)
    expect("[keystone_authtoken] password = (set)" in p.stdout, p.stdout)
    expect(env.ks.PASSWORD not in p.stdout, "the password was printed")
    expect("[api] auth_strategy = keystone" in p.stdout, p.stdout)
    # An unknown key is still an error naming it.
    bad = os.path.join(env.dir, "bad.conf")
    with open(env.warden.conf) as f, open(bad, "w") as out:
        out.write(f.read() + "memcache_servers_typo = x\n")
    p = subprocess.run([WARDEN, "server", "--check-config", "--config", bad],
                       capture_output=True, text=True, timeout=30)
    expect(p.returncode == 2 and "memcache_servers_typo" in p.stderr, p.stdout + p.stderr)


def test_keystone_down_is_503_and_cached_tokens_last_their_cache_time(env):
    cached = env.ks.token("admin")
    fresh = env.ks.token("admin")
    expect(call(env.warden, "GET", "/v1/segments", cached)[0] == 200, "cached token")
    cached_at = time.time()
    env.ks.pause()
    try:
        status, _, body = call(env.warden, "GET", "/v1/segments", cached)
        expect(status == 200, ("a cached token works while Keystone is down", status, body))
        status, hdrs, body = call(env.warden, "GET", "/v1/segments", fresh)
        expect(status == 503, (status, body))
        expect(isinstance(body, dict) and "serviceUnavailable" in body, body)
        expect(hdrs.get("Content-Type", "").startswith("application/json"), dict(hdrs))
        status, _, body = call(env.warden, "POST", "/v1/segments", fresh,
                               {"segment": {"name": "down", "recovery_method": "auto",
                                            "service_type": "COMPUTE"}})
        expect(status == 503, (status, body))
        expect(call(env.warden, "GET", "/v1/segments")[0] == 401, "no token is still 401")
        time.sleep(max(0, cached_at + CACHE_SECONDS + 0.5 - time.time()))
        status, _, body = call(env.warden, "GET", "/v1/segments", cached)
        expect(status == 503, ("after its cache time the cached token needs Keystone",
                               status, body))
    finally:
        env.ks.resume()
    expect(call(env.warden, "GET", "/v1/segments", fresh)[0] == 200, "Keystone is back")
    names = [s["name"] for s in call(env.warden, "GET", "/v1/segments", fresh)[2]["segments"]]
    expect("down" not in names, names)


def test_dashboard_password_sign_in(env):
    """POST /signin exchanges a person's password for their own Keystone token."""
    status, _, body = call(env.warden, "GET", "/signin")
    expect(status == 200 and body == {"methods": ["password", "token"]}, (status, body))
    sign_in = {"username": "reader", "password": env.ks.PASSWORD, "project": "demo"}
    status, headers, body = call(env.warden, "POST", "/signin", body=sign_in)
    expect(status == 201, (status, body))
    expect(headers.get("Cache-Control") == "no-store", headers)
    token = body["token"]
    expect(body["expires_at"], body)
    status, _, me = call(env.warden, "GET", "/whoami", token)
    expect(status == 200 and me == {"name": "reader", "role": "reader"}, (status, me))
    expect(call(env.warden, "GET", "/v1/segments", token)[0] == 200, "the token reads")
    # Refused: a wrong password, an unknown project, a user without a role there.
    for wrong in ({"password": "nope"}, {"project": "no-such-project"},
                  {"username": "nobody"}):
        status, _, body = call(env.warden, "POST", "/signin", body={**sign_in, **wrong})
        expect(status == 401, (wrong, status, body))
        expect("refused the user name, password or project" in json.dumps(body), body)
    status, _, body = call(env.warden, "POST", "/signin", body={"username": "reader"})
    expect(status == 400 and "'password' is required" in json.dumps(body), (status, body))
    expect("nope" not in env.warden.read_log(), "a password is in Warden's log")


def test_dashboard_sign_in_in_a_browser(env):
    """The sign-in form in Debian's chromium (tests/browser/keystone_signin.mjs)."""
    here = os.path.dirname(os.path.abspath(__file__))
    shots = os.path.join(os.path.dirname(os.path.abspath(WARDEN)), "screenshots")
    p = subprocess.run(["node", os.path.join(here, "browser", "keystone_signin.mjs"),
                        env.warden.url, "admin", env.ks.PASSWORD, "admin", shots],
                       capture_output=True, text=True, timeout=120)
    print(p.stdout, end="")
    expect(p.returncode == 0, "the browser sign-in failed: " + p.stderr[-2000:])


def test_no_secret_in_the_log(env):
    log = env.warden.read_log()
    expect(env.ks.PASSWORD not in log, "the service password is in Warden's log")
    expect("gAAAAA" not in log, "a Fernet token is in Warden's log")


GROUPS = {
    # The OpenStack CLI through the catalog, roles, configuration.
    "clients": [test_admin_through_the_catalog, test_reader_reads_but_cannot_write,
                test_member_reads_through_implied_roles,
                test_check_config_reports_ignored_keys_and_hides_secrets,
                test_no_secret_in_the_log],
    # Token validation: refusals, expiry, caching, Keystone down (last: it stops Keystone).
    # The dashboard's sign-in: a password exchanged for the person's own token, in a browser.
    "dashboard": [test_dashboard_password_sign_in, test_dashboard_sign_in_in_a_browser,
                  test_no_secret_in_the_log],
    "tokens": [test_missing_bad_revoked_tokens_get_401_with_a_challenge,
               test_expired_token_is_refused_even_if_cached,
               test_validated_once_per_cache_period, test_no_secret_in_the_log,
               test_keystone_down_is_503_and_cached_tokens_last_their_cache_time],
}


def main():
    groups = sys.argv[2:] or list(GROUPS)
    tally = Tally()
    t0 = time.time()
    env = Env()
    try:
        for t in [t for g in groups for t in GROUPS[g]]:
            tally.run(t, env, on_failure=lambda: "--- warden log ---\n" +
                      env.warden.read_log()[-3000:] + "\n--- keystone ---\n" +
                      env.ks.tail_logs(2000))
    finally:
        env.stop()
    print("total %.1fs" % (time.time() - t0))
    return tally.exit_code()


if __name__ == "__main__":
    sys.exit(main())
