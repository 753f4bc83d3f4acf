// A real browser for the tests: Debian's Chromium, driven by playwright-core, opens the sign-in
// URL the CLI gives it (as BROWSER), types the credentials into the tenant's login page, submits,
// and records what the callback page said (JSON in $TEST_LOGIN_RESULT). Wrong credentials are
// tried first when TEST_LOGIN_WRONG_FIRST is set, to check the page's visible error.
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";

const url = process.argv[2];
const out = process.env.TEST_LOGIN_RESULT;
const record = (result) => out && writeFileSync(out, JSON.stringify(result));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(url);
  let wrongPasswordError = null;
  if (process.env.TEST_LOGIN_WRONG_FIRST) {
    await page.fill("#username", process.env.TEST_LOGIN_USERNAME ?? "");
    await page.fill("#password", "definitely-wrong");
    await page.click("#signin");
    wrongPasswordError = await page.textContent("#error", { timeout: 10000 });
  }
  await page.fill("#username", process.env.TEST_LOGIN_USERNAME ?? "");
  await page.fill("#password", process.env.TEST_LOGIN_PASSWORD ?? "");
  await page.click("#signin");
  await page.waitForSelector("#result", { timeout: 15000 });
  record({ heading: await page.textContent("#result"), message: await page.textContent("#message"), url: page.url(), wrongPasswordError });
} catch (e) {
  record({ error: String(e) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
