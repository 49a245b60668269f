// The dashboard in a real browser: Debian's chromium driven by the pinned playwright-core (no
// browser download), against a real `warden server` with token auth and the sim cloud.
//
// Usage: node tests/browser/dashboard_test.mjs PATH/TO/warden [SCREENSHOT_DIR]
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const warden = resolve(process.argv[2] ?? "build/warden");
const shots = resolve(process.argv[3] ?? "build/screenshots");
mkdirSync(shots, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), "warden-dashboard-"));

function tokenFor(name, role) {
  const out = execFileSync(warden, ["token", "create", "--name", name, "--role", role,
    "--file", join(dir, "tokens")]).toString();
  const line = out.split("\n").find((l) => l.startsWith("token: "));
  return line.slice("token: ".length).trim();
}
const admin = tokenFor("ops", "admin");
const reader = tokenFor("viewer", "reader");

writeFileSync(join(dir, "warden.conf"), `[DEFAULT]
duplicate_notification_detection_interval = 0
[api]
listen = 127.0.0.1:0
token_file = ${join(dir, "tokens")}
access_log = false
[database]
connection = sqlite:///${join(dir, "warden.db")}
[compute]
driver = sim
[host_failure]
poll_interval = 0.2
[sim]
hosts = 3
reserved_hosts = 0
instances = 9
api_latency = fixed:5ms
evacuate_latency = uniform:6s:9s
power_latency = fixed:100ms
bmc_latency = fixed:50ms
`);
const server = spawn(warden, ["server", "--config", join(dir, "warden.conf"), "--port-file",
  join(dir, "port")], { stdio: ["ignore", "ignore", "pipe"] });
let serverLog = "";
server.stderr.on("data", (d) => { serverLog += d; });

async function waitFor(what, fn, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let browser;
let failed = 0;
async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`PASS ${name} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack ?? e}`);
  }
}

try {
  const port = await waitFor("the port file", () =>
    existsSync(join(dir, "port")) && readFileSync(join(dir, "port"), "utf8").trim());
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body, token = admin) => {
    const r = await fetch(base + path, {
      method,
      headers: { "X-Auth-Token": token, "Content-Type": "application/json",
                 "OpenStack-API-Version": "instance-ha 1.3" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  // The segment's name is markup: it must show as those characters and run nothing.
  const evil = "<img src=x onerror=alert(1)>";
  const seg = (await call("POST", "/v1/segments", { segment: {
    name: evil, recovery_method: "auto", service_type: "COMPUTE" } })).segment;
  for (const h of ["compute1", "compute2", "compute3"]) {
    await call("POST", `/v1/segments/${seg.uuid}/hosts`, { host: { name: h, type: "COMPUTE", control_attributes: "SSH" } });
  }

  await check("a wrong token is refused with the reason, on the sign-in", async () => {
    await page.goto(`${base}/dashboard/`);
    await page.locator("#token").fill("not-a-token");
    await page.locator("form.signin button").click();
    const error = page.locator("form.signin .error");
    await error.waitFor();
    assert.match(await error.textContent(), /\S/);
    assert.ok(await page.locator("#token").isVisible());
  });

  await check("a good token signs in; names from the API are text, never markup", async () => {
    await page.locator("#token").fill(admin);
    await page.locator("form.signin button").click();
    await page.locator("main h1", { hasText: "Overview" }).waitFor();
    await page.locator(".card h2").first().waitFor();
    assert.equal(await page.locator(".card h2").first().textContent(), evil);
    assert.equal(await page.locator("main img").count(), 0);
    assert.deepEqual(dialogs, []);
    await page.screenshot({ path: join(shots, "dashboard-overview.png"), fullPage: true });
  });

  await check("Recovery Progress refreshes itself while running, then stops", async () => {
    const n = (await call("POST", "/v1/notifications", { notification: {
      type: "COMPUTE_HOST", hostname: "compute1",
      generated_time: new Date().toISOString().slice(0, 19),
      payload: { event: "STOPPED", host_status: "NORMAL", cluster_status: "OFFLINE" } } }))
      .notification;
    await page.goto(`${base}/dashboard/#/notifications/${n.notification_uuid}`);
    // A mark on the window: gone if the page reloaded.
    await page.evaluate(() => { window.__noReload = true; });
    await page.locator("#refreshing", { hasText: "Auto-refreshing every 5s" }).waitFor();
    await waitFor("a running move", async () =>
      (await page.locator("table.moves .tone-running").count()) > 0, 30000);
    await page.screenshot({ path: join(shots, "dashboard-recovery-running.png"), fullPage: true });
    await waitFor("the end of the recovery", async () =>
      (await page.locator(".summary .tag").first().textContent()) === "finished", 60000);
    assert.equal(await page.locator("#refreshing").count(), 0);
    assert.equal(await page.evaluate(() => window.__noReload), true);
    const moves = (await call("GET", `/v1/notifications/${n.notification_uuid}/vmoves?limit=1000`))
      .vmoves;
    const ok = moves.filter((m) => m.status === "succeeded").length;
    const counts = await page.locator(".summary .counts").textContent();
    assert.ok(counts.includes(`Total VMs ${moves.length}`), counts);
    assert.ok(counts.includes(`Succeeded ${ok}`), counts);
    assert.equal(await page.locator("table.moves tbody tr").count(), moves.length);
    await page.screenshot({ path: join(shots, "dashboard-recovery-done.png"), fullPage: true });
  });

  await check("VM Moves lists the recent moves in one request", async () => {
    let requests = 0;
    const count = (r) => { if (r.url().includes("/v1/")) requests++; };
    page.on("request", count);
    await page.goto(`${base}/dashboard/#/vmoves`);
    await page.locator("main h1", { hasText: "VM Moves" }).waitFor();
    await page.locator("table.moves tbody tr").first().waitFor();
    page.off("request", count);
    assert.equal(requests, 1);
  });

  await check("a reader signs in and sees everything", async () => {
    const p2 = await context.newPage();
    await p2.goto(`${base}/dashboard/#/notifications`);
    // session storage is per tab: a new tab signs in again
    await p2.locator("#token").fill(reader);
    await p2.locator("form.signin button").click();
    await p2.locator("main h1", { hasText: "Notifications" }).waitFor();
    await p2.locator("main table tbody tr").first().waitFor();
    await p2.close();
  });

  await check("no script error and no dialog in the whole run", async () => {
    assert.deepEqual(consoleErrors.filter((e) => !e.includes("401")), []);
    assert.deepEqual(dialogs, []);
  });
} catch (e) {
  failed++;
  console.log(`FAIL setup\n${e.stack ?? e}\n${serverLog.slice(-3000)}`);
} finally {
  if (browser) await browser.close();
  server.kill("SIGTERM");
}
console.log(failed ? `${failed} failed` : "all passed");
process.exit(failed ? 1 : 0);
