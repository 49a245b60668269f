// The dashboard's Keystone sign-in in a real browser, against a `warden server` with
// `auth_strategy = keystone` that tests/keystone_auth_test.py started with a real Keystone.
//
// Usage: node tests/browser/keystone_signin.mjs BASE_URL USER PASSWORD PROJECT SCREENSHOT_DIR
// Prints PASS/FAIL lines; exits non-zero on a failure.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const [base, user, password, project] = process.argv.slice(2, 6);
const shots = resolve(process.argv[6] ?? "build/screenshots");
mkdirSync(shots, { recursive: true });

let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack ?? e}`);
  }
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  await check("the sign-in offers a user name, password and project, and a token", async () => {
    await page.goto(`${base}/dashboard/`);
    await page.locator("form.password #username").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "username");
    assert.equal(await page.locator("#token").count(), 1);
    await page.screenshot({ path: join(shots, "dashboard-keystone-signin.png") });
  });

  await check("a wrong password is refused in the form, with Keystone's reason", async () => {
    await page.locator("#username").fill(user);
    await page.locator("#password").fill(password + "-wrong");
    await page.locator("#project").fill(project);
    await page.locator("form.password button[type=submit]").click();
    const error = page.locator("form.password p.error");
    await page.waitForFunction(() => document.querySelector("form.password p.error")?.textContent);
    assert.match(await error.textContent(), /refused the user name, password or project/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("warden.token")), null);
  });

  await check("the right password signs in with the user's own Keystone token", async () => {
    await page.locator("#password").fill(password);
    await page.locator("form.password button[type=submit]").click();
    await page.locator("main h1", { hasText: "Overview" }).waitFor();
    assert.match(await page.locator("#who").textContent(), new RegExp(`^${user} \\(`));
    const token = await page.evaluate(() => sessionStorage.getItem("warden.token"));
    assert.ok(token && token.length > 20);
  });

  await check("signing out returns to the sign-in", async () => {
    await page.locator("#signout").click();
    await page.locator("form.password #username").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("warden.token")), null);
    assert.deepEqual(errors, []);
  });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
