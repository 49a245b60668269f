// Measures the dashboard in Debian's chromium against a filled `warden server` (noauth): run by
// bench/dashboard/run.py, which prints the table. Prints one JSON object on stdout.
//
// Usage: node bench/dashboard/measure.mjs BASE_URL RUNNING_NOTIFICATION_ID [REPEAT]
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

// playwright-core is pinned in tests/browser (scripts/install-deps installs it there).
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "tests", "browser", "package.json"));
const { chromium } = require("playwright-core");

const [base, nid, repeatArg] = process.argv.slice(2);
const repeat = Number(repeatArg ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function metric(name, labels = "") {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const out = { pages: {}, refresh: {} };
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.addInitScript(() => {
    window.__longest = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
    }).observe({ type: "longtask", buffered: true });
  });
  await page.goto(`${base}/dashboard/#/segments`);
  await page.locator("main h1", { hasText: "Segments" }).waitFor();

  // Each page: from setting its address (a click on a link) to the frame after it is drawn.
  const pages = {
    "Overview": "#/",
    "Notifications (10,000 stored)": "#/notifications",
    "Recovery Progress, 1,000 moves": `#/notifications/${nid}?tab=progress`,
    "Notification Overview tab": `#/notifications/${nid}?tab=overview`,
    "VM Moves (last 50 notifications)": "#/vmoves",
    "Segments": "#/segments",
  };
  for (const [name, hash] of Object.entries(pages)) {
    const drawn = [];
    const total = [];
    const complete = [];
    const longest = [];
    for (let i = 0; i < repeat; i++) {
      // Away first, so that each visit draws the page anew.
      await page.evaluate(() => { location.hash = "#/nowhere"; });
      await page.locator("main p.error").waitFor();
      const r = await page.evaluate(async (h) => {
        performance.clearMeasures();
        window.__longest = 0;
        const t0 = performance.now();
        location.hash = h;
        let m;
        for (;;) {
          m = performance.getEntriesByName("warden:drawn");
          if (m.length) break;
          await new Promise((res) => setTimeout(res, 5));
        }
        // Big tables draw their first rows at once and the rest a frame apart: until the last.
        for (;;) {
          const t = document.querySelector("table.moves");
          if (!t || t.dataset.complete !== undefined) {
            if (t && t.tBodies[0].rows.length !== Number(t.dataset.rows)) {
              throw new Error(`${h}: ${t.tBodies[0].rows.length} rows of ${t.dataset.rows}`);
            }
            break;
          }
          await new Promise((res) => setTimeout(res, 5));
        }
        return { drawn: m[0].duration, total: m[0].startTime + m[0].duration - t0,
                 complete: performance.now() - t0, longest: window.__longest };
      }, hash);
      drawn.push(r.drawn);
      total.push(r.total);
      complete.push(r.complete);
      longest.push(r.longest);
    }
    out.pages[name] = { drawn_median: median(drawn), drawn_max: Math.max(...drawn),
                        total_median: median(total), total_max: Math.max(...total),
                        complete_median: median(complete), longest_task: Math.max(...longest) };
  }

  // Where the heaviest page's time goes: script, style, layout, paint (Chrome's trace).
  if (process.env.WARDEN_TRACE) {
    await page.evaluate(() => { location.hash = "#/nowhere"; });
    await browser.startTracing(page, { categories: ["devtools.timeline"] });
    await page.evaluate(async () => {
      performance.clearMeasures();
      location.hash = "#/vmoves";
      while (!performance.getEntriesByName("warden:drawn").length) {
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    const trace = JSON.parse((await browser.stopTracing()).toString());
    const sums = {};
    for (const e of trace.traceEvents) {
      if (e.ph !== "X" || !e.dur) continue;
      if (["Layout", "UpdateLayoutTree", "Paint", "FunctionCall", "EvaluateScript", "ParseHTML",
           "RunMicrotasks", "TimerFire", "FireAnimationFrame", "Commit", "PrePaint", "Layerize"]
        .includes(e.name)) sums[e.name] = (sums[e.name] ?? 0) + e.dur / 1000;
    }
    out.trace = sums;
  }

  // The running recovery's refresh: three cycles on the Recovery Progress tab.
  await page.evaluate((h) => { location.hash = h; }, `#/notifications/${nid}?tab=progress`);
  await page.locator("#refreshing").waitFor();
  await page.evaluate(() => { performance.clearMeasures(); window.__longest = 0; });
  const hits0 = await metric("warden_api_response_cache_total", '{result="hit"}');
  const misses0 = await metric("warden_api_response_cache_total", '{result="miss"}');
  const commits0 = await metric("warden_store_commits_total");
  await new Promise((r) => setTimeout(r, 15500));
  const refresh = await page.evaluate(() => ({
    drawn: performance.getEntriesByName("warden:drawn").map((m) => m.duration),
    longest: window.__longest,
  }));
  out.refresh = {
    refreshes: 3,
    redrawn: refresh.drawn.length,
    drawn_median: refresh.drawn.length ? median(refresh.drawn) : 0,
    drawn_max: refresh.drawn.length ? Math.max(...refresh.drawn) : 0,
    longest_task: refresh.longest,
    // The /metrics reads themselves are not cached GETs under /v1: not counted here.
    cache_hits: (await metric("warden_api_response_cache_total", '{result="hit"}')) - hits0,
    cache_misses: (await metric("warden_api_response_cache_total", '{result="miss"}')) - misses0,
    writes: (await metric("warden_store_commits_total")) - commits0,
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
