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
storm_guard_max_share = 1.0
[sim]
hosts = 4
reserved_hosts = 0
instances = 9
fail_evacuations = 1
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
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  // A monitor's report that `host` is down.
  const hostDown = async (host) => (await call("POST", "/v1/notifications", { notification: {
    type: "COMPUTE_HOST", hostname: host, generated_time: new Date().toISOString().slice(0, 19),
    payload: { event: "STOPPED", host_status: "NORMAL", cluster_status: "OFFLINE" } } }))
    .notification;

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
    await page.locator(".segment-overview h2").first().waitFor();
    assert.equal(await page.locator(".segment-overview h2").first().textContent(), evil);
    assert.equal(await page.locator("main img").count(), 0);
    assert.deepEqual(dialogs, []);
    await page.screenshot({ path: join(shots, "dashboard-overview.png"), fullPage: true });
  });

  await check("Recovery Progress refreshes itself while running, then stops", async () => {
    const n = await hostDown("compute1");
    await page.goto(`${base}/dashboard/#/notifications/${n.notification_uuid}`);
    // A mark on the window: gone if the page reloaded.
    await page.evaluate(() => { window.__noReload = true; });
    await page.locator("#refreshing", { hasText: "Auto-refreshing every 5s" }).waitFor();
    await waitFor("a running move", async () =>
      (await page.locator("table.moves .tone-running").count()) > 0, 30000);
    await page.screenshot({ path: join(shots, "dashboard-recovery-running.png"), fullPage: true });
    // Each refresh is one request: the moves, whose summary carries the status.
    const asked = [];
    const note = (r) => { if (r.url().includes("/v1/")) asked.push(new URL(r.url()).pathname); };
    page.on("request", note);
    await new Promise((r) => setTimeout(r, 5600));
    page.off("request", note);
    assert.ok(asked.length >= 1 && asked.length <= 3, asked.join(" "));
    assert.ok(asked.filter((p) => !p.endsWith("/vmoves")).length <= 1, asked.join(" "));
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
    await page.locator("table.moves[data-complete]").waitFor();
    assert.equal(await page.locator("table.moves tbody tr").count(), moves.length);
    assert.equal(await page.locator(".summary svg.ring").getAttribute("aria-label"),
      "100% of the moves ended");
    // The timeline: one bar per move, all succeeded.
    assert.equal(await page.locator("svg.timeline rect.bar").count(), moves.length);
    assert.equal(await page.locator("svg.timeline rect.bar.tone-succeeded").count(), ok);
    await page.screenshot({ path: join(shots, "dashboard-recovery-done.png"), fullPage: true });

    // The sim failed the first evacuation: that move shows its retry, and is no failure.
    const retried = page.locator("table.moves tbody tr", { hasText: "recovered on attempt 2" });
    assert.equal(await retried.count(), 1);
    assert.equal(await retried.locator(".tag").textContent(), "Succeeded");
    assert.match(await retried.locator("td:last-child").textContent(), /attempt 1 failed/);
    assert.equal(await retried.locator("td.error").count(), 0);
    // The Overview tab: the fields, the payload as sent, and the workflow's steps.
    await page.locator(".tabs a", { hasText: "Overview" }).click();
    await page.locator(".fields pre.payload").waitFor();
    assert.deepEqual(JSON.parse(await page.locator(".fields pre.payload").textContent()),
      { event: "STOPPED", host_status: "NORMAL", cluster_status: "OFFLINE" });
    assert.match(await page.locator(".fields dl").textContent(), /compute1/);
    const details = (await call("GET", `/v1/notifications/${n.notification_uuid}`)).notification
      .recovery_workflow_details;
    const stepsShown = page.locator(".steps > ol > li");
    assert.equal(await stepsShown.count(), details.length);
    assert.ok(details.length >= 3, JSON.stringify(details).slice(0, 300));
    for (let i = 0; i < details.length; i++) {
      assert.equal(await stepsShown.nth(i).locator(".step-name").textContent(), details[i].name);
      assert.equal(await stepsShown.nth(i).locator(".tag").first().textContent(), "Succeeded");
    }
    // The copy button copies the whole id, not the shortened one shown.
    await page.locator("h1 button.copy").click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), n.notification_uuid);
    await page.screenshot({ path: join(shots, "dashboard-notification-overview.png"), fullPage: true });
  });

  await check("leaving a running recovery's page stops its refresh", async () => {
    const n = await hostDown("compute2");
    await page.goto(`${base}/dashboard/#/notifications/${n.notification_uuid}`);
    await page.locator("#refreshing").waitFor();
    await page.evaluate(() => { location.hash = "#/segments"; });
    await page.locator("main h1", { hasText: "Segments" }).waitFor();
    await new Promise((r) => setTimeout(r, 6000));  // past the 5 s refresh
    assert.equal(await page.locator("main h1").textContent(), "Segments");
    assert.equal(await page.locator("#refreshing").count(), 0);
    await waitFor("that recovery's end", async () =>
      (await call("GET", `/v1/notifications/${n.notification_uuid}`)).notification.status === "finished",
    60000);
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
    // Filtered by destination, as the API filters.
    await page.locator("form.filters input[name=dest_host]").fill("compute3");
    await page.locator("form.filters button[type=submit]").click();
    await page.waitForURL(/dest_host=compute3/);
    await page.locator("table.moves tbody tr").first().waitFor();
    const want = (await call("GET", "/v1/vmoves?notifications=50&limit=1000&dest_host=compute3")).vmoves;
    assert.ok(want.length > 0);
    await waitFor("the filtered rows", async () =>
      (await page.locator("table.moves tbody tr").count()) === want.length);
    for (const cell of await page.locator("table.moves tbody td:nth-child(5)").allTextContents()) {
      assert.equal(cell, "compute3");
    }
    // The seed's columns; ids shortened with the whole one copyable; newest start first.
    assert.deepEqual(await page.locator("table.moves thead th").allTextContents(), ["VM Name",
      "Instance ID", "Notification", "Source Host", "Destination Host", "Type", "Status",
      "Start Time", "End Time", "Message"]);
    const first = page.locator("table.moves tbody tr").first();
    const newest = [...want].sort((a, b) => (b.start_time ?? "").localeCompare(a.start_time ?? ""))[0];
    assert.equal(await first.locator("td:nth-child(2) code").getAttribute("title"), newest.instance_uuid);
    assert.equal((await first.locator("td:nth-child(2) code").textContent()).length, 8);
    const starts = await page.locator("table.moves tbody td:nth-child(8) time").evaluateAll(
      (els) => els.map((e) => e.getAttribute("datetime")));
    assert.deepEqual(starts, [...starts].sort().reverse());
    await page.screenshot({ path: join(shots, "dashboard-vmoves.png"), fullPage: true });
  });

  await check("a reader signs in, sees everything and gets no action", async () => {
    const p2 = await context.newPage();
    await p2.goto(`${base}/dashboard/#/notifications`);
    // session storage is per tab: a new tab signs in again
    await p2.locator("#token").fill(reader);
    await p2.locator("form.signin button").click();
    await p2.locator("main h1", { hasText: "Notifications" }).waitFor();
    await p2.locator("main table tbody tr").first().waitFor();
    assert.match(await p2.locator("#who").textContent(), /viewer \(reader\)/);
    // Hosts by name, not UUID.
    assert.ok((await p2.locator("main table tbody td:nth-child(4)").allTextContents())
      .includes("compute1"));
    assert.equal(await p2.locator("form.form").count(), 0);  // no Create notification
    await p2.goto(`${base}/dashboard/#/segments`);
    await p2.locator(".segment h2").first().waitFor();
    assert.equal(await p2.locator("main button:not(.copy)").count(), 0);
    assert.equal(await p2.locator("form.form").count(), 0);
    await p2.close();
  });

  await check("an admin manages segments and hosts; a refusal is a sentence in the form", async () => {
    await page.goto(`${base}/dashboard/#/segments`);
    await page.locator(".segment h2").first().waitFor();
    const create = page.locator("form.form", { hasText: "Create segment" });
    await create.locator("[name=name]").fill("rack-b");
    await create.locator("button[type=submit]").click();
    await page.locator(".segment > h2", { hasText: /^rack-b$/ }).waitFor();
    // The same name again: the API's 409, as its message, next to the form.
    const again = page.locator("form.form", { hasText: "Create segment" });
    await again.locator("[name=name]").fill("rack-b");
    await again.locator("button[type=submit]").click();
    const error = again.locator(".error");
    await waitFor("the refusal", async () => ((await error.textContent()) ?? "").length > 0);
    assert.match(await error.textContent(), /rack-b/);
    assert.equal((await call("GET", "/v1/segments")).segments.filter((x) => x.name === "rack-b").length, 1);
    // A host added through the form, put on maintenance, deleted.
    const card = page.locator(".segment", { hasText: "rack-b" });
    await card.locator("summary", { hasText: "Add a host" }).click();
    const addHost = card.locator("form.form", { hasText: "Add a host" });
    await addHost.locator("[name=name]").fill("compute4");
    await addHost.locator("button[type=submit]").click();
    await waitFor("compute4 in rack-b", async () => {
      const err = await page.locator(".segment", { hasText: "rack-b" })
        .locator("form.form", { hasText: "Add a host" }).locator(".error")
        .textContent().catch(() => "");
      if (err) throw new Error(`adding the host was refused: ${err}`);
      return (await page.locator(".segment", { hasText: "rack-b" })
        .locator("td", { hasText: "compute4" }).count()) > 0;
    });
    const row = () => page.locator(".segment", { hasText: "rack-b" }).locator("tr", { hasText: "compute4" });
    await row().locator("button", { hasText: "Maintenance" }).click();
    await row().locator("button", { hasText: "End maintenance" }).waitFor();
    const segs = (await call("GET", "/v1/segments")).segments;
    const rackB = segs.find((x) => x.name === "rack-b");
    const hosts = (await call("GET", `/v1/segments/${rackB.uuid}/hosts`)).hosts;
    assert.equal(hosts[0].on_maintenance, true);
    // A delete asks once more, in place.
    await row().locator("button", { hasText: "Delete host" }).click();
    await row().locator("button", { hasText: "Confirm: Delete host" }).click();
    await waitFor("the host gone", async () => (await row().count()) === 0);
    // The segment edited: its method changed; a rename to a taken name refused in the form.
    const edit = () => page.locator(".segment", { hasText: "rack-b" })
      .locator("form.form", { hasText: "Edit rack-b" });
    await page.locator(".segment", { hasText: "rack-b" }).locator("summary", { hasText: "Edit segment" }).click();
    await edit().locator("[name=recovery_method]").selectOption("reserved_host");
    await edit().locator("button[type=submit]").click();
    await waitFor("the method changed", async () =>
      (await call("GET", `/v1/segments/${rackB.uuid}`)).segment.recovery_method === "reserved_host");
    await page.locator(".segment", { hasText: "rack-b" }).locator("p.muted", { hasText: "reserved_host" }).waitFor();
    await page.locator(".segment", { hasText: "rack-b" }).locator("summary", { hasText: "Edit segment" }).click();
    await edit().locator("[name=name]").fill(evil);
    await edit().locator("button[type=submit]").click();
    await waitFor("the rename refused", async () =>
      /already exists/.test((await edit().locator(".error").textContent()) ?? ""));
    assert.equal((await call("GET", `/v1/segments/${rackB.uuid}`)).segment.name, "rack-b");
    await page.screenshot({ path: join(shots, "dashboard-segments.png"), fullPage: true });
  });

  await check("a dashboard path that does not exist is a 404; the API is unaffected", async () => {
    const r = await page.goto(`${base}/dashboard/no-such-page.js`);
    assert.equal(r.status(), 404);
    assert.match(await page.locator("body").textContent(), /no file no-such-page\.js/);
    const versions = await fetch(`${base}/`);
    assert.equal(versions.status, 200);
    assert.ok((await versions.json()).versions.length >= 1);
    // An unknown page inside the dashboard says so, with the navigation still there.
    await page.goto(`${base}/dashboard/#/no-such-page`);
    await page.locator("main p.error", { hasText: "No page /no-such-page." }).waitFor();
    assert.equal(await page.locator("#nav a").count(), 4);
  });

  await check("an admin creates a notification from the form (with the seed's warning)", async () => {
    await page.goto(`${base}/dashboard/#/notifications`);
    const form = page.locator("form.form", { hasText: "Create notification" });
    await form.waitFor();
    assert.match(await form.locator(".warning").textContent(), /real recovery/);
    await form.locator("[name=hostname]").fill("no-such-host");
    await form.locator("button[type=submit]").click();
    const error = form.locator(".error");
    await waitFor("the refusal", async () => ((await error.textContent()) ?? "").length > 0);
    assert.match(await error.textContent(), /no-such-host/);
    await form.locator("[name=payload]").fill("{not json");
    await form.locator("[name=hostname]").fill("compute2");
    await form.locator("button[type=submit]").click();
    await waitFor("the JSON refusal", async () => /not JSON/.test((await error.textContent()) ?? ""));
  });

  await check("an admin creates a notification from the page and watches it run", async () => {
    await page.goto(`${base}/dashboard/#/notifications`);
    const form = page.locator("form.form", { hasText: "Create notification" });
    await form.waitFor();
    await form.locator("[name=type]").selectOption("COMPUTE_HOST");
    await form.locator("[name=payload]").fill(JSON.stringify({ event: "STOPPED", host_status: "NORMAL",
      cluster_status: "OFFLINE" }));
    await form.locator("[name=hostname]").fill("compute3");
    await form.locator("button[type=submit]").click();
    await page.waitForURL(/#\/notifications\/[0-9a-f-]{36}/);
    const id = decodeURIComponent(page.url().split("#/notifications/")[1].split("?")[0]);
    const n = (await call("GET", `/v1/notifications/${id}`)).notification;
    assert.equal(n.type, "COMPUTE_HOST");
    // It runs, and the page follows it to its end: compute1 and compute2 are fenced and
    // compute4 left the segment, so nothing has room and every move fails for good.
    const end = await waitFor("its end", async () => {
      const st = (await call("GET", `/v1/notifications/${id}`)).notification.status;
      return ["finished", "error", "failed"].includes(st) && st;
    }, 90000);
    assert.equal(end, "error");
    await waitFor(`"${end}" on the page`, async () =>
      (await page.locator(".summary .tag").first().textContent()) === end, 10000);
    const moves = (await call("GET", `/v1/notifications/${id}/vmoves`)).vmoves;
    assert.ok(moves.length > 0);
    await page.locator("table.moves[data-complete]").waitFor();
    assert.equal(await page.locator("table.moves tbody tr").count(), moves.length);
    // A move that failed for good: its message in red, next to its red status.
    const row = page.locator("table.moves tbody tr").first();
    assert.equal(await row.locator(".tag").textContent(), "Failed");
    const message = row.locator("td.error");
    assert.match(await message.textContent(), /no capacity/);
    const colour = await message.evaluate((e) => getComputedStyle(e).color);
    const [r, g, b] = colour.match(/\d+/g).map(Number);
    assert.ok(r > 150 && g < 100 && b < 100, colour);
    assert.match(await page.locator(".summary .counts").textContent(), new RegExp(`Failed ${moves.length}`));
    assert.equal(await page.locator(".summary button", { hasText: "Retry" }).count(), 1);
    await page.screenshot({ path: join(shots, "dashboard-recovery-failed.png"), fullPage: true });

    // From the list: an admin cancels it (asked once more); it is failed, as the API says.
    await page.goto(`${base}/dashboard/#/notifications?status=error`);
    const listed = page.locator("main table tbody tr", { hasText: id.slice(0, 8) });
    await listed.locator("button", { hasText: "Cancel" }).click();
    await listed.locator("button", { hasText: "Confirm: Cancel" }).click();
    await waitFor("the cancel", async () =>
      (await call("GET", `/v1/notifications/${id}`)).notification.status === "failed");
    assert.match((await call("GET", `/v1/notifications/${id}`)).notification.message, /Cancelled by ops/);
  });

  await check("the overview shows host states, N+1, the last 24 h and recovery timings", async () => {
    await page.goto(`${base}/dashboard/#/`);
    const card = page.locator(".segment-overview").first();
    await card.locator(".hosts li").first().waitFor();
    const o = (await call("GET", "/v1/overview")).overview;
    const mine = o.segments.find((x) => x.uuid === seg.uuid);
    for (const host of mine.hosts) {
      const li = card.locator(".hosts li", { hasText: host.name });
      const want = { up: "up", fenced: "fenced", maintenance: "on maintenance",
                     in_recovery: "in recovery", reserved: "reserved" }[host.state];
      assert.equal(await li.locator(".tag").first().textContent(), want, host.name);
    }
    // compute1 and compute2 were recovered and stay fenced until unfenced.
    assert.equal(mine.hosts.find((x) => x.name === "compute1").state, "fenced");
    // The N+1 check: compute4 is the only one left in service (and not in this segment).
    const box = card.locator(".headroom");
    await waitFor("the N+1 verdict", async () => !/Checking/.test(await box.textContent()), 30000);
    const hr = (await call("GET", `/v1/segments/${seg.uuid}/headroom`)).headroom;
    assert.match(await box.locator(".tag").textContent(), hr.ok ? /^N\+1 ok/ : /^N\+1 short/);
    // The last 24 h, as the API counts them.
    assert.match(await page.locator(".day").textContent(), new RegExp(`finished ${o.last_24h.finished}`));
    // One row per recent recovery, each with its timings.
    const rows = page.locator("table.recent tbody tr");
    assert.equal(await rows.count(), o.recent.length);
    assert.ok(o.recent.length >= 2);
    // A finished one has every timing; the cancelled one (nothing recovered) has none to show.
    assert.match(await rows.filter({ hasText: "finished" }).first().locator("td:nth-child(8)")
      .textContent(), /^\d/);
    assert.equal(await rows.filter({ hasText: "failed" }).first().locator("td:nth-child(7)")
      .textContent(), "—");
    await page.screenshot({ path: join(shots, "dashboard-overview-after.png"), fullPage: true });
  });

  await check("at phone width, in dark mode, without a mouse", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark",
      isMobile: true, hasTouch: true });
    const p3 = await phone.newPage();
    p3.on("pageerror", (e) => consoleErrors.push(String(e)));
    await p3.goto(`${base}/dashboard/`);
    await p3.locator("#token").waitFor();
    // Keyboard only: the token field has the focus; Enter signs in.
    assert.equal(await p3.evaluate(() => document.activeElement?.id), "token");
    await p3.keyboard.type(admin);
    await p3.keyboard.press("Enter");
    await p3.locator("main h1", { hasText: "Overview" }).waitFor();
    // Dark: the page's background is dark.
    const bg = await p3.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, bg);
    // Nothing wider than the phone but the tables, which scroll inside themselves.
    assert.ok(await p3.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
    await p3.screenshot({ path: join(shots, "dashboard-phone-dark-overview.png"), fullPage: true });
    // Tab to the VM Moves link and follow it with Enter.
    await p3.locator(".brand").focus();
    let reached = false;
    for (let i = 0; i < 6 && !reached; i++) {
      await p3.keyboard.press("Tab");
      reached = (await p3.evaluate(() => document.activeElement?.textContent)) === "VM Moves";
    }
    assert.ok(reached, "the nav links are reachable with Tab");
    await p3.keyboard.press("Enter");
    await p3.locator("main h1", { hasText: "VM Moves" }).waitFor();
    await p3.locator("table.moves tbody tr").first().waitFor();
    assert.ok(await p3.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
    await p3.screenshot({ path: join(shots, "dashboard-phone-dark-vmoves.png"), fullPage: true });
    await phone.close();
  });

  await check("no script error and no dialog in the whole run", async () => {
    // (The API's refusals the test provoked are logged by the browser as failed loads.)
    assert.deepEqual(consoleErrors.filter((e) => !e.startsWith("Failed to load resource")), []);
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
